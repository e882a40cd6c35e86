"""The per-frame colour traces of the colour baselines' skin regions, from a stream of frames.

The baselines (GREEN, ICA, CHROM, POS) average each frame's RGB over a skin region
(``evaluation.baseline_region``): the skin rule applied to each frame
(:func:`distraction.masks.skin_pixels`), or one stable region for the clip
(:func:`distraction.masks.stable_skin_region`), which needs every frame before the first
trace. :class:`SkinTraces` takes the frames block by block: the per-frame traces at once,
the statistics of the stable region as it goes, and then, in a second pass over the blocks,
the stable region's traces. Memory is that of a block, whatever the video's length, and
the traces equal those of the functions applied to the whole clip at once.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from distraction.masks import region_traces, skin_pixels, stable_skin_from_statistics

#: Names of the traces in the prepared group, by region (``evaluation.baseline_region``).
TRACE_VARIABLES = {"stable_skin": "skin_rgb_stable", "per_frame_skin": "skin_rgb_per_frame"}
#: Name of the motion baseline's per-frame vertical shifts in the prepared group.
SHIFT_VARIABLE = "vertical_shift"


class SkinTraces:
    """Accumulates the skin statistics of ``(T, H, W, 3)`` RGB blocks (0-255 scale)."""

    def __init__(self) -> None:
        self.frames = 0
        self._counts: NDArray[np.int64] | None = None
        self._total: NDArray[np.float64] | None = None
        self._region: NDArray[np.bool_] | None = None

    def add(self, block: ArrayLike) -> NDArray[np.float64]:
        """Count the block's skin pixels and sum its frames; returns its per-frame-skin
        traces, ``(T, 3)`` (the frame's mean where no pixel is skin)."""
        pixels = np.asarray(block, dtype=np.float64)
        skin = skin_pixels(pixels)
        if self._counts is None:
            self._counts = np.zeros(skin.shape[1:], np.int64)
            self._total = np.zeros(pixels.shape[1:])
        self._counts += skin.sum(axis=0)
        # Frame by frame, as NumPy's mean over the time axis adds, so that the mean is
        # that of the whole clip to the last bit.
        for frame in pixels:
            self._total += frame
        self.frames += len(pixels)
        return region_traces(pixels, skin, empty="frame_mean")

    def stable_region(self) -> NDArray[np.bool_]:
        """The stable skin region of the frames added (:func:`stable_skin_region`)."""
        if self._region is None:
            if self._counts is None or self._total is None:
                raise ValueError("frames: expected at least one frame")
            mean = self._total / self.frames
            self._region = stable_skin_from_statistics(self._counts, self.frames, mean)
        return self._region

    def stable_traces(self, block: ArrayLike) -> NDArray[np.float64]:
        """The stable region's ``(T, 3)`` traces of a block, once every frame was added."""
        return region_traces(block, self.stable_region(), empty="frame_mean")
