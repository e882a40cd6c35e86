"""Rate estimation and evaluation metrics (periodogram rate, SNR, waveform MAE, summaries).

The definitions follow the authors' reference evaluation (see ``reference.py``):
rectangular-window one-sided periodogram, rate = frequency of the largest bin in the
band, SNR = ``20 * log10(S / (A - S))`` (their code applies 20·log10 to a power ratio;
``snr_db(..., convention="power")`` gives the conventional ``10 * log10``, half of it).

Band defaults are for heart rate. For breathing rate use ``band=BR_BAND``,
``band_total=BR_SNR_BAND`` and ``tolerance_hz=BR_TOLERANCE_HZ``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import signal

from distraction.signals import butter_bandpass_filtfilt

__all__ = [
    "BR_BAND",
    "BR_SNR_BAND",
    "BR_TOLERANCE_HZ",
    "HR_BAND",
    "HR_SNR_BAND",
    "HR_TOLERANCE_HZ",
    "bootstrap_mae_ci",
    "bootstrap_mae_difference_ci",
    "normalise_for_evaluation",
    "periodogram",
    "periodogram_rate",
    "quality_db",
    "rate_series",
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
    """One-sided periodogram with a rectangular window, as MATLAB ``periodogram``
    (:func:`scipy.signal.periodogram` with the bin width the metrics need).

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
    freqs, power = signal.periodogram(
        xs, fs, window="boxcar", nfft=nfft, detrend=False, scaling="density"
    )
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
    convention: Literal["reference", "power"] = "reference",
) -> float:
    """Signal-to-noise ratio around the true rate, as in the authors' evaluation.

    ``SNR = 20 * log10(S / (A - S))`` where S is the periodogram power within
    ``± tolerance_hz`` of the true fundamental ``f0 = true_rate_bpm / 60`` and of its
    second harmonic ``2 * f0``, and A the power in ``band_total``. (20·log10 of a power
    ratio, i.e. twice the usual dB value: kept because the published numbers use it.)
    With ``convention="power"`` the conventional ``10 * log10(S / (A - S))`` is returned
    instead, exactly half the reference value.

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
    convention : {"reference", "power"}
        ``"reference"`` (default): ``20 * log10`` of the power ratio, as the authors'
        code and published numbers (twice the conventional dB value). ``"power"``:
        the conventional ``10 * log10`` of the power ratio.

    Returns
    -------
    float
        SNR in dB (``inf`` if all power is in the signal bands, ``-inf`` if none).
    """
    if convention not in ("reference", "power"):
        raise ValueError(f"convention: expected 'reference' or 'power', got {convention!r}")
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
    factor = 20.0 if convention == "reference" else 10.0
    return factor * math.log10(s / noise)


def quality_db(
    x: ArrayLike,
    fs: float,
    band: tuple[float, float] = HR_BAND,
    *,
    band_total: tuple[float, float] = HR_SNR_BAND,
    tolerance_hz: float = HR_TOLERANCE_HZ,
    nfft: int | None = None,
    resolution_bpm: float = 0.5,
) -> float:
    """Signal-quality index that needs no ground truth: the SNR around the signal's own peak.

    The power within ``± tolerance_hz`` of the largest periodogram bin in ``band`` and of
    its second harmonic, over the rest of the power in ``band_total``, as
    ``10 * log10`` (conventional dB): :func:`snr_db` with the estimated rate in place of
    the true one. White noise scores about ``-7`` dB over the HR bands (the signal bands
    hold about an eighth of the total band); a pure tone in a window of ``T`` seconds
    scores at most about 10 dB when ``tolerance_hz`` is ``1 / T`` (0.1 Hz and 10-s
    windows), since the rectangular window leaks about a tenth of its power beyond its
    main lobe; longer windows score higher.

    Parameters
    ----------
    x : array_like, shape (T,)
    fs : float
        Sampling rate in Hz.
    band : (float, float)
        Band of the peak search, Hz.
    band_total, tolerance_hz, nfft, resolution_bpm
        See :func:`snr_db`.

    Returns
    -------
    float
        Quality in dB.
    """
    peak = periodogram_rate(x, fs, band, nfft=nfft, resolution_bpm=resolution_bpm)
    return snr_db(
        x,
        fs,
        peak,
        band_total=band_total,
        tolerance_hz=tolerance_hz,
        nfft=nfft,
        resolution_bpm=resolution_bpm,
        convention="power",
    )


