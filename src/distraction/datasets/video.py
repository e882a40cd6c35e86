"""Recordings stored as one video file: frame rate, count, random access and frames.

Frame times of a video are the container's (``CAP_PROP_POS_MSEC`` per frame), snapped to
``index / fps`` when they lie on that grid (every constant-rate file), so a variable frame
rate shows in the timestamps (:func:`distraction.validation.timestamp_problems`). An AVI
that declares no frame rate (FFmpeg then assumes 25 fps) is refused unless the loader's
``fps`` option gives it.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from distraction.datasets.base import BaseLoader, Recording, input_error
from distraction.datasets.decoding import rgb

__all__ = ["VideoLoader", "frame_time", "iter_video"]


def _avi_declared_rate(path: Path) -> float | None:
    """The frame rate an AVI's headers declare: 0.0 when none, None when not an AVI.

    FFmpeg replaces a missing rate (``dwRate``/``dwScale`` of the video stream and
    ``dwMicroSecPerFrame`` all zero) by 25 fps without a word; this reads the headers.
    """
    try:
        with open(path, "rb") as handle:
            head = handle.read(1 << 16)
    except OSError:
        return None
    if head[:4] != b"RIFF" or head[8:12] != b"AVI ":
        return None
    avih = head.find(b"avih")
    period = struct.unpack("<I", head[avih + 8 : avih + 12])[0] if avih >= 0 else 0
    at = 0
    while (at := head.find(b"strh", at)) >= 0 and at + 36 <= len(head):
        if head[at + 8 : at + 12] == b"vids":
            scale, rate = struct.unpack("<II", head[at + 28 : at + 36])
            if scale and rate:
                return rate / scale
            break
        at += 4
    return 1e6 / period if period else 0.0


def _open_video(path: Path) -> cv2.VideoCapture:
    if not path.is_file():
        raise input_error(path, "video file not found")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        cap.release()
        raise input_error(path, "cannot open video")
    return cap


def _video_frame_rate(path: Path) -> float:
    cap = _open_video(path)
    try:
        fps = float(cap.get(cv2.CAP_PROP_FPS))
    finally:
        cap.release()
    if not math.isfinite(fps) or fps <= 0 or _avi_declared_rate(path) == 0.0:
        raise input_error(
            path,
            "video container declares no frame rate (FFmpeg would assume 25 fps); "
            "give the dataset's frame rate (loader option fps)",
        )
    return fps


def _video_frame_count(path: Path) -> int:
    cap = _open_video(path)
    try:
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        if count <= 0:
            # Some containers carry no frame count: count by demuxing.
            count = 0
            while cap.grab():
                count += 1
    finally:
        cap.release()
    if count <= 0:
        raise input_error(path, "video has no frames")
    return count


# Codecs whose every frame is a key frame (FourCC as OpenCV reports it): a seek lands on
# the exact frame, so separate readers can decode parts of the video in parallel.
_INTRA_ONLY_FOURCCS = frozenset(
    {"MJPG", "mjpg", "AVRN", "MJPA", "jpeg", "png ", "MPNG", "FFV1", "HFYU", "FFVH",
     "I420", "IYUV", "YV12", "YUY2", "UYVY", "Y800", "GREY", "RGB ", "BGR ", "rawv"}
)  # fmt: skip


def _video_random_access(path: Path) -> bool:
    cap = _open_video(path)
    try:
        code = int(cap.get(cv2.CAP_PROP_FOURCC))
    finally:
        cap.release()
    fourcc = "".join(chr((code >> (8 * i)) & 0xFF) for i in range(4))
    return fourcc in _INTRA_ONLY_FOURCCS


# Container times this close to ``index / fps`` are that (MKV keeps whole milliseconds).
_GRID_TOLERANCE_S = 0.001


def frame_time(cap: cv2.VideoCapture, index: int, fps: float, container_times: bool) -> float:
    """The frame's container time, or ``index / fps`` when it lies on that grid (or the
    container has none): constant-rate files keep exact nominal times, a variable frame
    rate shows in the times."""
    nominal = index / fps
    if not container_times:
        return nominal
    container = float(cap.get(cv2.CAP_PROP_POS_MSEC)) / 1000.0
    if not math.isfinite(container) or (index > 0 and container <= 0):
        return nominal
    return nominal if abs(container - nominal) <= _GRID_TOLERANCE_S else container


def iter_video(
    path: Path, fps: float, start: int = 0, *, container_times: bool = True
) -> Iterator[tuple[float, np.ndarray]]:
    cap = _open_video(path)
    try:
        if start > 0 and not cap.set(cv2.CAP_PROP_POS_FRAMES, start):
            raise input_error(path, f"cannot seek to frame {start}")
        index = start
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            if start > 0 and index == start:
                # Never silently misnumber frames: read such a video with one thread.
                landed = int(cap.get(cv2.CAP_PROP_POS_FRAMES)) - 1
                if landed != start:
                    raise input_error(path, f"seeking to frame {start} landed on frame {landed}")
            yield frame_time(cap, index, fps, container_times), rgb(bgr, path)
            index += 1
        if index == 0:
            raise input_error(path, "cannot decode any frame")
    finally:
        cap.release()


class VideoLoader(BaseLoader):
    """Recordings stored as one video file; timestamps are the container's (``index / fps``
    for a constant rate)."""

    def frame_rate(self, rec: Recording) -> float:
        """Nominal frame rate: the ``fps`` option, else the container's."""
        return self.fps if self.fps is not None else _video_frame_rate(rec.source)

    def frame_count(self, rec: Recording) -> int:
        """Number of frames the container announces (counted when it announces none)."""
        return _video_frame_count(rec.source)

    def iter_frames(self, rec: Recording, start: int = 0) -> Iterator[tuple[float, np.ndarray]]:
        """Stream ``(timestamp, RGB frame)`` pairs from frame ``start`` on (the container's
        time; ``index / fps`` when it lies on that grid, or always with the ``fps`` option,
        which overrides the container's clock)."""
        return iter_video(rec.source, self.frame_rate(rec), start, container_times=self.fps is None)

    def random_access(self, rec: Recording) -> bool:
        """Whether ``iter_frames(rec, start)`` starts exactly at ``start`` cheaply
        (intra-only codecs such as MJPEG or raw video)."""
        return _video_random_access(rec.source)
