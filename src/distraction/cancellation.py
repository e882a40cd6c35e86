"""Linear cancellation of the corruption that the inverse-attention traces describe.

Light changes reach the CAN output and the corruption traces (the colour of the regions
the network ignores) alike, but not identically: each colour channel with its own gain,
and with a phase shift, because the CAN answers to frame *differences* and its output is
then integrated and filtered. Over a narrow band, a gain and a phase shift of a trace are a
weighted sum of the trace and its time derivative. So the part of the conditioned CAN
signal that the traces and their derivatives explain, by least squares over the
recording, is the corruption; what is left is the pulse (or breathing), which the
traces do not carry when the attention has left the background out. This is adaptive
noise cancellation with the background as the noise reference (as Li et al., CVPR 2014,
rectify illumination with the background's green channel), solved in one closed form
rather than by NLMS, with the inverse-attention traces as references.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from distraction.signals import scale_to_unit

__all__ = ["Cancellation", "cancel_corruption", "corruption_regressors"]


@dataclass(frozen=True)
class Cancellation:
    """Result of :func:`cancel_corruption`.

    Attributes
    ----------
    signal
        ``(M,)`` the input minus its least-squares fit on the regressors, scaled into
        [-1, 1] by its largest absolute value.
    coefficients
        ``(2C + 1,)`` weights of the C traces, their C derivatives and a constant.
    explained
        Fraction of the input's variance that the traces explained and that was removed.
    """

    signal: NDArray[np.float64]
    coefficients: NDArray[np.float64]
    explained: float


def corruption_regressors(traces: ArrayLike) -> NDArray[np.float64]:
    """The traces, their time derivatives (central differences) and a constant.

    Parameters
    ----------
    traces
        ``(M, C)`` conditioned corruption traces.

    Returns
    -------
    np.ndarray
        ``(M, 2C + 1)``; every non-constant column scaled to unit standard deviation
        (columns without variance are left at zero), so the least-squares problem is
        well conditioned whatever the traces' amplitudes.
    """
    t = np.asarray(traces, dtype=np.float64)
    if t.ndim != 2 or t.shape[0] < 3:
        raise ValueError(f"traces: expected shape (M >= 3, C), got {t.shape}")
    columns = np.column_stack([t, np.gradient(t, axis=0)])
    columns = columns - columns.mean(axis=0)
    std = columns.std(axis=0)
    columns = np.divide(columns, std, out=np.zeros_like(columns), where=std > 0)
    return np.column_stack([columns, np.ones(t.shape[0])])


def cancel_corruption(signal: ArrayLike, traces: ArrayLike) -> Cancellation:
    """Remove from ``signal`` the part that the corruption traces explain linearly.

    Parameters
    ----------
    signal
        ``(M,)`` conditioned CAN signal (integrated, detrended, band-passed).
    traces
        ``(M, C)`` corruption traces conditioned the same way, at the same rate.

    Returns
    -------
    Cancellation
        The residual (scaled into [-1, 1]), the fitted weights and the fraction of
        variance removed. A signal the traces cannot explain comes back unchanged
        (up to the scaling).

    Raises
    ------
    ValueError
        If the shapes disagree or the inputs are not finite.
    """
    y = np.asarray(signal, dtype=np.float64)
    if y.ndim != 1:
        raise ValueError(f"signal: expected shape (M,), got {y.shape}")
    regressors = corruption_regressors(traces)
    if regressors.shape[0] != y.shape[0]:
        raise ValueError(f"traces: {regressors.shape[0]} samples for a signal of {y.shape[0]}")
    if not (np.isfinite(y).all() and np.isfinite(regressors).all()):
        raise ValueError("cancel_corruption: non-finite values in the signal or the traces")
    coefficients, *_ = np.linalg.lstsq(regressors, y, rcond=None)
    residual = y - regressors @ coefficients
    total = float(np.var(y))
    explained = 0.0 if total == 0 else 1.0 - float(np.var(residual)) / total
    return Cancellation(scale_to_unit(residual, "maxabs"), coefficients, explained)