def rate_series(
    estimate: ArrayLike,
    fs: float,
    *,
    window_s: float,
    step_s: float,
    band: tuple[float, float] = HR_BAND,
    band_total: tuple[float, float] = HR_SNR_BAND,
    tolerance_hz: float = HR_TOLERANCE_HZ,
    truth_waveform: ArrayLike | None = None,
    true_rate_series: ArrayLike | None = None,
    resolution_bpm: float = 0.5,
) -> list[dict[str, Any]]:
    """The rate over time in sliding windows, with the quality index of each window.

    The windows and rates are those of :func:`window_metrics` (the estimate band-passed
    and normalised over its whole length, windows of ``window_s`` every ``step_s``); the
    quality is :func:`quality_db` of the same window.

    Returns
    -------
    list of dict
        One per window: ``start_s``, ``end_s``, ``time_s`` (the window's centre), ``rate``
        (per minute), ``quality_db`` and ``true_rate`` (None without ground truth).
    """
    est = normalise_for_evaluation(estimate, fs, band)
    rows = window_metrics(
        est,
        truth_waveform,
        true_rate_series,
        fs,
        window_s=window_s,
        band=band,
        band_total=band_total,
        tolerance_hz=tolerance_hz,
        resolution_bpm=resolution_bpm,
        normalise=False,
        stride_s=step_s,
    )
    step = round(step_s * fs)
    win = round(window_s * fs)
    series = []
    for k, row in enumerate(rows):
        segment = est[k * step : k * step + win]
        series.append(
            {
                "start_s": row["start_s"],
                "end_s": row["end_s"],
                "time_s": (row["start_s"] + row["end_s"]) / 2,
                "rate": row["est_rate"],
                "quality_db": quality_db(
                    segment,
                    fs,
                    band,
                    band_total=band_total,
                    tolerance_hz=tolerance_hz,
                    resolution_bpm=resolution_bpm,
                ),
                "true_rate": row["true_rate"],
            }
        )
    return series


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
    stride_s: float | None = None,
) -> list[dict[str, Any]]:
    """Per-window rate, SNR and waveform error over (by default non-overlapping) windows.

    Windows of ``window_s`` start at 0, ``stride_s``, ``2 * stride_s``, ... (in samples,
    ``round(window_s * fs)`` long and ``round(stride_s * fs)`` apart) as long as they
    fit in the signal; by default the stride is the window length, giving
    ``floor(T / (window_s * fs))`` non-overlapping windows. With ``normalise`` the
    estimate and the true waveform are first passed through
    :func:`normalise_for_evaluation` over their whole length.

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
    stride_s : float, optional
        Distance between window starts in seconds (default: ``window_s``). A stride
        shorter than the window gives overlapping (sliding) windows. The rate series
        is windowed at the same times, at ``rate_fs``.

    Returns
    -------
    list of dict
        One dict per window with keys ``start_s``, ``end_s``, ``true_rate`` (median of
        the rate series over the window, else the periodogram rate of the true
        waveform, else None), ``est_rate``, ``snr_db`` (reference convention, 20·log10
        of the power ratio; None without a true rate), ``snr_db_conventional``
        (10·log10, see :func:`snr_db`; None without a true rate) and ``waveform_mae``
        (None without a true waveform).
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
    if stride_s is None:
        step, rate_step = win, rate_win
    else:
        step, rate_step = round(stride_s * fs), round(stride_s * rfs)
        if not (np.isfinite(stride_s) and step >= 1):
            raise ValueError(f"stride_s: expected at least one sample, got {stride_s}")
    # A last window missing at most `shortfall_s` still counts (e.g. the frame that
    # frame differencing drops from a 30-s clip).
    reach = est.size + round(shortfall_s * fs)
    n_windows = 0 if reach < win else (reach - win) // step + 1
    rows: list[dict[str, Any]] = []
    for k in range(n_windows):
        start = k * step
        seg = slice(start, min(start + win, est.size))
        true_rate: float | None = None
        if rates is not None:
            r = rates[k * rate_step : k * rate_step + rate_win]
            r = r[np.isfinite(r)]
            true_rate = float(np.median(r)) if r.size else None
        elif truth is not None:
            true_rate = periodogram_rate(
                truth[seg], fs, band, nfft=nfft, resolution_bpm=resolution_bpm
            )
        snr_ref: float | None = None
        snr_power: float | None = None
        if true_rate is not None:
            snr_ref, snr_power = (
                snr_db(
                    est[seg],
                    fs,
                    true_rate,
                    band_total=band_total,
                    tolerance_hz=tolerance_hz,
                    nfft=nfft,
                    resolution_bpm=resolution_bpm,
                    convention=convention,
                )
                for convention in ("reference", "power")
            )
        rows.append(
            {
                "start_s": start / fs,
                "end_s": min(start + win, est.size) / fs,
                "true_rate": true_rate,
                "est_rate": periodogram_rate(
                    est[seg], fs, band, nfft=nfft, resolution_bpm=resolution_bpm
                ),
                "snr_db": snr_ref,
                "snr_db_conventional": snr_power,
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


def _bootstrap_inputs(
    errors: Sequence[ArrayLike], groups: ArrayLike, n_resamples: int, confidence: float
) -> tuple[list[NDArray[np.float64]], NDArray[np.intp]]:
    """Validate paired error arrays; return their |values| and group codes, NaN pairs dropped."""
    if isinstance(n_resamples, bool) or int(n_resamples) != n_resamples or n_resamples < 1:
        raise ValueError(f"n_resamples: expected a positive integer, got {n_resamples}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence: expected a value in (0, 1), got {confidence}")
    labels = np.asarray(groups)
    if labels.ndim != 1:
        raise ValueError(f"groups: expected shape (N,), got {labels.shape}")
    arrays = []
    for name, e in zip(("errors", "errors_b"), errors, strict=False):
        array = np.asarray(e, dtype=np.float64)
        if array.shape != labels.shape:
            raise ValueError(f"{name}: shape {array.shape} differs from groups {labels.shape}")
        arrays.append(array)
    keep = np.logical_and.reduce([np.isfinite(a) for a in arrays])
    _, codes = np.unique(labels[keep], return_inverse=True)
    return [np.abs(a[keep]) for a in arrays], codes.ravel()


def _bootstrap_interval(
    sums: NDArray[np.float64],
    counts: NDArray[np.float64],
    n_resamples: int,
    confidence: float,
    seed: int,
) -> tuple[float, float]:
    """Percentile interval of ``sum(sums[draw]) / sum(counts[draw])`` over group draws."""
    n_groups = counts.size
    if n_groups < 2:
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_groups, size=(int(n_resamples), n_groups))
    statistic = sums[draws].sum(axis=1) / counts[draws].sum(axis=1)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(statistic, [tail, 1.0 - tail])
    return (float(low), float(high))


def bootstrap_mae_ci(
    errors: ArrayLike,
    groups: ArrayLike,
    *,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Subject-level bootstrap confidence interval of the mean absolute error.

    Windows of one subject are not independent, so the subjects (``groups``) are the
    units resampled: each of ``n_resamples`` resamples draws as many groups as there
    are, with replacement, and its statistic is the mean of ``|errors|`` over all
    windows of the drawn groups (a group drawn twice counts twice). The interval is
    the percentile interval of those statistics (``numpy.quantile``, linear).

    Parameters
    ----------
    errors : array_like, shape (N,)
        Per-window errors (e.g. estimated minus true rate); the sign is ignored.
        Non-finite errors are dropped first.
    groups : array_like, shape (N,)
        Group (subject) label of each window; any sortable labels.
    n_resamples : int
        Number of bootstrap resamples.
    confidence : float
        Coverage of the interval, in (0, 1).
    seed : int
        Seed of ``numpy.random.default_rng``: the result is deterministic.

    Returns
    -------
    (float, float)
        Lower and upper bound. ``(nan, nan)`` when fewer than two groups have a
        finite error: with one subject the between-subject spread cannot be
        estimated (resampling would give the zero-width interval ``(mae, mae)``,
        which would read as certainty), and with none there is no estimate.
    """
    (absolute,), codes = _bootstrap_inputs([errors], groups, n_resamples, confidence)
    sums = np.bincount(codes, weights=absolute)
    counts = np.bincount(codes).astype(np.float64)
    return _bootstrap_interval(sums, counts, n_resamples, confidence, seed)


