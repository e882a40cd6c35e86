"""Rate estimation and evaluation metrics (periodogram rate, SNR, waveform MAE, summaries).

The definitions follow the authors' reference evaluation (see ``reference.py``):
rectangular-window one-sided periodogram, rate = frequency of the largest bin in the
band, SNR = ``20 * log10(S / (A - S))`` (their code applies 20·log10 to a power ratio).

Band defaults are for heart rate. For breathing rate use ``band=BR_BAND``,
``band_total=BR_SNR_BAND`` and ``tolerance_hz=BR_TOLERANCE_HZ``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from distraction.signals import butter_bandpass_filtfilt

__all__ = [
    "BR_BAND",
    "BR_SNR_BAND",
    "BR_TOLERANCE_HZ",
    "HR_BAND",
    "HR_SNR_BAND",
    "HR_TOLERANCE_HZ",
    "normalise_for_evaluation",
    "periodogram",
    "periodogram_rate",
    "snr_db",
    "summarise",
    "waveform_mae",
    "window_metrics",
]

HR_BAND: tuple[float, float] = (0.7, 2.5)
"""Heart-rate search band in Hz (42-150 bpm)."""
HR_SNR_BAND: tuple[float, float] = (0.7, 4.0)
"""Total band for the heart-rate SNR (covers the second harmonic)."""
HR_TOLERANCE_HZ = 0.1
BR_BAND: tuple[float, float] = (0.08, 0.5)
"""Breathing-rate search band in Hz (4.8-30 breaths/min)."""
BR_SNR_BAND: tuple[float, float] = (0.08, 1.0)
"""Total band for the breathing SNR: up to twice the highest breathing rate."""
BR_TOLERANCE_HZ = 0.05
"""Half-width around the breathing fundamental/harmonic (scaled to the slower rhythm)."""

# Band edges are compared with a tiny slack so a bin lying nominally on an edge (e.g.
# 0.7 Hz = bin 84 at nfft=3600, fs=30) is included regardless of rounding.
_EDGE_EPS = 1e-9


def _default_nfft(n: int, fs: float, resolution_bpm: float) -> int:
    return max(n, math.ceil(60.0 * fs / resolution_bpm - 1e-9))


def periodogram(
    x: ArrayLike, fs: float, *, nfft: int | None = None, resolution_bpm: float = 0.5
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """One-sided periodogram with a rectangular window, as MATLAB ``periodogram``.

    Parameters
    ----------
    x : array_like, shape (T,)
    fs : float
        Sampling rate in Hz.
    nfft : int, optional
        FFT length (zero-padding). Default: the smallest length giving bins no wider
        than ``resolution_bpm`` (``60 * fs / resolution_bpm``, 3600 at 30 Hz), or T if
        larger.
    resolution_bpm : float
        Bin width used for the default ``nfft``.

    Returns
    -------
    freqs : ndarray, shape (nfft // 2 + 1,)
        ``k * fs / nfft`` in Hz.
    power : ndarray, same shape
        Power spectral density (``|X|^2 / (fs * T)``, doubled except at DC/Nyquist).
        Only ratios and argmax are used by the metrics, so the scaling is immaterial.
    """
    xs = np.asarray(x, dtype=np.float64)
    if xs.ndim != 1 or xs.size < 2:
        raise ValueError(f"x: expected a 1-D signal of >= 2 samples, got shape {xs.shape}")
    n = xs.size
    nfft = _default_nfft(n, fs, resolution_bpm) if nfft is None else int(nfft)
    if nfft < n:
        raise ValueError(f"nfft: {nfft} is shorter than the signal ({n})")
    spec = np.fft.rfft(xs, n=nfft)
    power = np.abs(spec) ** 2 / (fs * n)
    power[1 : (nfft + 1) // 2] *= 2.0
    freqs = np.arange(power.size) * fs / nfft
    return freqs, power


def _in_band(freqs: NDArray[np.float64], low: float, high: float) -> NDArray[np.bool_]:
    return (freqs >= low - _EDGE_EPS) & (freqs <= high + _EDGE_EPS)


def periodogram_rate(
    x: ArrayLike,
    fs: float,
    band: tuple[float, float] = HR_BAND,
    *,
    nfft: int | None = None,
    resolution_bpm: float = 0.5,
) -> float:
    """Rate (per minute) at the largest periodogram bin inside ``band``.

    Parameters
    ----------
    x : array_like, shape (T,)
    fs : float
        Sampling rate in Hz.
    band : (float, float)
        Search band in Hz (inclusive).
    nfft, resolution_bpm
        See :func:`periodogram` (default: 0.5 bpm bins, nfft = 3600 at 30 Hz).

    Returns
    -------
    float
        Rate in beats (or breaths) per minute.
    """
    freqs, power = periodogram(x, fs, nfft=nfft, resolution_bpm=resolution_bpm)
    mask = _in_band(freqs, *band)
    if not mask.any():
        raise ValueError(f"band: {band} Hz contains no periodogram bin")
    return float(freqs[mask][np.argmax(power[mask])] * 60.0)


def snr_db(
    x: ArrayLike,
    fs: float,
    true_rate_bpm: float,
    *,
    band_total: tuple[float, float] = HR_SNR_BAND,
    tolerance_hz: float = HR_TOLERANCE_HZ,
    nfft: int | None = None,
    resolution_bpm: float = 0.5,
) -> float:
    """Signal-to-noise ratio around the true rate, as in the authors' evaluation.

    ``SNR = 20 * log10(S / (A - S))`` where S is the periodogram power within
    ``± tolerance_hz`` of the true fundamental ``f0 = true_rate_bpm / 60`` and of its
    second harmonic ``2 * f0``, and A the power in ``band_total``. (20·log10 of a power
    ratio, i.e. twice the usual dB value: kept because the published numbers use it.)

    Parameters
    ----------
    x : array_like, shape (T,)
    fs : float
        Sampling rate in Hz.
    true_rate_bpm : float
        Reference rate per minute.
    band_total : (float, float)
        Band of the total power A (heart rate (0.7, 4.0); breathing ``BR_SNR_BAND``).
    tolerance_hz : float
        Half-width of the signal bands (0.1 Hz for heart rate; ``BR_TOLERANCE_HZ``).
    nfft, resolution_bpm
        See :func:`periodogram`.

    Returns
    -------
    float
        SNR in dB (``inf`` if all power is in the signal bands, ``-inf`` if none).
    """
    freqs, power = periodogram(x, fs, nfft=nfft, resolution_bpm=resolution_bpm)
    f0 = true_rate_bpm / 60.0
    signal_mask = _in_band(freqs, f0 - tolerance_hz, f0 + tolerance_hz) | _in_band(
        freqs, 2 * f0 - tolerance_hz, 2 * f0 + tolerance_hz
    )
    s = float(power[signal_mask].sum())
    a = float(power[_in_band(freqs, *band_total)].sum())
    noise = a - s
    if s <= 0:
        return -math.inf
    if noise <= 0:
        return math.inf
    return 20.0 * math.log10(s / noise)


def waveform_mae(est: ArrayLike, true: ArrayLike) -> float:
    """Mean absolute difference between two waveforms of equal shape."""
    e = np.asarray(est, dtype=np.float64)
    t = np.asarray(true, dtype=np.float64)
    if e.shape != t.shape:
        raise ValueError(f"est/true: shapes differ, {e.shape} vs {t.shape}")
    if e.size == 0:
        raise ValueError("est/true: empty waveforms")
    return float(np.mean(np.abs(e - t)))


def normalise_for_evaluation(
    x: ArrayLike, fs: float, band: tuple[float, float] = HR_BAND, *, order: int = 3
) -> NDArray[np.float64]:
    """Evaluation pre-processing: zero-phase band-pass, remove the mean, divide by max |x|.

    The band-pass is a Butterworth filter of prototype order ``order`` applied with
    MATLAB ``filtfilt`` conventions (see :func:`distraction.signals.filtfilt_matlab`).
    """
    y = butter_bandpass_filtfilt(x, fs, band[0], band[1], order=order)
    y = y - y.mean()
    peak = np.abs(y).max()
    return y / peak if peak > 0 else y


def window_metrics(
    estimate: ArrayLike,
    truth_waveform: ArrayLike | None,
    true_rate_series: ArrayLike | None,
    fs: float,
    *,
    window_s: float = 30.0,
    band: tuple[float, float] = HR_BAND,
    rate_fs: float | None = None,
    band_total: tuple[float, float] = HR_SNR_BAND,
    tolerance_hz: float = HR_TOLERANCE_HZ,
    nfft: int | None = None,
    resolution_bpm: float = 0.5,
    normalise: bool = True,
    order: int = 3,
    shortfall_s: float = 0.0,
) -> list[dict[str, Any]]:
    """Per-window rate, SNR and waveform error over non-overlapping windows.

    Only full windows are evaluated (``floor(T / (window_s * fs))`` of them, from
    sample 0). With ``normalise`` the estimate and the true waveform are first passed
    through :func:`normalise_for_evaluation` over their whole length.

    Parameters
    ----------
    estimate : array_like, shape (T,)
        Estimated waveform at ``fs``.
    truth_waveform : array_like, shape (T,), optional
        Contact-sensor waveform at ``fs`` (same length).
    true_rate_series : array_like, optional
        Contact-sensor rate per minute sampled at ``rate_fs`` (e.g. 1000 Hz).
    fs : float
        Rate of the waveforms in Hz.
    window_s : float
        Window length in seconds.
    band : (float, float)
        Band of the band-pass and of the rate search, in Hz.
    rate_fs : float, optional
        Sampling rate of ``true_rate_series`` (default ``fs``).
    band_total, tolerance_hz, nfft, resolution_bpm
        See :func:`snr_db` and :func:`periodogram`.
    normalise : bool
        Apply :func:`normalise_for_evaluation` first.
    order : int
        Butterworth prototype order for the normalisation.
    shortfall_s : float
        A final window shorter than ``window_s`` by at most this many seconds is still
        evaluated, over the samples it has (default 0: only full windows).

    Returns
    -------
    list of dict
        One dict per window with keys ``start_s``, ``end_s``, ``true_rate`` (median of
        the rate series over the window, else the periodogram rate of the true
        waveform, else None), ``est_rate``, ``snr_db`` (None without a true rate) and
        ``waveform_mae`` (None without a true waveform).
    """
    est = np.asarray(estimate, dtype=np.float64)
    if est.ndim != 1:
        raise ValueError(f"estimate: expected shape (T,), got {est.shape}")
    truth = None if truth_waveform is None else np.asarray(truth_waveform, dtype=np.float64)
    if truth is not None and truth.shape != est.shape:
        raise ValueError(f"truth_waveform: shape {truth.shape} differs from {est.shape}")
    rates = None if true_rate_series is None else np.asarray(true_rate_series, np.float64)
    rfs = fs if rate_fs is None else rate_fs
    if normalise:
        est = normalise_for_evaluation(est, fs, band, order=order)
        if truth is not None:
            truth = normalise_for_evaluation(truth, fs, band, order=order)

    win = round(window_s * fs)
    rate_win = round(window_s * rfs)
    # A last window missing at most `shortfall_s` still counts (e.g. the frame that
    # frame differencing drops from a 30-s clip).
    n_windows = (est.size + round(shortfall_s * fs)) // win
    rows: list[dict[str, Any]] = []
    for k in range(n_windows):
        seg = slice(k * win, min((k + 1) * win, est.size))
        true_rate: float | None = None
        if rates is not None:
            r = rates[k * rate_win : (k + 1) * rate_win]
            r = r[np.isfinite(r)]
            true_rate = float(np.median(r)) if r.size else None
        elif truth is not None:
            true_rate = periodogram_rate(
                truth[seg], fs, band, nfft=nfft, resolution_bpm=resolution_bpm
            )
        rows.append(
            {
                "start_s": k * win / fs,
                "end_s": min((k + 1) * win, est.size) / fs,
                "true_rate": true_rate,
                "est_rate": periodogram_rate(
                    est[seg], fs, band, nfft=nfft, resolution_bpm=resolution_bpm
                ),
                "snr_db": None
                if true_rate is None
                else snr_db(
                    est[seg],
                    fs,
                    true_rate,
                    band_total=band_total,
                    tolerance_hz=tolerance_hz,
                    nfft=nfft,
                    resolution_bpm=resolution_bpm,
                ),
                "waveform_mae": None if truth is None else waveform_mae(est[seg], truth[seg]),
            }
        )
    return rows


def summarise(
    true: Sequence[float | None] | ArrayLike, est: Sequence[float | None] | ArrayLike
) -> dict[str, float | int]:
    """MAE, RMSE and Pearson r between true and estimated rates over windows.

    Pairs where either value is None or non-finite are dropped.

    Returns
    -------
    dict
        ``mae``, ``rmse``, ``pearson_r`` and ``n`` (number of pairs used). With no pairs
        the errors are NaN; with fewer than 2 pairs, or a constant series, r is NaN.
    """
    t = np.array(
        [np.nan if v is None else v for v in np.asarray(true, dtype=object).ravel()],
        dtype=np.float64,
    )
    e = np.array(
        [np.nan if v is None else v for v in np.asarray(est, dtype=object).ravel()],
        dtype=np.float64,
    )
    if t.shape != e.shape:
        raise ValueError(f"true/est: lengths differ, {t.size} vs {e.size}")
    keep = np.isfinite(t) & np.isfinite(e)
    t, e = t[keep], e[keep]
    n = int(t.size)
    if n == 0:
        return {"mae": math.nan, "rmse": math.nan, "pearson_r": math.nan, "n": 0}
    err = e - t
    r = math.nan
    if n >= 2 and np.std(t) > 0 and np.std(e) > 0:
        r = float(np.corrcoef(t, e)[0, 1])
    return {
        "mae": float(np.mean(np.abs(err))),
        "rmse": float(np.sqrt(np.mean(err**2))),
        "pearson_r": r,
        "n": n,
    }
