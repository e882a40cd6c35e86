"""Where the face is in every frame: detection every few frames, held and smoothed between.

The detector is OpenCV's frontal-face Haar cascade, whose model ships inside the
``opencv-python`` wheel (nothing is downloaded). It runs on every ``detect_every``-th frame;
the box of a detection is held until the next one, a frame whose detection finds no face
keeps the last box and is marked as lost, and the per-frame boxes are then smoothed over
time, so that the crop does not jitter (a jittering crop is motion the network would see).

Once a face is found, each detection first looks for it near its last box only (around it,
at about its size), which costs a fraction of a search of the whole frame; only when that
finds no face overlapping the last box is the whole frame searched, as for the first face.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

__all__ = ["FaceFollower", "FaceTrack", "detect_faces", "face_detector", "track_faces"]

#: OpenCV's bundled cascade.
CASCADE = "haarcascade_frontalface_default.xml"
#: Detection runs on a copy whose shorter side is this many pixels: smaller for speed on large
#: frames (a face filling a rPPG frame is still tens of pixels there), larger for small frames,
#: whose faces would be below the cascade's window.
DETECTION_SIDE = 240
#: A search near a face covers its box widened by this fraction of its side on each side:
#: room for the head's motion between two detections and for the larger of the cascade's
#: windows on the face, which its grouping averages into the box ...
NEAR_MARGIN = 0.5
#: ... for faces down to its side over this factor (the region bounds the largest). The
#: windows the cascade finds on one face span about this factor either way; a range that
#: cut some off would bias the box toward the last one's size, and the track would drift.
NEAR_SIZE_RATIO = 1.4


def face_detector() -> cv2.CascadeClassifier:
    """OpenCV's frontal-face Haar cascade, from the files of the installed wheel."""
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
    detector: cv2.CascadeClassifier,
    frame: NDArray[np.uint8],
    *,
    near: NDArray[np.float64] | None = None,
) -> NDArray[np.float64]:
    """Frontal faces of one RGB frame.

    Parameters
    ----------
    detector
        A cascade from :func:`face_detector`.
    frame
        ``(H, W, 3)`` uint8 RGB frame.
    near
        A face box ``x, y, w, h``: look only around it (:data:`NEAR_MARGIN`) for faces not
        much smaller (:data:`NEAR_SIZE_RATIO`). Default: the whole frame, for faces of at
        least an eighth of the detection image's shorter side.

    Returns
    -------
    ndarray, shape (K, 5)
        ``x, y, w, h`` in pixels of the frame and the detector's confidence (the cascade's
        level weight; larger is surer), largest face first.
    """
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


@dataclass(frozen=True, eq=False)
class FaceTrack:
    """The face of every frame of a video.

    Attributes
    ----------
    boxes
        ``(T, 4)`` face box ``x, y, w, h`` (pixels), smoothed over time.
    confidence
        ``(T,)`` confidence of the detection each box comes from.
    found
        ``(T,)`` True where the box comes from a detection that found the face; False where
        the last detection found none and the box was kept from before (or, before the first
        detection that found the face, taken from it).
    """

    boxes: NDArray[np.float64]
    confidence: NDArray[np.float64]
    found: NDArray[np.bool_]


def _most_overlapping(
    box: NDArray[np.float64], faces: NDArray[np.float64]
) -> NDArray[np.float64] | None:
    """The face (row of :func:`detect_faces`) that overlaps ``box`` most; None if none does."""
    if len(faces) == 0:
        return None
    overlap = _iou(box, faces[:, :4])
    return faces[int(np.argmax(overlap))] if overlap.max() > 0 else None


def _follow(
    detector: cv2.CascadeClassifier, frame: NDArray[np.uint8], current: NDArray[np.float64] | None
) -> NDArray[np.float64] | None:
    """The face one detection finds: the largest while none was found yet, then the one that
    overlaps the current box most, looked for near that box first; None when not found."""
    if current is not None:
        chosen = _most_overlapping(current, detect_faces(detector, frame, near=current))
        if chosen is not None:
            return chosen
    faces = detect_faces(detector, frame)
    if current is None:
        return faces[0] if len(faces) else None
    return _most_overlapping(current, faces)


