"""Face detection with BlazeFace (short range) on LiteRT: a detector that needs no OpenCV
cascade (OpenCV 5 wheels ship none).

The model file ``weights/blaze_face_short_range.tflite`` ships inside this package (its
provenance and licence: ``weights/blaze_face_short_range.md``); nothing is downloaded. It
runs on the LiteRT interpreter the networks already use (``ai-edge-litert``), so it adds no
dependency. The decoding follows MediaPipe's face-detection graph for this model: 896
anchors on a 16×16 grid (2 per cell) and an 8×8 grid (6 per cell) of a 128×128 input
letterboxed from the image, sigmoid scores, weighted non-maximum suppression.

Boxes are returned in the convention of OpenCV's frontal-face Haar cascade (the box the
project's crops and its renderer were built around): BlazeFace's own box, which spans brows
to chin, is mapped by a fixed scale and offset (:data:`HAAR_CONVENTION`) fitted on
photographs (``benchmarks/bench_facetrack.py``).
"""

from __future__ import annotations

import math
from importlib import resources
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

__all__ = ["MODEL_FILE", "BlazeFace"]

#: The model file, inside the package's weights folder.
MODEL_FILE = "blaze_face_short_range.tflite"
INPUT_SIDE = 128
#: Detections below this score are dropped (MediaPipe's threshold for this model).
MIN_SCORE = 0.5
#: Detections overlapping a better one by more than this IoU are merged into it.
SUPPRESSION_IOU = 0.3
#: BlazeFace's detection to the cascade's square box: centre at the eyes' midpoint plus
#: ``dx`` times the eyes' distance along the eye line and ``dy`` times it toward the mouth;
#: side ``scale`` times BlazeFace's box width. Anchoring the centre on the eyes agrees with
#: the cascade better than BlazeFace's own box centre does (its spread over faces is half).
#: Medians over frames rendered from photos face_001..face_040 of ``../shared/faces``, the
#: face 0.4 of a 320x240 frame (``benchmarks/bench_facetrack.py --fit``); dx is set to 0,
#: as a face is symmetric (the fit's -0.003 is well within its spread of 0.05).
HAAR_CONVENTION = {"dx": 0.0, "dy": 0.249, "scale": 1.098}


def _anchors() -> NDArray[np.float32]:
    """Anchor centres (896, 2) in [0, 1], in the order of the model's outputs."""
    centres = []
    for grid, per_cell in ((16, 2), (8, 6)):
        for y in range(grid):
            for x in range(grid):
                centres += [((x + 0.5) / grid, (y + 0.5) / grid)] * per_cell
    return np.asarray(centres, dtype=np.float32)


_ANCHORS = _anchors()


def model_path() -> Path:
    """Path of the shipped BlazeFace model file."""
    return Path(str(resources.files("distraction") / "weights" / MODEL_FILE))


