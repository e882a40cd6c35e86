"""Sliding windows over time series and their reassembly by overlap-add."""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["block_bounds", "overlap_add", "sliding_windows", "window_starts"]


def block_bounds(total_length: int, block: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of consecutive blocks of ``block`` samples covering ``total_length``
    (the last one shorter when it does not divide), e.g. the chunks of a stored array."""
    if block < 1:
        raise ValueError(f"block: must be positive, got {block}")
    return [(start, min(start + block, total_length)) for start in range(0, total_length, block)]


def window_starts(total_length: int, length: int, stride: int) -> NDArray[np.int64]:
    """Start indices of the windows produced by :func:`sliding_windows`.

    Windows start at ``0, stride, 2*stride, ...`` while they fit. If the last regular
    window does not end exactly at ``total_length``, one more window aligned to the end
    (start ``total_length - length``) is added, so every sample is covered.

    Parameters
    ----------
    total_length : int
        Number of samples T (``>= length``).
    length, stride : int
        Window length and hop in samples.

    Returns
    -------
    ndarray of int64, shape (n,)
    """
    if length < 1 or stride < 1:
        raise ValueError(f"length/stride: must be positive, got {length}/{stride}")
    if total_length < length:
        raise ValueError(f"x: length {total_length} is shorter than one window ({length})")
    starts = np.arange(0, total_length - length + 1, stride, dtype=np.int64)
    if starts[-1] + length < total_length:
        starts = np.append(starts, np.int64(total_length - length))
    return starts


def sliding_windows(x: ArrayLike, length: int, stride: int) -> NDArray[np.float64]:
    """Cut a signal into overlapping windows (the denoiser's input layout).

    Parameters
    ----------
    x : array_like, shape (T,) or (T, C)
        Signal(s) along axis 0.
    length, stride : int
        Window length and hop in samples (60 and 30 at 30 fps in the paper).

    Returns
    -------
    ndarray, shape (n, length) for 1-D input, (n, length, C) for 2-D input
        Window ``j`` is ``x[starts[j] : starts[j] + length]`` with the starts of
        :func:`window_starts`: regular hops, plus one last window aligned to the end
        of the signal when the tail would otherwise be left out (it then overlaps its
        predecessor by more than ``length - stride``).
    """
    xs = np.asarray(x, dtype=np.float64)
    if xs.ndim not in (1, 2):
        raise ValueError(f"x: expected shape (T,) or (T, C), got {xs.shape}")
    starts = window_starts(xs.shape[0], length, stride)
    idx = starts[:, None] + np.arange(length)[None, :]
    return xs[idx]


def overlap_add(
    windows: ArrayLike,
    total_length: int,
    stride: int | None = None,
    starts: ArrayLike | None = None,
    mode: Literal["taper", "overwrite"] = "taper",
    *,
    drop_last: bool = False,
) -> NDArray[np.float64]:
    """Reassemble a continuous signal from (overlapping) windows.

    Parameters
    ----------
    windows : array_like, shape (n, length) or (n, length, ...)
        Window values; trailing axes (e.g. the ``(n, 60, 1)`` of a Keras prediction)
        are carried through.
    total_length : int
        Length T of the output.
    stride : int, optional
        Hop between window starts when ``starts`` is not given (``start_j = stride*j``);
        one of the two is required.
    starts : array_like of int, optional
        Explicit start index of each window (e.g. from :func:`window_starts`).
    mode : {"taper", "overwrite"}
        ``"taper"``: weighted overlap-add with a strictly positive Hann-type taper
        ``w = hanning(length + 2)[1:-1]``, divided by the summed weights at each sample,
        so a constant (or any signal all windows agree on) is reconstructed exactly and
        window edges get little weight where another window covers them.
        ``"overwrite"``: the authors' reference: window ``j`` is written to
        ``[start_j, start_j + length)`` in order, so a later window overwrites the overlap.
        In both modes, parts beyond ``total_length`` are cut off and samples that no
        window reaches are 0.
    drop_last : bool
        Ignore the last window (the reference evaluation did this).

    Returns
    -------
    ndarray, shape (total_length, ...)
    """
    w = np.asarray(windows, dtype=np.float64)
    if w.ndim < 2:
        raise ValueError(f"windows: expected shape (n, length, ...), got {w.shape}")
    n, length = w.shape[:2]
    if starts is None and stride is None:
        raise ValueError("overlap_add: give the windows' stride or their starts")
    st = (
        np.arange(n, dtype=np.int64) * stride
        if starts is None
        else np.asarray(starts, dtype=np.int64)
    )
    if st.shape != (n,):
        raise ValueError(f"starts: expected {n} start indices, got shape {st.shape}")
    if np.any(st < 0):
        raise ValueError("starts: must be non-negative")
    if drop_last:
        w, st, n = w[:-1], st[:-1], n - 1

    out = np.zeros((total_length, *w.shape[2:]))
    if mode == "overwrite":
        for j in range(n):
            s = int(st[j])
            e = min(s + length, total_length)
            if e > s:
                out[s:e] = w[j, : e - s]
        return out
    if mode == "taper":
        taper = np.hanning(length + 2)[1:-1].reshape((length,) + (1,) * (w.ndim - 2))
        weight = np.zeros((total_length,) + (1,) * (w.ndim - 2))
        for j in range(n):
            s = int(st[j])
            e = min(s + length, total_length)
            if e > s:
                out[s:e] += taper[: e - s] * w[j, : e - s]
                weight[s:e] += taper[: e - s]
        covered = weight > 0
        return np.where(covered, out / np.where(covered, weight, 1.0), 0.0)
    raise ValueError(f"mode: expected 'taper' or 'overwrite', got {mode!r}")
