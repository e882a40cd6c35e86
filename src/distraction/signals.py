"""Signal conditioning: detrending, MATLAB-compatible band-pass, resampling, scaling.

All functions are pure and work on float64 numpy arrays along axis 0, so a ``(T,)``
signal and a ``(T, C)`` stack of channels are both accepted.

The conditioning chain of the paper (:func:`condition_signal`) reproduces the authors'
MATLAB intermediates of the MMSE-HR reference clip: ``yptest_sub2`` from the CAN output
and ``mask_noise_red_mean2`` from the red corruption trace to ~1e-11, and their
``*_resamp`` versions at 30 fps to ~1e-11 as well (see ``tests/test_signals.py``).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import linalg, signal, sparse

__all__ = [
    "butter_bandpass",
    "butter_bandpass_filtfilt",
    "condition_signal",
    "detrend_smoothness_priors",
    "filtfilt_matlab",
    "resample_timestamps",
    "resample_to_rate",
    "scale_to_unit",
    "zscore",
]

FloatArray = NDArray[np.float64]


def _as_float_signal(x: ArrayLike, name: str = "x") -> FloatArray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim not in (1, 2):
        raise ValueError(f"{name}: expected shape (T,) or (T, C), got {arr.shape}")
    return arr


def detrend_smoothness_priors(x: ArrayLike, lam: float) -> FloatArray:
    """Remove slow trends with the smoothness-priors method (Tarvainen et al. 2002).

    Computes ``z_stat = (I - (I + lam**2 D2.T D2)**-1) z`` where ``D2`` is the
    (T-2, T) second-difference matrix. The system matrix is symmetric positive definite
    and pentadiagonal, so it is solved with a banded Cholesky solver: time and memory
    are linear in T (no dense T x T matrix is ever formed).

    Parameters
    ----------
    x : array_like, shape (T,) or (T, C)
        Signal(s), detrended along axis 0.
    lam : float
        Regularisation parameter lambda. Away from the ends the method is the zero-phase
        high-pass ``H(w) = q / (1 + q)``, ``q = lam**2 (2 - 2 cos w)**2``; the authors'
        lam = 50 at 25 fps halves the amplitude at ~0.56 Hz (``q = 1``), with gains of
        0.70 at 0.7 Hz and 0.95 at 1.2 Hz. Larger values remove only slower trends.

    Returns
    -------
    ndarray, same shape as ``x``
        The detrended (stationary) part of the signal.
    """
    z = _as_float_signal(x)
    if lam < 0:
        raise ValueError(f"lam: must be non-negative, got {lam}")
    n = z.shape[0]
    if n < 3:
        # No second differences exist: the trend estimate is the signal itself.
        return np.zeros_like(z)
    d2 = sparse.diags_array(
        [np.ones(n - 2), -2.0 * np.ones(n - 2), np.ones(n - 2)],
        offsets=[0, 1, 2],
        shape=(n - 2, n),
        dtype=np.float64,
    )
    a = (sparse.eye_array(n, dtype=np.float64) + lam**2 * (d2.T @ d2)).tocsr()
    # Upper banded storage for solveh_banded: ab[u + i - j, j] = a[i, j], u = 2.
    ab = np.zeros((3, n))
    ab[0, 2:] = a.diagonal(2)
    ab[1, 1:] = a.diagonal(1)
    ab[2, :] = a.diagonal(0)
    trend = linalg.solveh_banded(ab, z, check_finite=False)
    return z - trend


def butter_bandpass(
    fs: float, low: float, high: float, order: int = 3
) -> tuple[FloatArray, FloatArray]:
    """Butterworth band-pass transfer function ``(b, a)``, as MATLAB ``butter``.

    Parameters
    ----------
    fs : float
        Sampling rate in Hz.
    low, high : float
        Pass-band edges in Hz, ``0 < low < high < fs / 2``.
    order : int
        Prototype order (the band-pass filter has order ``2 * order``).

    Returns
    -------
    b, a : ndarray
        Numerator and denominator coefficients.
    """
    if not 0 < low < high < fs / 2:
        raise ValueError(f"band: need 0 < low < high < fs/2, got ({low}, {high}) at fs={fs}")
    if order < 1:
        raise ValueError(f"order: must be >= 1, got {order}")
    b, a = signal.butter(order, [low, high], btype="bandpass", fs=fs)
    return np.asarray(b, dtype=np.float64), np.asarray(a, dtype=np.float64)


def filtfilt_matlab(b: ArrayLike, a: ArrayLike, x: ArrayLike) -> FloatArray:
    """Zero-phase forward-backward IIR filtering with MATLAB ``filtfilt`` conventions.

    MATLAB's ``filtfilt(b, a, x)`` differs from ``scipy.signal.filtfilt`` defaults in the
    padding length: it extends the signal at both ends by an odd (point-reflected)
    extension of ``nfact = 3 * (nfilt - 1)`` samples with ``nfilt = max(len(a), len(b))``
    (scipy's default is ``3 * nfilt``), and it requires ``len(x) > nfact``. The initial
    conditions are the steady-state step response (MATLAB's sparse solve, identical to
    ``scipy.signal.lfilter_zi``) scaled by the first sample of each pass's input, as
    scipy's. So this is ``scipy.signal.filtfilt(b, a, x, padtype="odd", padlen=nfact)``
    with MATLAB's length check: the conditioning and the evaluation use it because the
    reference reproduction (and the shipped networks' training) used MATLAB's padding.

    Parameters
    ----------
    b, a : array_like
        Transfer-function coefficients (normalised by ``a[0]``).
    x : array_like, shape (T,) or (T, C)
        Signal(s), filtered along axis 0.

    Returns
    -------
    ndarray, same shape as ``x``
    """
    xs = _as_float_signal(x)
    b_arr = np.atleast_1d(np.asarray(b, dtype=np.float64))
    a_arr = np.atleast_1d(np.asarray(a, dtype=np.float64))
    if a_arr[0] == 0:
        raise ValueError("a: first coefficient must be non-zero")
    b_arr, a_arr = b_arr / a_arr[0], a_arr / a_arr[0]
    nfilt = max(len(a_arr), len(b_arr))
    b_arr = np.pad(b_arr, (0, nfilt - len(b_arr)))
    a_arr = np.pad(a_arr, (0, nfilt - len(a_arr)))
    nfact = max(1, 3 * (nfilt - 1))
    n = xs.shape[0]
    if n <= nfact:
        raise ValueError(f"x: length {n} must exceed 3 * filter order = {nfact}")
    if nfilt == 1:
        return xs * (b_arr[0] ** 2)

    return np.ascontiguousarray(
        signal.filtfilt(b_arr, a_arr, xs, axis=0, padtype="odd", padlen=nfact)
    )


def butter_bandpass_filtfilt(
    x: ArrayLike, fs: float, low: float, high: float, order: int = 3
) -> FloatArray:
    """Zero-phase Butterworth band-pass, as MATLAB ``filtfilt(butter(order, Wn), x)``.

    Parameters
    ----------
    x : array_like, shape (T,) or (T, C)
        Signal(s), filtered along axis 0.
    fs : float
        Sampling rate in Hz.
    low, high : float
        Pass-band edges in Hz (heart rate 0.7-2.5, breathing 0.08-0.5).
    order : int
        Butterworth prototype order (the reference evaluation uses 3).

    Returns
    -------
    ndarray, same shape as ``x``
    """
    b, a = butter_bandpass(fs, low, high, order)
    return filtfilt_matlab(b, a, x)


def resample_to_rate(x: ArrayLike, fs_in: float, fs_out: float) -> FloatArray:
    """Resample a regularly sampled signal with a polyphase anti-aliasing FIR filter.

    The ratio ``fs_out / fs_in`` is approximated by a fraction ``up / down`` with
    ``down <= 1000`` and passed to ``scipy.signal.resample_poly`` (Kaiser window,
    beta = 5, half-length 10 * max(up, down): the same design as MATLAB
    ``resample(x, up, down)``, which it matches up to a constant gain). The output has
    ``ceil(T * up / down)`` samples, the first at the time of the first input sample.

    Parameters
    ----------
    x : array_like, shape (T,) or (T, C)
        Signal(s), resampled along axis 0.
    fs_in, fs_out : float
        Input and output sampling rates in Hz.

    Returns
    -------
    ndarray, shape (ceil(T * up / down),) or (ceil(T * up / down), C)
    """
    xs = _as_float_signal(x)
    if fs_in <= 0 or fs_out <= 0:
        raise ValueError(f"fs: rates must be positive, got {fs_in} -> {fs_out}")
    ratio = Fraction(fs_out / fs_in).limit_denominator(1000)
    up, down = ratio.numerator, ratio.denominator
    if up == down:
        return xs.copy()
    return np.asarray(signal.resample_poly(xs, up, down, axis=0), dtype=np.float64)


def resample_timestamps(
    x: ArrayLike, t: ArrayLike, fs_out: float, *, t_start: float | None = None
) -> FloatArray:
    """Resample an irregularly sampled signal onto a regular grid by linear interpolation.

    Parameters
    ----------
    x : array_like, shape (T,) or (T, C)
        Samples.
    t : array_like, shape (T,)
        Strictly increasing sample times in seconds.
    fs_out : float
        Output rate in Hz.
    t_start : float, optional
        Time of the first output sample (default ``t[0]``).

    Returns
    -------
    ndarray
        Values at ``t_start + k / fs_out`` for all k with time ``<= t[-1]``.
    """
    xs = _as_float_signal(x)
    ts = np.asarray(t, dtype=np.float64)
    if ts.shape != (xs.shape[0],):
        raise ValueError(f"t: expected shape ({xs.shape[0]},), got {ts.shape}")
    if xs.shape[0] < 2 or np.any(np.diff(ts) <= 0):
        raise ValueError("t: need at least two strictly increasing time stamps")
    start = ts[0] if t_start is None else float(t_start)
    n_out = int(np.floor((ts[-1] - start) * fs_out + 1e-9)) + 1
    grid = start + np.arange(max(n_out, 0)) / fs_out
    if xs.ndim == 1:
        return np.interp(grid, ts, xs)
    return np.stack([np.interp(grid, ts, xs[:, c]) for c in range(xs.shape[1])], axis=1)


def scale_to_unit(x: ArrayLike, method: Literal["minmax", "maxabs"] = "minmax") -> FloatArray:
    """Scale a signal into [-1, 1] along axis 0.

    Parameters
    ----------
    x : array_like, shape (T,) or (T, C)
    method : {"minmax", "maxabs"}
        ``"minmax"`` maps min -> -1 and max -> 1. ``"maxabs"`` divides by the largest
        absolute value (keeps zero and the sign; this is what the authors' MATLAB code
        did to the 30-fps signals, e.g. ``yptest_sub2_resamp``).

    Returns
    -------
    ndarray, same shape as ``x``
        A constant signal (zero range) maps to zeros.
    """
    xs = _as_float_signal(x)
    if method == "minmax":
        lo, hi = xs.min(axis=0), xs.max(axis=0)
        span = hi - lo
        safe = np.where(span > 0, span, 1.0)
        return np.where(span > 0, 2.0 * (xs - lo) / safe - 1.0, 0.0)
    if method == "maxabs":
        peak = np.abs(xs).max(axis=0)
        safe = np.where(peak > 0, peak, 1.0)
        return xs / safe
    raise ValueError(f"method: expected 'minmax' or 'maxabs', got {method!r}")


def zscore(x: ArrayLike, ddof: int = 1) -> FloatArray:
    """Standardise to zero mean and unit standard deviation along axis 0.

    ``ddof=1`` (sample standard deviation) as in MATLAB ``zscore``. A constant signal
    maps to zeros.
    """
    xs = _as_float_signal(x)
    centred = xs - xs.mean(axis=0)
    sd = xs.std(axis=0, ddof=ddof) if xs.shape[0] > ddof else np.zeros(xs.shape[1:])
    safe = np.where(sd > 0, sd, 1.0)
    return np.where(sd > 0, centred / safe, 0.0)


def condition_signal(
    x: ArrayLike,
    fs: float,
    *,
    band: tuple[float, float],
    lam: float,
    fs_out: float,
    integrate: bool,
    order: int = 1,
    scaling: Literal["minmax", "maxabs"] = "maxabs",
) -> FloatArray:
    """The paper's conditioning chain for the CAN pulse and the corruption traces.

    Steps: optional cumulative sum (the CAN predicts the pulse derivative), smoothness-
    priors detrending, z-scoring, zero-phase Butterworth band-pass (MATLAB ``filtfilt``),
    resampling to ``fs_out`` and scaling into [-1, 1].

    With ``band=(0.7, 2.5), lam=50, order=1`` at 25 fps this reproduces the authors'
    ``yptest_sub2_resamp`` (``integrate=True``) and ``mask_noise_red_mean2_resamp``
    (``integrate=False``) of the MMSE-HR clip.

    Parameters
    ----------
    x : array_like, shape (T,) or (T, C)
        Raw signal(s) at ``fs``. The cumulative sum is taken in the input's dtype:
        the authors' CAN output was float32 and MATLAB's ``cumsum`` keeps single
        precision, so pass float32 to reproduce their numbers bit-for-bit.
    fs : float
        Input sampling rate in Hz.
    band : (float, float)
        Pass band in Hz: heart rate (0.7, 2.5), breathing (0.08, 0.5).
    lam : float
        Smoothness-priors lambda (the authors used 50).
    fs_out : float
        Output rate in Hz (30 in the paper).
    integrate : bool
        Cumulative-sum the input first (for the CAN derivative output).
    order : int
        Butterworth prototype order of the band-pass (1 in the authors' conditioning
        code; their evaluation uses 3).
    scaling : {"maxabs", "minmax"}
        How to map into [-1, 1] (see :func:`scale_to_unit`); the authors used max-abs.

    Returns
    -------
    ndarray, shape (T_out,) or (T_out, C)
    """
    arr = np.asarray(x)
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float64)
    if integrate:
        arr = np.cumsum(arr, axis=0)
    y = detrend_smoothness_priors(arr, lam)
    y = zscore(y)
    y = butter_bandpass_filtfilt(y, fs, band[0], band[1], order=order)
    y = resample_to_rate(y, fs, fs_out)
    return scale_to_unit(y, method=scaling)