def _iou_xyxy(box: NDArray[np.float64], others: NDArray[np.float64]) -> NDArray[np.float64]:
    x0, y0 = np.maximum(box[0], others[:, 0]), np.maximum(box[1], others[:, 1])
    x1, y1 = np.minimum(box[2], others[:, 2]), np.minimum(box[3], others[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-12)


def _weighted_suppression(
    boxes: NDArray[np.float64], scores: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """MediaPipe's weighted NMS: each kept box is the score-weighted mean of the boxes that
    overlap the best remaining one, which steadies it against the anchors' quantisation.
    ``boxes`` are rows ``x0, y0, x1, y1`` and any further coordinates (averaged alike)."""
    order = np.argsort(-scores, kind="stable")
    boxes, scores = boxes[order], scores[order]
    kept_boxes, kept_scores = [], []
    remaining = np.ones(len(boxes), dtype=bool)
    for i in range(len(boxes)):
        if not remaining[i]:
            continue
        overlap = _iou_xyxy(boxes[i], boxes[:, :4]) > SUPPRESSION_IOU
        group = overlap & remaining
        weights = scores[group]
        kept_boxes.append((boxes[group] * weights[:, None]).sum(axis=0) / weights.sum())
        kept_scores.append(scores[i])
        remaining &= ~group
    return np.asarray(kept_boxes).reshape(-1, boxes.shape[1]), np.asarray(kept_scores)


class BlazeFace:
    """The shipped BlazeFace short-range detector.

    Parameters
    ----------
    threads
        LiteRT interpreter threads (1: the detector runs beside decoding threads).
    min_score
        Detections below this score are dropped.
    """

    def __init__(self, *, threads: int = 1, min_score: float = MIN_SCORE) -> None:
        from ai_edge_litert.interpreter import Interpreter

        path = model_path()
        if not path.is_file():
            raise RuntimeError(f"{path}: the face detector's model is missing from the package")
        self._interpreter = Interpreter(model_path=str(path), num_threads=threads)
        self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]["index"]
        outputs = {d["name"]: d["index"] for d in self._interpreter.get_output_details()}
        self._regressors, self._scores = outputs["regressors"], outputs["classificators"]
        self.min_score = min_score

    def detect(
        self, frame: NDArray[np.uint8], *, region: tuple[int, int, int, int] | None = None
    ) -> NDArray[np.float64]:
        """Faces of an RGB frame (or of a region of it), as the cascade's boxes.

        Parameters
        ----------
        frame
            ``(H, W, 3)`` uint8 RGB.
        region
            ``x0, y0, x1, y1`` pixels: look only there (clipped to the frame). A face must
            fill a good part of what the detector sees (this is the short-range model), so
            a small face is found by a region around it.

        Returns
        -------
        ndarray, shape (K, 5)
            ``x, y, w, h`` (pixels of the frame, the cascade's convention:
            :data:`HAAR_CONVENTION`) and the score in [0, 1], largest face first.
        """
        raw = self.detect_raw(frame, region=region)
        faces = np.column_stack([_haar_convention(raw[:, :4], raw[:, 4:8]), raw[:, 8]])
        return faces[np.argsort(-faces[:, 2] * faces[:, 3], kind="stable")]

    def detect_raw(
        self, frame: NDArray[np.uint8], *, region: tuple[int, int, int, int] | None = None
    ) -> NDArray[np.float64]:
        """BlazeFace's own detections, as :meth:`detect` finds them: ``(K, 9)`` rows of its
        box ``x0, y0, x1, y1``, the person's right and left eye ``x, y`` (pixels of the
        frame) and the score."""
        height, width = frame.shape[:2]
        x0, y0, x1, y1 = (0, 0, width, height) if region is None else region
        x0, y0 = max(0, int(x0)), max(0, int(y0))
        x1, y1 = min(width, int(x1)), min(height, int(y1))
        if x1 - x0 < 8 or y1 - y0 < 8:
            return np.zeros((0, 9))
        image = frame[y0:y1, x0:x1]
        # Letterbox: the longer side to 128 px, centred, zero padding (as MediaPipe).
        side = max(x1 - x0, y1 - y0)
        scale = INPUT_SIDE / side
        new_w, new_h = max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale))
        method = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        resized = cv2.resize(image, (new_w, new_h), interpolation=method)
        pad_x, pad_y = (INPUT_SIDE - new_w) / 2, (INPUT_SIDE - new_h) / 2
        tensor = np.zeros((1, INPUT_SIDE, INPUT_SIDE, 3), np.float32)
        ix, iy = math.floor(pad_x), math.floor(pad_y)
        tensor[0, iy : iy + new_h, ix : ix + new_w] = resized.astype(np.float32) / 127.5 - 1.0
        self._interpreter.set_tensor(self._input, tensor)
        self._interpreter.invoke()
        raw = self._interpreter.get_tensor(self._regressors)[0]
        logits = self._interpreter.get_tensor(self._scores)[0, :, 0]
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits.astype(np.float64), -100, 100)))
        keep = scores >= self.min_score
        if not keep.any():
            return np.zeros((0, 9))
        raw, scores, anchors = raw[keep].astype(np.float64), scores[keep], _ANCHORS[keep]
        cx = raw[:, 0] / INPUT_SIDE + anchors[:, 0]
        cy = raw[:, 1] / INPUT_SIDE + anchors[:, 1]
        w, h = raw[:, 2] / INPUT_SIDE, raw[:, 3] / INPUT_SIDE
        # The eyes (keypoints 0 and 1: the person's right, then left eye), for the face's roll.
        eyes = raw[:, 4:8] / INPUT_SIDE + np.tile(anchors, 2)
        boxes = np.column_stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, eyes])
        boxes, scores = _weighted_suppression(boxes, scores)
        # Input units [0, 1] -> pixels of the frame.
        boxes = boxes * INPUT_SIDE
        boxes[:, 0::2] = (boxes[:, 0::2] - ix) / scale + x0
        boxes[:, 1::2] = (boxes[:, 1::2] - iy) / scale + y0
        return np.column_stack([boxes, scores])


def _haar_convention(xyxy: NDArray[np.float64], eyes: NDArray[np.float64]) -> NDArray[np.float64]:
    """BlazeFace boxes (x0, y0, x1, y1) and eyes (right x, y, left x, y) as the cascade's
    square ``x, y, w, h`` (:data:`HAAR_CONVENTION`); the offset is along the face's own axes,
    so a face on its side is handled alike."""
    w = xyxy[:, 2] - xyxy[:, 0]
    across = eyes[:, 2:4] - eyes[:, 0:2]  # the person's right eye to the left: image +x
    down = np.column_stack([-across[:, 1], across[:, 0]])  # unit-free: scaled by distance
    middle = (eyes[:, 0:2] + eyes[:, 2:4]) / 2
    centre = middle + HAAR_CONVENTION["dx"] * across + HAAR_CONVENTION["dy"] * down
    side = HAAR_CONVENTION["scale"] * w
    return np.column_stack([centre[:, 0] - side / 2, centre[:, 1] - side / 2, side, side])
