"""Pure functions that turn decoded frames into the CAN's inputs."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np
import numpy.typing as npt

# Guard against 0/0 in fully black pixels of consecutive frames.
_EPS = 1e-6

Box = tuple[int, int, int]  # (x0, y0, side) of a square crop
SubpixelBox = tuple[float, float, float]  # (x0, y0, side) of a square crop, in pixels


def centre_square_box(height: int, width: int) -> Box:
    """Largest centred square of a frame, as the original CAN cropped it."""
    side = min(height, width)
    return ((width - side) // 2, (height - side) // 2, side)


def face_square_box(face: tuple[int, int, int, int], height: int, width: int, scale: float) -> Box:
    """Square box centred on a detected face, enlarged by ``scale`` and clipped to the frame.

    Enlarging keeps some background inside the crop: inverse attention needs
    non-skin pixels to estimate the corruption from.
    """
    x, y, w, h = face
    side = round(max(w, h) * scale)
    side = max(1, min(side, height, width))
    cx, cy = x + w / 2.0, y + h / 2.0
    x0 = round(min(max(cx - side / 2.0, 0), width - side))
    y0 = round(min(max(cy - side / 2.0, 0), height - side))
    return (x0, y0, side)


def face_square(
    face: tuple[float, float, float, float], height: int, width: int, scale: float
) -> SubpixelBox:
    """As :func:`face_square_box`, to a fraction of a pixel (not rounded): the crop of a
    tracked face follows it smoothly instead of in whole-pixel steps."""
    x, y, w, h = face
    side = min(max(w, h) * scale, height, width)
    cx, cy = x + w / 2.0, y + h / 2.0
    x0 = min(max(cx - side / 2.0, 0.0), width - side)
    y0 = min(max(cy - side / 2.0, 0.0), height - side)
    return (float(x0), float(y0), float(side))


def crop_resize_subpixel(
    frame: npt.NDArray[np.uint8], box: SubpixelBox, *sizes: int
) -> tuple[npt.NDArray[np.float32], ...]:
    """A square crop at fractional pixel coordinates, resized to each ``size``×``size``.

    The whole pixels around the box are area-resized (the block averaging of
    :func:`crop_resize`) to about each output's scale, then the fraction of a pixel is
    resampled bilinearly; a box that moves by a tenth of a pixel moves the output by a
    tenth of its own scale, not by a whole pixel or not at all.
    """
    x0, y0, side = box
    height, width = frame.shape[:2]
    left, top = max(0, math.floor(x0)), max(0, math.floor(y0))
    right, bottom = min(width, math.ceil(x0 + side)), min(height, math.ceil(y0 + side))
    region = frame[top:bottom, left:right].astype(np.float32)
    out = []
    for size in sizes:
        # Given as factors (no output size), the area resize keeps this exact scale.
        kx = ky = size / side
        small = cv2.resize(region, None, fx=kx, fy=ky, interpolation=cv2.INTER_AREA)
        # Output pixel u (centre u + 0.5) lies at x0 + (u + 0.5) * side / size in the frame,
        # at (x - left) * kx - 0.5 in the area-resized region (pixel centres at integers).
        step_x, step_y = side * kx / size, side * ky / size
        matrix = np.array(
            [
                [step_x, 0.0, (x0 - left) * kx + 0.5 * step_x - 0.5],
                [0.0, step_y, (y0 - top) * ky + 0.5 * step_y - 0.5],
            ]
        )
        out.append(
            cv2.warpAffine(
                small,
                matrix,
                (size, size),
                flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                borderMode=cv2.BORDER_REPLICATE,
            )
        )
    return tuple(out)


def held_box(
    previous: Box | SubpixelBox | None, candidate: Box | SubpixelBox, tolerance: float
) -> Box | SubpixelBox:
    """The crop of a frame of a tracked face: ``previous`` (the last frame's crop) while
    ``candidate`` (the crop around this frame's face) is within ``tolerance`` times the
    previous side of it, in each coordinate of its centre and in its side; else
    ``candidate``.

    A crop that moves by a pixel is a step in every pixel the network sees and in every
    colour trace; holding it keeps a still face in one crop, while a face that moves further
    is followed.
    """
    if previous is None:
        return candidate
    x0, y0, side0 = previous
    x1, y1, side1 = candidate
    shift = max(abs((x1 + side1 / 2) - (x0 + side0 / 2)), abs((y1 + side1 / 2) - (y0 + side0 / 2)))
    limit = tolerance * side0
    return previous if shift <= limit and abs(side1 - side0) <= limit else candidate


def crop_resize(
    frame: npt.NDArray[np.uint8], box: Box, size: int, *more_sizes: int
) -> npt.NDArray[np.float32] | tuple[npt.NDArray[np.float32], ...]:
    """Crop a square box and resize it to ``size``×``size`` with area interpolation.

    With extra sizes, returns one resized copy per size (the crop is converted once).
    """
    x0, y0, side = box
    # Resizing in float keeps the sub-grey-level precision that block averaging gains:
    # the pulse is well below one grey level per pixel.
    crop = frame[y0 : y0 + side, x0 : x0 + side].astype(np.float32)
    resized = tuple(
        cv2.resize(crop, (s, s), interpolation=cv2.INTER_AREA) for s in (size, *more_sizes)
    )
    return resized if more_sizes else resized[0]


def normalised_difference(
    previous: npt.NDArray[np.floating], current: npt.NDArray[np.floating]
) -> npt.NDArray[np.float32]:
    """DeepPhys motion representation (c(t+1) − c(t)) / (c(t+1) + c(t)).

    Dividing by the sum removes the dependence on the stationary skin colour and
    illumination level, leaving the relative (optical) change.
    """
    previous = previous.astype(np.float32)
    current = current.astype(np.float32)
    return (current - previous) / (current + previous + _EPS)


@dataclass
class RunningMoments:
    """Streaming mean and standard deviation over all values seen (float64 sums).

    Lets preparation standardise a whole video without holding it in memory.
    """

    count: int = 0
    total: float = 0.0
    total_sq: float = 0.0
    _shift: float | None = field(default=None, repr=False)

    def update(self, values: npt.NDArray[np.floating]) -> None:
        """Add a block of values."""
        block = np.array(values, dtype=np.float64)  # a copy, worked on in place
        if block.size == 0:
            return
        if self._shift is None:
            # Shifting by a representative value avoids cancellation in sum of squares.
            self._shift = float(block.mean())
        np.subtract(block, self._shift, out=block)
        self.count += block.size
        self.total += float(block.sum())
        np.square(block, out=block)
        self.total_sq += float(block.sum())

    @property
    def mean(self) -> float:
        """Mean of all values."""
        if self.count == 0:
            return float("nan")
        return (self._shift or 0.0) + self.total / self.count

    @property
    def std(self) -> float:
        """Population standard deviation (as ``numpy.std``)."""
        if self.count == 0:
            return float("nan")
        variance = self.total_sq / self.count - (self.total / self.count) ** 2
        return float(np.sqrt(max(variance, 0.0)))


def resample_series(
    source_time: npt.NDArray[np.floating],
    values: npt.NDArray[np.floating],
    target_time: npt.NDArray[np.floating],
) -> npt.NDArray[np.float64]:
    """Linearly interpolate a series onto new times; NaN outside the source's span.

    NaNs in the source are skipped rather than propagated, so a short dropout of the
    contact sensor does not blank its neighbours.
    """
    source_time = np.asarray(source_time, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    target_time = np.asarray(target_time, dtype=np.float64)
    valid = np.isfinite(values) & np.isfinite(source_time)
    out = np.full(target_time.shape, np.nan)
    if valid.sum() < 2:
        return out
    t, v = source_time[valid], values[valid]
    inside = (target_time >= t[0]) & (target_time <= t[-1])
    out[inside] = np.interp(target_time[inside], t, v)
    return out
