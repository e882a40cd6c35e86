"""Inverse attention masks and the corruption traces they select.

The CAN's first attention gate marks the pixels that carry the pulse. The inverse
of that mask marks everything *else* (background, hair, specular highlights): the
colour averaged over those pixels is a reference of the noise (illumination and
motion) that also corrupts the pulse, and it is what the LSTM denoiser receives
alongside the CAN output.

All functions are pure and vectorised over time, so they can be applied to any
chunk of frames (a chunk's result does not depend on the other chunks).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "HALVES",
    "attention_regions",
    "corruption_traces",
    "inverse_masks",
    "linear_light",
    "normalise_masks",
    "partitioned_corruption_traces",
    "region_traces",
    "skin_attention_ratio",
    "skin_cover",
    "skin_pixels",
    "stable_skin_region",
]


def _as_masks(masks: ArrayLike, name: str = "masks") -> NDArray[np.float64]:
    """Return masks as float64 (T, H, W), dropping a trailing channel axis of size 1."""
    array = np.asarray(masks, dtype=np.float64)
    if array.ndim == 4 and array.shape[-1] == 1:
        # The CAN gate output is (T, H, W, 1); accept it as it comes out of Keras.
        array = array[..., 0]
    if array.ndim != 3:
        raise ValueError(f"{name}: expected shape (T, H, W), got {array.shape}")
    return array


def _as_weights(
    weights: ArrayLike, n_frames: int, size: tuple[int, int], name: str
) -> NDArray[np.float64]:
    """Return float64 (T, H, W) weights; an (H, W) map is shared by every frame."""
    array = np.asarray(weights, dtype=np.float64)
    if array.ndim == 4 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim == 2:
        array = np.broadcast_to(array, (n_frames, *array.shape))
    if array.shape != (n_frames, *size):
        raise ValueError(
            f"{name}: expected shape ({n_frames}, {size[0]}, {size[1]}) or "
            f"({size[0]}, {size[1]}) to match the frames, got {array.shape}"
        )
    return array


def _as_frames(frames: ArrayLike) -> NDArray[np.float64]:
    """Return frames as float64 (T, H, W, 3)."""
    array = np.asarray(frames)
    if array.ndim != 4 or array.shape[-1] != 3:
        raise ValueError(f"frames: expected shape (T, H, W, 3), got {array.shape}")
    return array.astype(np.float64, copy=False)


def normalise_masks(masks: ArrayLike) -> NDArray[np.float64]:
    """Min-max normalise each frame's mask to [0, 1].

    Parameters
    ----------
    masks : array_like, shape (T, H, W) or (T, H, W, 1)
        Attention masks, one per frame (any real dtype).

    Returns
    -------
    numpy.ndarray of float64, shape (T, H, W)
        ``(m - min(m)) / (max(m) - min(m))`` per frame. A constant frame has no
        contrast to normalise and becomes all zeros (never NaN).
    """
    array = _as_masks(masks)
    low = array.min(axis=(1, 2), keepdims=True)
    span = array.max(axis=(1, 2), keepdims=True) - low
    # Dividing by 1 where the span is 0 turns constant frames into zeros, not NaN.
    return (array - low) / np.where(span > 0, span, 1.0)


def inverse_masks(
    masks: ArrayLike,
    *,
    mode: Literal["binary", "continuous"] = "binary",
    threshold: float,
) -> NDArray[np.float32]:
    """Inverse of the attention masks: where the network does *not* look.

    Parameters
    ----------
    masks : array_like, shape (T, H, W) or (T, H, W, 1)
        Attention masks (the gate output before the CAN's own L1 normalisation;
        that normalisation is a per-frame scale, which min-max removes anyway).
    mode : {"binary", "continuous"}
        ``"binary"`` (the authors' choice): 1 where the per-frame min-max
        normalised mask is ``<= threshold``, else 0. ``"continuous"``:
        ``1 - normalised mask``.
    threshold : float
        Threshold of the binary mode, on the normalised [0, 1] scale.

    Returns
    -------
    numpy.ndarray of float32, shape (T, H, W)
        Values in [0, 1].
    """
    normalised = normalise_masks(masks)
    if mode == "binary":
        if not np.isfinite(threshold):
            raise ValueError(f"threshold: expected a finite number, got {threshold}")
        return (normalised <= threshold).astype(np.float32)
    if mode == "continuous":
        return (1.0 - normalised).astype(np.float32)
    raise ValueError(f"mode: expected 'binary' or 'continuous', got {mode!r}")


def attention_regions(masks: ArrayLike, *, threshold: float) -> NDArray[np.float32]:
    """Binary region the network attends to: 1 minus the binary inverse mask.

    One region for :func:`region_traces` (the baselines use :func:`skin_pixels` instead,
    independent of any network).

    Parameters
    ----------
    masks : array_like, shape (T, H, W) or (T, H, W, 1)
        Attention masks.
    threshold : float
        Pixels whose normalised mask is ``<= threshold`` are outside the region.

    Returns
    -------
    numpy.ndarray of float32, shape (T, H, W)
        1 inside the attended region, 0 elsewhere.
    """
    return 1.0 - inverse_masks(masks, mode="binary", threshold=threshold)


def skin_attention_ratio(masks: ArrayLike, skin_cover: ArrayLike) -> float:
    """How much more the network attends to skin than to the rest of the frame.

    The masks are averaged over time; the ratio is their mean over pixels fully on skin
    (cover > 0.99) to their mean over pixels with no skin (cover < 0.01). Mixed pixels at
    the skin's border count for neither.

    Parameters
    ----------
    masks : array_like, shape (T, H, W) or (H, W)
        Attention masks (the gate output; any positive scale: the ratio ignores it).
    skin_cover : array_like, shape (H, W)
        Fraction of each mask pixel covered by skin, in [0, 1] (e.g. a binary skin mask
        area-resized to the mask's grid).

    Returns
    -------
    float
        The ratio; ``nan`` when either region is empty.
    """
    mask = np.asarray(masks, dtype=np.float64)
    if mask.ndim == 3:
        mask = mask.mean(axis=0)
    cover = np.asarray(skin_cover, dtype=np.float64)
    if mask.shape != cover.shape:
        raise ValueError(f"skin_cover: shape {cover.shape}, masks are {mask.shape}")
    on_skin, off_skin = mask[cover > 0.99], mask[cover < 0.01]
    if on_skin.size == 0 or off_skin.size == 0:
        return float("nan")
    return float(on_skin.mean() / off_skin.mean())


def skin_cover(skin: ArrayLike, box: tuple[int, int, int], size: int) -> NDArray[np.float32]:
    """Fraction of each pixel of a ``size``×``size`` grid over a square crop covered by skin.

    The skin map is cropped and area-resized as the frames are
    (:func:`distraction.preprocess.crop_resize`), so the result lies on the grid of the
    attention masks computed from those frames.

    Parameters
    ----------
    skin : array_like, shape (H, W)
        Skin map of the whole frame: boolean, or 0–255 (soft maps count as skin where they
        exceed half, 127).
    box : (x0, y0, side)
        The square crop in pixels of the frame (it may reach past the frame's border).
    size : int
        Side of the output grid (the CAN's first gate: the input side minus 2).

    Returns
    -------
    ndarray, shape (size, size), float32 in [0, 1]
    """
    from distraction.preprocess import crop_resize

    mask = np.asarray(skin)
    if mask.ndim != 2:
        raise ValueError(f"skin: expected an (H, W) map, got shape {mask.shape}")
    binary = (mask > 127) if mask.dtype != np.bool_ else mask
    x0, y0, side = (int(v) for v in box)
    if side < 1:
        raise ValueError(f"box: side must be positive, got {box}")
    # A crop reaching past the frame's border sees no skin there.
    height, width = binary.shape
    pad = max(0, -x0, -y0, x0 + side - width, y0 + side - height)
    padded = np.pad(binary.astype(np.uint8), pad)
    return np.clip(crop_resize(padded, (x0 + pad, y0 + pad, side), size), 0.0, 1.0)


def corruption_traces(frames: ArrayLike, inverse: ArrayLike) -> NDArray[np.float64]:
    """Per-frame R, G, B corruption traces selected by the inverse masks.

    Follows the reference exactly: the frame channel is multiplied by the inverse
    mask and averaged over **all** H·W pixels (not only the masked ones), so the
    trace also moves when the size of the inverse region changes.

    Parameters
    ----------
    frames : array_like, shape (T, H, W, 3)
        RGB frames at the mask resolution (resize the frames to the mask first).
        The trace has the frames' scale: pass ``frames / 255`` for the
        reference's [0, 1] intensities.
    inverse : array_like, shape (T, H, W) or (H, W)
        Inverse masks (binary or continuous); an (H, W) mask is used for every frame.

    Returns
    -------
    numpy.ndarray of float64, shape (T, 3)
        ``mean_{h,w}(frames[t, h, w, c] * inverse[t, h, w])`` for c = R, G, B.
    """
    pixels = _as_frames(frames)
    n_frames, height, width, _ = pixels.shape
    weights = _as_weights(inverse, n_frames, (height, width), "inverse")
    return np.einsum("thwc,thw->tc", pixels, weights) / (height * width)


#: Parts of the frame whose inverse-attention traces are kept apart by
#: :func:`partitioned_corruption_traces`: halves of the frame, as (rows, cols) fractions.
HALVES: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {
    "left": ((0.0, 1.0), (0.0, 0.5)),
    "right": ((0.0, 1.0), (0.5, 1.0)),
    "top": ((0.0, 0.5), (0.0, 1.0)),
    "bottom": ((0.5, 1.0), (0.0, 1.0)),
}


def linear_light(frames: ArrayLike) -> NDArray[np.float64]:
    """Undo the sRGB transfer function: 0–255 code values to linear light in [0, 1].

    A camera encodes light with a gamma curve, so a multiplicative light change moves a
    dark and a bright pixel by different code values; in linear light it scales both
    alike, which is what a linear fit of one region's light on another's assumes.
    """
    v = np.asarray(frames, dtype=np.float64) / 255.0
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def partitioned_corruption_traces(
    frames: ArrayLike,
    inverse: ArrayLike,
    parts: dict[str, tuple[tuple[float, float], tuple[float, float]]] | None = None,
) -> NDArray[np.float64]:
    """R, G, B mean of the inverse-attention region within each part of the frame.

    One mean over the whole inverse mask cannot describe light whose strength or phase
    varies across the frame (a lamp on one side, two lamps on different phases); a mean
    per part keeps those apart, and a linear fit of the pulse signal on them can weigh
    each part by how much of its light the face shares.

    Parameters
    ----------
    frames : array_like, shape (T, H, W, 3)
        Frames at the mask resolution (any scale: code values or linear light).
    inverse : array_like, shape (T, H, W) or (H, W)
        Inverse masks.
    parts : dict, optional
        Part name to ``((row0, row1), (col0, col1))`` fractions of the frame (default
        :data:`HALVES`).

    Returns
    -------
    numpy.ndarray of float64, shape (T, 3 * len(parts))
        For each part in order, the true mean of ``frames * inverse`` over the inverse
        region inside it (``sum(f * w) / sum(w)``); a part whose inverse region is empty
        in a frame gets that frame's mean over the part.
    """
    pixels = _as_frames(frames)
    n_frames, height, width, _ = pixels.shape
    weights = _as_weights(inverse, n_frames, (height, width), "inverse")
    columns = []
    for (r0, r1), (c0, c1) in (parts or HALVES).values():
        rows = slice(round(r0 * height), round(r1 * height))
        cols = slice(round(c0 * width), round(c1 * width))
        p, w = pixels[:, rows, cols], weights[:, rows, cols]
        total = w.sum(axis=(1, 2))
        weighted = np.einsum("thwc,thw->tc", p, w)
        mean = p.mean(axis=(1, 2))
        safe = np.where(total > 1e-9, total, 1.0)[:, None]
        columns.append(np.where(total[:, None] > 1e-9, weighted / safe, mean))
    return np.concatenate(columns, axis=1)


def region_traces(
    frames: ArrayLike,
    weights: ArrayLike,
    *,
    empty: Literal["nan", "frame_mean"] = "nan",
) -> NDArray[np.float64]:
    """Weighted spatial mean colour of a region per frame (a true mean inside it).

    For the unsupervised baselines the region is the attended skin,
    ``attention_regions(masks, threshold=...)`` (= 1 - the binary inverse mask).

    Parameters
    ----------
    frames : array_like, shape (T, H, W, 3)
        RGB frames at the weights' resolution.
    weights : array_like, shape (T, H, W) or (H, W)
        Non-negative pixel weights (binary region or soft mask).
    empty : {"nan", "frame_mean"}
        What a frame whose weights sum to 0 gets: NaN in all three channels
        (default, so that the gap is visible and can be interpolated), or the
        plain mean over the whole frame.

    Returns
    -------
    numpy.ndarray of float64, shape (T, 3)
        ``sum(frames * weights) / sum(weights)`` per frame and channel.
    """
    pixels = _as_frames(frames)
    n_frames, height, width, _ = pixels.shape
    pixel_weights = _as_weights(weights, n_frames, (height, width), "weights")
    if np.any(pixel_weights < 0):
        raise ValueError("weights: expected non-negative values")
    if empty not in ("nan", "frame_mean"):
        raise ValueError(f"empty: expected 'nan' or 'frame_mean', got {empty!r}")
    total = pixel_weights.sum(axis=(1, 2))
    weighted = np.einsum("thwc,thw->tc", pixels, pixel_weights)
    has_region = total > 0
    traces = weighted / np.where(has_region, total, 1.0)[:, None]
    if empty == "nan":
        traces[~has_region] = np.nan
    else:
        traces[~has_region] = pixels[~has_region].mean(axis=(1, 2))
    return traces


def skin_pixels(frames: ArrayLike) -> NDArray[np.bool_]:
    """Skin-coloured pixels by the classic YCrCb rule of Chai & Ngan (1999).

    A pixel is skin when 133 ≤ Cr ≤ 173 and 77 ≤ Cb ≤ 127 (ITU-R BT.601, 8-bit scale).
    The unsupervised baselines average their RGB traces over this region, independently of
    any network's attention.

    Parameters
    ----------
    frames : array_like, shape (T, H, W, 3)
        RGB frames on the 0–255 scale.

    Returns
    -------
    ndarray of bool, shape (T, H, W)
    """
    rgb = _as_frames(frames)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cr = (r - y) * 0.713 + 128.0
    cb = (b - y) * 0.564 + 128.0
    return (cr >= 133) & (cr <= 173) & (cb >= 77) & (cb <= 127)


def _ycrcb(rgb: NDArray[np.float64]) -> tuple[NDArray[np.float64], ...]:
    """Y, Cr, Cb (ITU-R BT.601, 8-bit scale) of RGB values on the last axis."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    return y, (r - y) * 0.713 + 128.0, (b - y) * 0.564 + 128.0


def stable_skin_region(
    frames: ArrayLike,
    *,
    min_fraction: float = 0.5,
    refine: Literal["centre_colour", "none"] = "centre_colour",
    luma_tolerance: float = 0.25,
    chroma_tolerance: float = 6.0,
) -> NDArray[np.bool_]:
    """A static skin region: pixels classed as skin in at least ``min_fraction`` of frames.

    The per-frame rule (:func:`skin_pixels`) lets light changes move pixels into and
    out of the region, which modulates a spatially averaged trace. This region, one
    (H, W) map for the whole chunk, keeps the same pixels in every frame; pass it as
    the ``weights`` of :func:`region_traces`.

    The Chai-Ngan chroma box is wide: brown hair and warm backgrounds pass it in every
    frame, so being stable over time does not exclude them. With
    ``refine="centre_colour"`` (default) the region is further restricted to pixels
    whose time-averaged colour is close to the face's: the reference colour is the
    median Y, Cr, Cb of the stable pixels inside the central third of the frame (the
    face of a centred crop), and a pixel is kept when its mean Y is within
    ``luma_tolerance`` (relative) and its mean Cr and Cb within ``chroma_tolerance``
    (8-bit units) of it.

    Parameters
    ----------
    frames : array_like, shape (T, H, W, 3)
        RGB frames on the 0–255 scale.
    min_fraction : float
        Fraction of frames, in (0, 1], in which a pixel must pass :func:`skin_pixels`.
    refine : {"centre_colour", "none"}
        Colour restriction described above, or ``"none"`` for the temporal rule alone.
    luma_tolerance, chroma_tolerance : float
        Tolerances of ``"centre_colour"``.

    Returns
    -------
    ndarray of bool, shape (H, W)
        Empty (all False) when no pixel is stable skin.
    """
    pixels = _as_frames(frames)
    if pixels.shape[0] == 0:
        raise ValueError("frames: expected at least one frame")
    return stable_skin_from_statistics(
        skin_pixels(pixels).sum(axis=0),
        pixels.shape[0],
        pixels.mean(axis=0),
        min_fraction=min_fraction,
        refine=refine,
        luma_tolerance=luma_tolerance,
        chroma_tolerance=chroma_tolerance,
    )


def stable_skin_from_statistics(
    skin_counts: ArrayLike,
    n_frames: int,
    mean_frame: ArrayLike,
    *,
    min_fraction: float = 0.5,
    refine: Literal["centre_colour", "none"] = "centre_colour",
    luma_tolerance: float = 0.25,
    chroma_tolerance: float = 6.0,
) -> NDArray[np.bool_]:
    """:func:`stable_skin_region` from the statistics of the frames, which a stream of
    frames accumulates without holding them.

    Parameters
    ----------
    skin_counts : array_like of int, shape (H, W)
        In how many frames each pixel passed :func:`skin_pixels`.
    n_frames : int
        How many frames were counted.
    mean_frame : array_like, shape (H, W, 3)
        The frames' mean RGB (0-255 scale).
    min_fraction, refine, luma_tolerance, chroma_tolerance
        As :func:`stable_skin_region`'s.

    Returns
    -------
    ndarray of bool, shape (H, W)
    """
    if not 0 < min_fraction <= 1:
        raise ValueError(f"min_fraction: expected a value in (0, 1], got {min_fraction}")
    if refine not in ("centre_colour", "none"):
        raise ValueError(f"refine: expected 'centre_colour' or 'none', got {refine!r}")
    if not (luma_tolerance > 0 and chroma_tolerance > 0):
        raise ValueError(
            f"luma_tolerance, chroma_tolerance: expected positive values, got "
            f"{luma_tolerance}, {chroma_tolerance}"
        )
    # Compare counts, not a float mean, so that e.g. 0.5 of 60 frames is exactly 30.
    stable = np.asarray(skin_counts) >= min_fraction * n_frames - 1e-9
    if refine == "none" or not stable.any():
        return stable
    height, width = stable.shape
    centre = np.zeros_like(stable)
    centre[height // 3 : -(-2 * height // 3), width // 3 : -(-2 * width // 3)] = True
    seeds = stable & centre if (stable & centre).any() else stable
    channels = _ycrcb(np.asarray(mean_frame, dtype=np.float64))
    y_ref, cr_ref, cb_ref = (float(np.median(c[seeds])) for c in channels)
    y, cr, cb = channels
    close = (
        (np.abs(y - y_ref) <= luma_tolerance * y_ref)
        & (np.abs(cr - cr_ref) <= chroma_tolerance)
        & (np.abs(cb - cb_ref) <= chroma_tolerance)
    )
    return stable & close
