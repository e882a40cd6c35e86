"""Where the face is in every frame: feature points followed by optical flow between
detections, the detector re-anchoring them.

The detector is BlazeFace (:mod:`distraction.blazeface`), whose model ships inside this
package and runs on LiteRT: OpenCV 5 wheels no longer ship the Haar cascades. The tracker
(:class:`FaceFollower`) moves the box with the face's feature points frame by frame (a
similarity transform fitted to their optical flow), so the crop follows real motion to a
fraction of a pixel and a still face keeps a still crop because the flow sees no motion;
the detector, every few frames, corrects the flow's slow drift, finds the face again after a
gap, and chooses the face (:data:`FACE_CHOICE`).

OpenCV's frontal-face Haar cascade is kept for the photo renderer only
(:func:`face_detector`, :func:`detect_faces`; its face boxes define the convention the
BlazeFace boxes are mapped to), where the installed OpenCV still has one; without it, those
two functions use BlazeFace.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from distraction.blazeface import BlazeFace

__all__ = [
    "FACE_CHOICE",
    "FaceFollower",
    "FaceTrack",
    "detect_any_orientation",
    "detect_faces",
    "face_detector",
    "interpolated_boxes",
    "similarity_fit",
    "track_faces",
]

#: OpenCV's bundled cascade (OpenCV 4 wheels).
CASCADE = "haarcascade_frontalface_default.xml"
#: The cascade runs on a copy whose shorter side is this many pixels: smaller for speed on
#: large frames, larger for small frames, whose faces would be below the cascade's window.
DETECTION_SIDE = 240
#: A search near a face covers its box widened by this fraction of its side on each side:
#: room for the head's motion between two detections (and, for the cascade, for the larger
#: of its windows on the face, which its grouping averages into the box) ...
NEAR_MARGIN = 0.5
#: ... for faces down to its side over this factor (the cascade's windows on one face span
#: about this factor either way).
NEAR_SIZE_RATIO = 1.4


def face_detector() -> Any:
    """The photo renderer's face detector: OpenCV's frontal-face Haar cascade from the files
    of the installed wheel, or :class:`BlazeFace` where OpenCV ships no cascade (OpenCV 5)."""
    if not hasattr(cv2, "CascadeClassifier") or not hasattr(cv2, "data"):
        return BlazeFace()
    path = Path(cv2.data.haarcascades) / CASCADE
    detector = cv2.CascadeClassifier(str(path))
    if detector.empty():
        raise RuntimeError(f"{path}: OpenCV's face detector could not be loaded")
    return detector


def _grey(frame: NDArray[np.uint8], scale: float) -> NDArray[np.uint8]:
    """The grey copy of an RGB frame the cascade runs on, resized by ``scale``."""
    grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    if scale != 1.0:
        method = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        grey = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=method)
    return grey


def detect_faces(
    detector: Any,
    frame: NDArray[np.uint8],
    *,
    near: NDArray[np.float64] | None = None,
) -> NDArray[np.float64]:
    """Frontal faces of one RGB frame.

    Parameters
    ----------
    detector
        A cascade or a :class:`BlazeFace` from :func:`face_detector`.
    frame
        ``(H, W, 3)`` uint8 RGB frame.
    near
        A face box ``x, y, w, h``: look only around it (:data:`NEAR_MARGIN`; the cascade:
        for faces not much smaller, :data:`NEAR_SIZE_RATIO`). Default: the whole frame (the
        cascade: faces of at least an eighth of the detection image's shorter side).

    Returns
    -------
    ndarray, shape (K, 5)
        ``x, y, w, h`` in pixels of the frame and the detector's confidence (the cascade's
        level weight, BlazeFace's score; larger is surer), largest face first.
    """
    if isinstance(detector, BlazeFace):
        if near is None:
            return detector.detect(frame)
        margin = NEAR_MARGIN * max(float(near[2]), float(near[3]))
        region = (
            math.floor(near[0] - margin),
            math.floor(near[1] - margin),
            math.ceil(near[0] + near[2] + margin),
            math.ceil(near[1] + near[3] + margin),
        )
        return detector.detect(frame, region=region)
    height, width = frame.shape[:2]
    scale = DETECTION_SIDE / min(height, width)
    x0 = y0 = 0
    if near is None:
        grey = _grey(frame, scale)
        min_side = max(24, min(grey.shape) // 8)
    else:
        side = max(float(near[2]), float(near[3]))
        margin = NEAR_MARGIN * side
        x0, y0 = max(0, math.floor(near[0] - margin)), max(0, math.floor(near[1] - margin))
        x1 = min(width, math.ceil(near[0] + near[2] + margin))
        y1 = min(height, math.ceil(near[1] + near[3] + margin))
        grey = _grey(frame[y0:y1, x0:x1], scale)
        min_side = max(24, math.floor(side * scale / NEAR_SIZE_RATIO))
    boxes, _, weights = detector.detectMultiScale3(
        grey,
        scaleFactor=1.1,
        minNeighbors=5,
        minSize=(min_side, min_side),
        outputRejectLevels=True,
    )
    if len(boxes) == 0:
        return np.zeros((0, 5))
    in_frame = np.asarray(boxes, float) / scale + [x0, y0, 0, 0]
    faces = np.column_stack([in_frame, np.ravel(weights)])
    return faces[np.argsort(-faces[:, 2] * faces[:, 3], kind="stable")]


def _iou(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    """Intersection over union of one box ``a`` with each row of ``b`` (x, y, w, h)."""
    x0, y0 = np.maximum(a[0], b[:, 0]), np.maximum(a[1], b[:, 1])
    x1 = np.minimum(a[0] + a[2], b[:, 0] + b[:, 2])
    y1 = np.minimum(a[1] + a[3], b[:, 1] + b[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    return inter / (a[2] * a[3] + b[:, 2] * b[:, 3] - inter)


# --------------------------------------------------------------------------------------
# Tracking: feature points followed by optical flow, re-anchored by the detector
# --------------------------------------------------------------------------------------

#: How the face is chosen when a frame holds several (recorded in the prepared store).
FACE_CHOICE = (
    "the largest face of the first detection that finds one, then the face the tracked "
    "box overlaps most; after a gap, the largest face that is not one of the other faces "
    "seen meanwhile"
)
#: Feature points seeded on the face, at most.
MAX_POINTS = 50
#: Fewer points than this left on the face and the flow is not trusted (the face is lost
#: unless the detector finds it).
MIN_POINTS = 8
#: Points are seeded anew on the current frame once fewer than this fraction of the seeded
#: ones are still followed.
RESEED_FRACTION = 0.5
#: Points are seeded in the central part of the face box (this fraction of its side), away
#: from hair and background, which move differently from the face.
SEED_REGION = 0.7
#: A point whose flow, followed back, misses its start by more than this many pixels is
#: dropped (occlusion, a point that slid along an edge).
FORWARD_BACKWARD_PX = 0.7
#: Points further than this from the fitted motion (pixels, and times the median residual)
#: are left out of the fit.
OUTLIER_PX = 1.0
#: Where the face has too little texture for the flow, the box moves this fraction of the
#: way to each detection (run on every frame then): an average over about 10 frames.
FALLBACK_GAIN = 1.0 - math.exp(-1.0 / 10)
#: A face is lost when this many detections in a row do not find it, or at once when the
#: flow fails too, or when less than half its box is inside the frame.
MISSES_TO_LOSE = 2
#: A face of a whole-frame search overlapping a remembered other face by more than this IoU
#: is that face; one not seen in this many searches in a row is forgotten.
OTHER_FACE_IOU = 0.3
OTHER_FACE_MISSES = 3
#: The flow runs on the frame halved until the face is at most about this many pixels across.
FLOW_FACE_PX = 96
#: Optical flow window and pyramid levels.
FLOW_WINDOW = (15, 15)
FLOW_LEVELS = 3
_FLOW_CRITERIA = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 30, 0.01)


def similarity_fit(
    source: NDArray[np.float64], target: NDArray[np.float64]
) -> tuple[float, float, NDArray[np.float64], NDArray[np.bool_]]:
    """The similarity (scale, rotation, translation) that maps ``source`` points onto
    ``target`` in the least-squares sense (Umeyama's closed form), refitted without the
    points it fits worst.

    Deterministic (no random sampling): points further than :data:`OUTLIER_PX` and three
    times the median residual from the fit are dropped, twice.

    Parameters
    ----------
    source, target
        ``(N, 2)`` matching points, ``N >= 2``.

    Returns
    -------
    tuple
        ``scale``, ``angle`` (radians, counter-clockwise in image axes), ``translation``
        (2,) so that ``target ≈ scale * R(angle) @ source + translation``, and the inlier
        mask of the final fit.
    """
    inliers = np.ones(len(source), dtype=bool)
    for _ in range(3):
        src, dst = source[inliers], target[inliers]
        mean_src, mean_dst = src.mean(axis=0), dst.mean(axis=0)
        a, b = src - mean_src, dst - mean_dst
        # Complex form of the 2-D similarity: dst = z * src, z = scale * exp(i angle).
        za, zb = a[:, 0] + 1j * a[:, 1], b[:, 0] + 1j * b[:, 1]
        denominator = float(np.sum(np.abs(za) ** 2))
        z = complex(np.sum(np.conj(za) * zb) / denominator) if denominator > 0 else 1 + 0j
        scale, angle = abs(z), float(np.angle(z))
        rotation = scale * np.array(
            [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
        )
        translation = mean_dst - rotation @ mean_src
        residual = np.linalg.norm(target - (source @ rotation.T + translation), axis=1)
        limit = max(OUTLIER_PX, 3.0 * float(np.median(residual[inliers])))
        updated = residual <= limit
        if updated.sum() < 2 or (updated == inliers).all():
            break
        inliers = updated
    return scale, angle, translation, inliers


def _centre_side(box: NDArray[np.float64]) -> NDArray[np.float64]:
    """``x, y, w, h`` → ``cx, cy, side``."""
    return np.array([box[0] + box[2] / 2, box[1] + box[3] / 2, max(box[2], box[3])])


def _xywh(centre_side: NDArray[np.float64]) -> NDArray[np.float64]:
    """``cx, cy, side`` → ``x, y, w, h`` (square)."""
    cx, cy, side = centre_side
    return np.array([cx - side / 2, cy - side / 2, side, side])


def _inside_fraction(box: NDArray[np.float64], width: int, height: int) -> float:
    """Fraction of a box ``x, y, w, h`` that lies inside a frame of ``width`` × ``height``."""
    inside = _iou(box, np.array([[0.0, 0.0, width, height]]))[0]
    frame_area, area = float(width * height), float(box[2] * box[3])
    # IoU = I / (A + F - I)  =>  I = IoU (A + F) / (1 + IoU)
    return float(inside * (area + frame_area) / (1 + inside) / area) if area > 0 else 0.0


@dataclass(frozen=True, eq=False)
class FaceTrack:
    """The face of every frame of a video.

    Attributes
    ----------
    boxes
        ``(T, 4)`` face box ``x, y, w, h`` (pixels, square, the cascade's convention).
    confidence
        ``(T,)`` score of the last detection that found the face.
    found
        ``(T,)`` True where the face is followed; False in a gap: before the face is first
        found, and from the detection that first missed a face that was then lost (it left
        the frame, or was hidden) until it is found again. A gap's boxes are the last box
        before it (before the first face: the first box).
    """

    boxes: NDArray[np.float64]
    confidence: NDArray[np.float64]
    found: NDArray[np.bool_]

    def gaps(self) -> list[tuple[int, int]]:
        """``(start, stop)`` frame ranges of the gaps (stop exclusive)."""
        edges = np.flatnonzero(np.diff(np.concatenate([[1], self.found.astype(int), [1]])))
        return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


class FaceFollower:
    """Track the face frame by frame, as the frames are decoded.

    Between detections the box follows feature points on the face: the points of a key
    frame are followed into each frame by pyramidal Lucas-Kanade optical flow (from the key
    frame, not from the frame before, so a still face's errors do not add up), checked
    forward and backward, and a similarity transform (shift, scale, in-plane rotation)
    fitted to them moves the key frame's box. The detector runs on every
    ``detect_every``-th frame and pulls the box toward the face it finds by a fraction
    ``1 - exp(-detect_every / correction_frames)`` of the difference: it corrects the
    flow's slow drift, while its own jitter of a few pixels from one detection to the next
    reaches the box only in that fraction. A still face thus gets a still box because the
    flow sees no motion, and a moving one is followed to a fraction of a pixel.

    When the flow fails (too few points followed) the next detection sets the box; a face
    that is not found by :data:`MISSES_TO_LOSE` detections in a row, or that the flow and a
    detection both lose, or whose box is more than half outside the frame, is lost: a gap
    (:attr:`FaceTrack.found` False) until a detection of the whole frame finds a face again.

    With ``flow_every`` above 1 the flow runs on every ``flow_every``-th frame only (and on
    every detection frame) while the face is followed; the boxes of the frames between
    are interpolated between the flowed frames' boxes (:func:`interpolated_boxes`). The
    flow is most of the tracking's cost; a face moves little in a frame or two.

    Frames go in one at a time (:meth:`add`); a frame's box is final when it is added, or
    with ``flow_every`` above 1 at the next flowed frame (at most :attr:`lag` frames
    later), except that frames before the first face found get its box, so none is ready
    until a face is found. :func:`track_faces` is this, fed a whole video.

    Parameters
    ----------
    detect_every
        Run the detector on every ``detect_every``-th frame (1: every frame).
    correction_frames
        Time constant of the detector's pull on the box, frames (0: the box jumps to each
        detection).
    flow_every
        Run the optical flow on every ``flow_every``-th frame (1: every frame).
    detector
        A detector with ``detect(frame, region=...)`` (default: :class:`BlazeFace`).

    Attributes
    ----------
    detect_every
        As given.
    lag
        Frames after a frame that its box depends on: ``flow_every - 1``.
    """

    def __init__(
        self,
        *,
        detect_every: int,
        correction_frames: float,
        flow_every: int,
        detector: BlazeFace | None = None,
    ) -> None:
        if detect_every < 1 or correction_frames < 0 or flow_every < 1:
            raise ValueError(
                "detect_every >= 1, correction_frames >= 0, flow_every >= 1 expected, "
                f"got {detect_every}, {correction_frames}, {flow_every}"
            )
        self.detect_every = detect_every
        self.flow_every = flow_every
        self.lag = flow_every - 1
        self._gain = (
            1.0 if correction_frames == 0 else 1.0 - math.exp(-detect_every / correction_frames)
        )
        self._detector = detector or BlazeFace()
        self._boxes: list[NDArray[np.float64]] = []
        self._confidence: list[float] = []
        self._found: list[bool] = []
        self._current: NDArray[np.float64] | None = None  # cx, cy, side
        self._score = math.nan
        self._tracking = False  # False: in a gap (or no face yet)
        self._misses = 0
        self._first_miss = 0
        # Faces seen that are not the followed one (box, searches since seen): after a gap,
        # the face is looked for among the others only.
        self._others: list[tuple[NDArray[np.float64], int]] = []
        self._ever_found = False
        # The key frame: its grey image, its points, and the box in its coordinates.
        self._key_grey: NDArray[np.uint8] | None = None
        self._key_points = np.zeros((0, 2), np.float32)
        self._key_box = np.zeros(3)
        self._alive = np.zeros(0, dtype=bool)
        self._last_points = np.zeros((0, 2), np.float32)
        self._seeded = 0
        self._motion = (1.0, 0.0, np.zeros(2))  # key frame -> current frame
        self._flow_scale = 1.0  # of the key frame's flow image
        self._small: tuple[tuple[int, float], NDArray[np.uint8]] | None = None
        self._track: FaceTrack | None = None
        # Frames whose flow was skipped (flow_every > 1): their boxes wait for the next
        # flowed frame's.
        self._pending: list[int] = []

    @property
    def count(self) -> int:
        """Frames added so far."""
        return len(self._found)

    @property
    def ready(self) -> int:
        """Frames, from the first, whose box is final (none while no face was found)."""
        if not self._ever_found:
            return 0
        return self._pending[0] if self._pending else self.count

    # -- flow ----------------------------------------------------------------------------

    def _flow_image(self, grey: NDArray[np.uint8]) -> NDArray[np.uint8]:
        """The frame being added at the key frame's flow scale (built once per frame)."""
        key = (self.count, self._flow_scale)
        if self._small is None or self._small[0] != key:
            image = grey
            if self._flow_scale < 1:
                image = cv2.resize(
                    grey, None, fx=self._flow_scale, fy=self._flow_scale,
                    interpolation=cv2.INTER_AREA,
                )  # fmt: skip
            self._small = (key, image)
        return self._small[1]

    def _seed(self, grey: NDArray[np.uint8]) -> None:
        """New key frame: points on the central part of the current box, on the frame
        halved until the face is at most about :data:`FLOW_FACE_PX` across there (the flow
        costs a quarter for each halving, and a face that size still has the texture)."""
        assert self._current is not None
        halvings = max(0, round(math.log2(max(self._current[2], 1.0) / FLOW_FACE_PX)))
        self._flow_scale = 0.5**halvings
        grey = self._flow_image(grey)
        cx, cy, side = self._current * self._flow_scale
        half = SEED_REGION * side / 2
        height, width = grey.shape
        mask = np.zeros_like(grey)
        x0, y0 = max(0, round(cx - half)), max(0, round(cy - half))
        x1, y1 = min(width, round(cx + half)), min(height, round(cy + half))
        points = None
        if x1 - x0 >= 4 and y1 - y0 >= 4:
            mask[y0:y1, x0:x1] = 255
            points = cv2.goodFeaturesToTrack(
                grey, MAX_POINTS, 0.001, max(1.0, side / 30), mask=mask, blockSize=3
            )
        self._key_grey = grey
        self._key_points = np.zeros((0, 2), np.float32) if points is None else points.reshape(-1, 2)
        self._last_points = self._key_points.copy()
        self._alive = np.ones(len(self._key_points), dtype=bool)
        self._seeded = len(self._key_points)
        self._key_box = self._current.copy()
        self._motion = (1.0, 0.0, np.zeros(2))

    def _flow(self, grey: NDArray[np.uint8]) -> bool:
        """Move the box with the key frame's points into ``grey``; False when too few are
        followed."""
        if self._key_grey is None or self._alive.sum() < MIN_POINTS:
            return False
        grey = self._flow_image(grey)
        key = self._key_points[self._alive]
        guess = self._last_points[self._alive].copy()
        forward, status, _ = cv2.calcOpticalFlowPyrLK(
            self._key_grey, grey, key, guess, winSize=FLOW_WINDOW, maxLevel=FLOW_LEVELS,
            criteria=_FLOW_CRITERIA, flags=cv2.OPTFLOW_USE_INITIAL_FLOW,
        )  # fmt: skip
        back, status_back, _ = cv2.calcOpticalFlowPyrLK(
            grey, self._key_grey, forward, key.copy(), winSize=FLOW_WINDOW,
            maxLevel=FLOW_LEVELS, criteria=_FLOW_CRITERIA, flags=cv2.OPTFLOW_USE_INITIAL_FLOW,
        )  # fmt: skip
        height, width = grey.shape
        good = (
            (status.ravel() == 1)
            & (status_back.ravel() == 1)
            & (np.linalg.norm(back - key, axis=1) <= FORWARD_BACKWARD_PX)
            & (forward[:, 0] >= 0)
            & (forward[:, 1] >= 0)
            & (forward[:, 0] <= width - 1)
            & (forward[:, 1] <= height - 1)
        )
        if good.sum() < MIN_POINTS:
            return False
        scale, angle, shift, inliers = similarity_fit(
            key[good].astype(np.float64), forward[good].astype(np.float64)
        )
        if inliers.sum() < MIN_POINTS:
            return False
        alive = np.flatnonzero(self._alive)
        kept = np.zeros(len(alive), dtype=bool)
        kept[np.flatnonzero(good)[inliers]] = True
        self._alive[alive[~kept]] = False
        self._last_points[alive[kept]] = forward[kept]
        # Fitted on the flow's scale: the same scale and turn, the shift in frame pixels.
        self._motion = (scale, angle, shift / self._flow_scale)
        self._current = self._moved(self._key_box)
        return True

    def _moved(self, key_box: NDArray[np.float64]) -> NDArray[np.float64]:
        """A box of the key frame (``cx, cy, side``) moved into the current frame."""
        scale, angle, shift = self._motion
        c, s = math.cos(angle), math.sin(angle)
        cx, cy = (
            scale * (c * key_box[0] - s * key_box[1]),
            scale * (s * key_box[0] + c * key_box[1]),
        )
        return np.array([cx + shift[0], cy + shift[1], scale * key_box[2]])

    def _correct(self, target: NDArray[np.float64]) -> None:
        """Pull the current box toward ``target`` (``cx, cy, side``) by the gain, in the key
        frame's coordinates too, so that the flow goes on from the corrected box."""
        assert self._current is not None
        corrected = self._current + self._gain * (target - self._current)
        scale, angle, shift = self._motion
        c, s = math.cos(-angle), math.sin(-angle)
        dx, dy = corrected[0] - shift[0], corrected[1] - shift[1]
        self._key_box = np.array(
            [(c * dx - s * dy) / scale, (s * dx + c * dy) / scale, corrected[2] / scale]
        )
        self._current = corrected

    # -- detection -----------------------------------------------------------------------

    def _note_others(self, faces: NDArray[np.float64]) -> None:
        """Remember the faces of a whole-frame search that are not the followed one: each
        replaces the remembered face it overlaps; one not seen for
        :data:`OTHER_FACE_MISSES` searches is forgotten."""
        kept = []
        for box, misses in self._others:
            overlap = _iou(box, faces[:, :4]) if len(faces) else np.zeros(0)
            if len(overlap) and overlap.max() > OTHER_FACE_IOU:
                continue  # seen again: replaced below
            if misses + 1 < OTHER_FACE_MISSES:
                kept.append((box, misses + 1))
        self._others = kept + [(face[:4].copy(), 0) for face in faces]

    def _detect(self, frame: NDArray[np.uint8]) -> NDArray[np.float64] | None:
        """The followed face as one detection finds it (``x, y, w, h, score``), or None:
        near the current box first, then the whole frame (the face overlapping the box
        most); while no face is followed, the largest face of the whole frame (upright or,
        when none is, turned by a quarter or a half turn) that is not one of the other
        faces seen while the face was followed."""
        if self._tracking and self._current is not None:
            box = _xywh(self._current)
            region = search_region(box, frame.shape[1], frame.shape[0])
            searches = [region, None] if region is not None else [None]
            for area in searches:
                faces = self._detector.detect(frame, region=area)
                if len(faces):
                    overlap = _iou(box, faces[:, :4])
                    if overlap.max() > 0:
                        chosen = int(np.argmax(overlap))
                        if area is None:
                            self._note_others(np.delete(faces, chosen, axis=0))
                        return faces[chosen]
                if area is None:
                    self._note_others(faces)
            return None
        faces = detect_any_orientation(self._detector, frame)
        others = [box for box, _ in self._others]
        known = np.array(
            [len(others) > 0 and _iou(face[:4], np.asarray(others)).max() > OTHER_FACE_IOU
             for face in faces],
            dtype=bool,
        )  # fmt: skip
        self._note_others(faces[known])
        candidates = faces[~known]
        if len(candidates) == 0:
            return None
        self._note_others(np.concatenate([faces[known], candidates[1:]]))
        return candidates[0]

    def _lose(self) -> None:
        """The face is lost: a gap from the first detection that missed it."""
        self._tracking = False
        self._key_grey = None
        start = self._first_miss if self._misses else self.count
        for index in range(start, self.count):
            self._found[index] = False

    def add(self, frame: NDArray[np.uint8]) -> None:
        """The next RGB frame of the video."""
        scheduled = self.count % self.detect_every == 0
        if (
            self.flow_every > 1
            and not scheduled
            and self.count % self.flow_every != 0
            and self._tracking
            and self._key_grey is not None
            and self._alive.sum() >= MIN_POINTS
        ):
            # The flow is working: this frame's box is interpolated at the next flowed one.
            self._pending.append(self.count)
            self._boxes.append(np.full(4, np.nan))
            self._confidence.append(self._score)
            self._found.append(True)
            return
        grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        height, width = grey.shape
        flowed = self._tracking and self._flow(grey)
        if self._tracking and _inside_fraction(_xywh(self._current), width, height) < 0.5:
            self._lose()
            flowed = False
        seeded = False
        if scheduled or (self._tracking and not flowed):
            # A face too plain for the flow is detected on every frame: its misses count
            # per frame, as many frames as the misses of a scheduled detection.
            plain = self._tracking and self._seeded < MIN_POINTS
            face = self._detect(frame)
            if face is None:
                if self._tracking:
                    if not flowed and not plain:
                        self._lose()
                    else:
                        self._first_miss = self._first_miss if self._misses else self.count
                        self._misses += 1
                        limit = MISSES_TO_LOSE * (self.detect_every if plain else 1)
                        if self._misses >= limit:
                            self._lose()
            else:
                target = _centre_side(face[:4])
                if self._tracking and flowed:
                    self._correct(target)
                elif plain and self._current is not None:
                    # Too little texture on the face for the flow (a small or plain face):
                    # the detections, run on every frame, averaged.
                    self._current = self._current + FALLBACK_GAIN * (target - self._current)
                else:
                    if not self._ever_found:  # frames before the first face: its box
                        self._boxes = [_xywh(target)] * len(self._boxes)
                        self._confidence = [float(face[4])] * len(self._confidence)
                    self._current = target
                    self._tracking = self._ever_found = True
                self._score = float(face[4])
                self._misses = 0
                if not flowed:
                    self._seed(grey)
                    seeded = True
        few = self._alive.sum() < max(MIN_POINTS, RESEED_FRACTION * self._seeded)
        if self._tracking and few and not seeded:
            self._seed(grey)
        box = _xywh(self._current) if self._current is not None else np.full(4, np.nan)
        self._settle_pending(box)
        self._boxes.append(box)
        self._confidence.append(self._score)
        self._found.append(self._tracking)

    def _settle_pending(self, box: NDArray[np.float64] | None) -> None:
        """The boxes of the frames whose flow was skipped: interpolated between the box
        before them and ``box`` (the next flowed frame's), or held (``box`` None: the end
        of the video)."""
        if not self._pending:
            return
        first, count = self._pending[0], len(self._pending)
        before = self._boxes[first - 1]
        between = interpolated_boxes(before, before if box is None else box, count)
        self._boxes[first : first + count] = list(between)
        self._pending = []

    def box(self, index: int) -> NDArray[np.float64]:
        """The face box ``x, y, w, h`` of frame ``index`` (``< ready``)."""
        return self._boxes[index]

    def finish(self) -> FaceTrack | None:
        """The track of every frame added; None when no frame held a face."""
        if not self._ever_found:
            return None
        self._settle_pending(None)
        if self._track is None or len(self._track.found) != self.count:
            self._track = FaceTrack(
                np.asarray(self._boxes, dtype=np.float64),
                np.asarray(self._confidence, dtype=np.float64),
                np.asarray(self._found, dtype=bool),
            )
        return self._track


def interpolated_boxes(
    before: NDArray[np.float64], after: NDArray[np.float64], count: int
) -> NDArray[np.float64]:
    """The boxes of ``count`` frames between a frame of box ``before`` and one of box
    ``after`` (``x, y, w, h``), each coordinate linear in the frame's place between them.

    Returns
    -------
    ndarray, shape (count, 4)
        Row ``j`` is ``before + (j + 1) / (count + 1) * (after - before)``.
    """
    fraction = np.arange(1, count + 1)[:, None] / (count + 1)
    before, after = np.asarray(before, np.float64), np.asarray(after, np.float64)
    return before + fraction * (after - before)


#: A face whose side is at least this many pixels of BlazeFace's 128-pixel input when the
#: whole frame is given to it is looked for in the whole frame; a smaller one in a region
#: around it (:func:`search_region`).
WHOLE_FRAME_FACE_PX = 24


def search_region(
    box: NDArray[np.float64], width: int, height: int
) -> tuple[int, int, int, int] | None:
    """Where the detector looks for a followed face ``x, y, w, h``: None (the whole frame)
    when the face is large enough there, else a square about three times its side.

    The detector's box depends a little on what it is shown (the scale and the offset of
    its input grid); a region that moved with every box would feed that back into the next
    box, and the track would wander. The region's side is therefore a power of two and its
    corner on a grid of a quarter of it, so that it changes only when the face has moved
    or resized by a good part of itself.
    """
    if box[2] * 128 / max(width, height) >= WHOLE_FRAME_FACE_PX:
        return None
    side = 2 ** math.ceil(math.log2(max(16.0, 3 * float(box[2]))))
    step = side / 4
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    x0 = int(round((cx - side / 2) / step) * step)
    y0 = int(round((cy - side / 2) / step) * step)
    return x0, y0, x0 + int(side), y0 + int(side)


def detect_any_orientation(detector: BlazeFace, frame: NDArray[np.uint8]) -> NDArray[np.float64]:
    """Faces of a whole frame (as :meth:`BlazeFace.detect`), looked for upright first and,
    when none is upright, in the frame turned by a quarter turn either way and by a half
    turn (a phone video whose rotation flag is missing); boxes in the frame's pixels."""
    faces = detector.detect(frame)
    if len(faces):
        return faces
    height, width = frame.shape[:2]
    for turns in (1, 3, 2):
        faces = detector.detect(np.ascontiguousarray(np.rot90(frame, turns)))
        if len(faces) == 0:
            continue
        # np.rot90 turns counter-clockwise: a point (x, y) of the turned frame is, in the
        # frame, (W-1-y, x) for one turn, (y, H-1-x) for three, (W-1-x, H-1-y) for two.
        cx, cy = faces[:, 0] + faces[:, 2] / 2, faces[:, 1] + faces[:, 3] / 2
        if turns == 1:
            cx, cy = width - cy, cx
        elif turns == 3:
            cx, cy = cy, height - cx
        else:
            cx, cy = width - cx, height - cy
        side = faces[:, 2]
        return np.column_stack([cx - side / 2, cy - side / 2, side, side, faces[:, 4]])
    return faces


def track_faces(
    frames: Iterable[NDArray[np.uint8]],
    *,
    detect_every: int,
    correction_frames: float,
    flow_every: int,
    detector: BlazeFace | None = None,
) -> FaceTrack | None:
    """Track the face through a stream of RGB frames (:class:`FaceFollower`).

    Parameters
    ----------
    frames
        The video's frames in order.
    detect_every
        Run the detector on every ``detect_every``-th frame (1: every frame).
    correction_frames
        Time constant of the detector's pull on the flow's box, frames.
    flow_every
        Run the optical flow on every ``flow_every``-th frame (1: every frame).
    detector
        A :class:`BlazeFace` (default: loaded here).

    Returns
    -------
    FaceTrack or None
        ``None`` when no frame holds a face. The face followed: :data:`FACE_CHOICE`.
    """
    follower = FaceFollower(
        detect_every=detect_every,
        correction_frames=correction_frames,
        detector=detector,
        flow_every=flow_every,
    )
    for frame in frames:
        follower.add(frame)
    return follower.finish()
