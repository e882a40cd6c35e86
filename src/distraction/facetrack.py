"""Where the face is in every frame: detection every few frames, held and smoothed between.

The detector is OpenCV's frontal-face Haar cascade, whose model ships inside the
``opencv-python`` wheel (nothing is downloaded). It runs on every ``detect_every``-th frame;
the box of a detection is held until the next one, a frame whose detection finds no face
keeps the last box and is marked as lost, and the per-frame boxes are then smoothed over
time, so that the crop does not jitter (a jittering crop is motion the network would see).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

__all__ = ["FaceTrack", "detect_faces", "face_detector", "track_faces"]

#: OpenCV's bundled cascade.
CASCADE = "haarcascade_frontalface_default.xml"
#: Detection runs on a copy whose shorter side is this many pixels: smaller for speed on large
#: frames (a face filling a rPPG frame is still tens of pixels there), larger for small frames,
#: whose faces would be below the cascade's window.
DETECTION_SIDE = 240


def face_detector() -> cv2.CascadeClassifier:
    """OpenCV's frontal-face Haar cascade, from the files of the installed wheel."""
    path = Path(cv2.data.haarcascades) / CASCADE
    detector = cv2.CascadeClassifier(str(path))
    if detector.empty():
        raise RuntimeError(f"{path}: OpenCV's face detector could not be loaded")
    return detector


def detect_faces(detector: cv2.CascadeClassifier, frame: NDArray[np.uint8]) -> NDArray[np.float64]:
    """Frontal faces of one RGB frame.

    Returns
    -------
    ndarray, shape (K, 5)
        ``x, y, w, h`` in pixels of the frame and the detector's confidence (the cascade's
        level weight; larger is surer), largest face first.
    """
    height, width = frame.shape[:2]
    scale = DETECTION_SIDE / min(height, width)
    grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    if scale != 1.0:
        method = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        grey = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=method)
    min_side = max(24, min(grey.shape) // 8)
    boxes, _, weights = detector.detectMultiScale3(
        grey,
        scaleFactor=1.1,
        minNeighbors=5,
        minSize=(min_side, min_side),
        outputRejectLevels=True,
    )
    if len(boxes) == 0:
        return np.zeros((0, 5))
    faces = np.column_stack([np.asarray(boxes, float) / scale, np.ravel(weights)])
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


def _smooth(values: NDArray[np.float64], length: int) -> NDArray[np.float64]:
    """Centred moving average along time, the ends padded with their edge values."""
    if length <= 1 or len(values) < 2:
        return values
    half = length // 2
    padded = np.pad(values, ((half, length - 1 - half), (0, 0)), mode="edge")
    kernel = np.ones(length) / length
    return np.column_stack(
        [np.convolve(padded[:, c], kernel, mode="valid") for c in range(values.shape[1])]
    )


def track_faces(
    frames: Iterable[NDArray[np.uint8]],
    *,
    detect_every: int,
    smoothing_frames: int,
    detector: cv2.CascadeClassifier | None = None,
) -> FaceTrack | None:
    """Track the face through a stream of RGB frames.

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
    if detect_every < 1 or smoothing_frames < 1:
        raise ValueError(
            f"detect_every, smoothing_frames: expected >= 1, got {detect_every}, {smoothing_frames}"
        )
    detector = detector or face_detector()
    boxes: list[NDArray[np.float64] | None] = []
    confidence: list[float] = []
    found: list[bool] = []
    current: NDArray[np.float64] | None = None
    current_confidence, current_found = np.nan, False
    for index, frame in enumerate(frames):
        if index % detect_every == 0:
            faces = detect_faces(detector, frame)
            if current is None and len(faces):
                chosen: NDArray[np.float64] | None = faces[0]
            elif current is not None and len(faces):
                overlap = _iou(current, faces[:, :4])
                chosen = faces[int(np.argmax(overlap))] if overlap.max() > 0 else None
            else:
                chosen = None
            if chosen is not None:
                current, current_confidence, current_found = chosen[:4], float(chosen[4]), True
            else:
                current_found = False
        boxes.append(current)
        confidence.append(current_confidence)
        found.append(current_found)
    first = next((i for i, box in enumerate(boxes) if box is not None), None)
    if first is None:
        return None
    for i in range(first):  # frames before the first face: its box, marked as not found
        boxes[i], confidence[i] = boxes[first], confidence[first]
    stacked = np.asarray(boxes, dtype=np.float64)
    return FaceTrack(
        _smooth(stacked, smoothing_frames), np.asarray(confidence), np.asarray(found, dtype=bool)
    )