class FaceFollower:
    """Track the face frame by frame, as the frames are decoded.

    Frames go in one at a time (:meth:`add`); the detector runs on every
    ``detect_every``-th. The box of a frame is the centred moving average, over
    ``smoothing_frames`` frames, of the held detections (the ends padded with their edge
    values), so it is final once the ``lag`` frames after it are in: :attr:`ready` says
    how many frames are. Frames before the first face found get its box, so none is ready
    until a face is found. :func:`track_faces` is this, fed a whole video at once.

    Parameters
    ----------
    detect_every
        Run the detector on every ``detect_every``-th frame (1: every frame).
    smoothing_frames
        Length of the centred moving average of the boxes over time (1: none).
    detector
        A cascade from :func:`face_detector` (default: loaded here).

    Attributes
    ----------
    detect_every
        As given.
    lag
        Frames after a frame that its box depends on (half the smoothing length).
    """

    def __init__(
        self,
        *,
        detect_every: int,
        smoothing_frames: int,
        detector: cv2.CascadeClassifier | None = None,
    ) -> None:
        if detect_every < 1 or smoothing_frames < 1:
            raise ValueError(
                "detect_every, smoothing_frames: expected >= 1, "
                f"got {detect_every}, {smoothing_frames}"
            )
        self.detect_every = detect_every
        self._before = smoothing_frames // 2
        self.lag = smoothing_frames - 1 - self._before
        self._detector = detector or face_detector()
        self._held: list[NDArray[np.float64] | None] = []
        self._confidence: list[float] = []
        self._found: list[bool] = []
        self._current: NDArray[np.float64] | None = None
        self._current_confidence = np.nan
        self._smoothed: list[NDArray[np.float64]] = []
        self._track: FaceTrack | None = None

    @property
    def count(self) -> int:
        """Frames added so far."""
        return len(self._found)

    @property
    def ready(self) -> int:
        """Frames, from the first, whose box is final (none while no face was found)."""
        return 0 if self._current is None else max(0, self.count - self.lag)

    def add(self, frame: NDArray[np.uint8]) -> None:
        """The next RGB frame of the video."""
        if self.count % self.detect_every == 0:
            chosen = _follow(self._detector, frame, self._current)
            if chosen is not None:
                if self._current is None:  # frames before the first face: its box
                    self._held = [chosen[:4]] * len(self._held)
                    self._confidence = [float(chosen[4])] * len(self._confidence)
                self._current, self._current_confidence = chosen[:4], float(chosen[4])
            found = chosen is not None
        else:
            found = self._found[-1]
        self._held.append(self._current)
        self._confidence.append(self._current_confidence)
        self._found.append(found)

    def box(self, index: int) -> NDArray[np.float64]:
        """The smoothed face box ``x, y, w, h`` of frame ``index`` (``< ready``; any frame
        once :meth:`finish` has padded the end)."""
        if index < len(self._smoothed):
            return self._smoothed[index]
        start, stop = index - self._before, index + self.lag + 1
        window = self._held[max(start, 0) : stop]
        # The ends padded with their edge values.
        window = [window[0]] * max(-start, 0) + window + [window[-1]] * max(stop - self.count, 0)
        value = np.mean(window, axis=0)
        if index == len(self._smoothed) and index < self.ready:
            self._smoothed.append(value)
        return value

    def finish(self) -> FaceTrack | None:
        """The track of every frame added, once all are in (the boxes of the last ``lag``
        frames padded with the last held box); None when no frame held a face."""
        if self._current is None:
            return None
        if self._track is None or len(self._track.found) != self.count:
            boxes = np.asarray([self.box(i) for i in range(self.count)], dtype=np.float64)
            confidence, found = np.asarray(self._confidence), np.asarray(self._found, dtype=bool)
            self._track = FaceTrack(boxes, confidence, found)
        return self._track


def track_faces(
    frames: Iterable[NDArray[np.uint8]],
    *,
    detect_every: int,
    smoothing_frames: int,
    detector: cv2.CascadeClassifier | None = None,
) -> FaceTrack | None:
    """Track the face through a stream of RGB frames (:class:`FaceFollower`).

    Parameters
    ----------
    frames
        The video's frames in order.
    detect_every
        Run the detector on every ``detect_every``-th frame (1: every frame).
    smoothing_frames
        Length of the centred moving average of the boxes over time (1: none).
    detector
        A cascade from :func:`face_detector` (default: loaded here).

    Returns
    -------
    FaceTrack or None
        ``None`` when no frame holds a face. The face followed is the largest of the first
        detection, then at each detection the face that overlaps the last box most (a face
        that does not overlap it at all counts as not found).
    """
    follower = FaceFollower(
        detect_every=detect_every, smoothing_frames=smoothing_frames, detector=detector
    )
    for frame in frames:
        follower.add(frame)
    return follower.finish()