def bootstrap_mae_difference_ci(
    errors_a: ArrayLike,
    errors_b: ArrayLike,
    groups: ArrayLike,
    *,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Subject-level bootstrap confidence interval of ``MAE(a) - MAE(b)``, paired.

    ``errors_a[i]`` and ``errors_b[i]`` are two methods' errors on the same window
    ``i``; windows where either is non-finite are dropped from both. Each resample
    draws groups with replacement (as :func:`bootstrap_mae_ci`) and computes both
    MAEs over the same drawn windows, so the difference keeps the pairing. Claim
    "a beats b" only when the upper bound is below 0 (and "b beats a" when the lower
    bound is above 0).

    Parameters
    ----------
    errors_a, errors_b : array_like, shape (N,)
        Per-window errors of the two methods (signs ignored).
    groups : array_like, shape (N,)
        Group (subject) label of each window.
    n_resamples, confidence, seed
        See :func:`bootstrap_mae_ci`.

    Returns
    -------
    (float, float)
        Lower and upper bound of ``MAE(a) - MAE(b)``; ``(nan, nan)`` with fewer than
        two groups (see :func:`bootstrap_mae_ci`).
    """
    (abs_a, abs_b), codes = _bootstrap_inputs([errors_a, errors_b], groups, n_resamples, confidence)
    sums = np.bincount(codes, weights=abs_a - abs_b)
    counts = np.bincount(codes).astype(np.float64)
    return _bootstrap_interval(sums, counts, n_resamples, confidence, seed)
