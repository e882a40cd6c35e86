"""Recordings stored as a folder of still images, one file per frame."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import numpy as np

from distraction.datasets.base import BaseLoader, Recording, input_error
from distraction.datasets.decoding import read_image_rgb

__all__ = ["FrameFolderLoader"]


class FrameFolderLoader(BaseLoader):
    """Recordings stored as a folder of still images."""

    NOMINAL_FPS: ClassVar[float] = 30.0

    def _frames(self, rec: Recording) -> list[tuple[float, Path]]:
        """``(timestamp_s, file)`` per frame in time order."""
        raise NotImplementedError

    def frame_rate(self, rec: Recording) -> float:
        """Nominal frame rate (the ``fps`` option, else the dataset's documented one)."""
        return self.fps if self.fps is not None else self.NOMINAL_FPS

    def frame_count(self, rec: Recording) -> int:
        """Number of frame images."""
        return len(self._frames(rec))

    def iter_frames(self, rec: Recording, start: int = 0) -> Iterator[tuple[float, np.ndarray]]:
        """Stream ``(timestamp, RGB frame)`` pairs from frame ``start`` on, one image read
        at a time."""
        frames = self._frames(rec)
        if not frames:
            raise input_error(rec.source, "no frame images")
        for timestamp, path in frames[start:]:
            yield timestamp, read_image_rgb(path)

    def random_access(self, rec: Recording) -> bool:
        """Always: every frame is its own file."""
        return True
