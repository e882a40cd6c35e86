"""The per-recording signal chain of the method, in memory.

CAN output → inverse masks → corruption traces → conditioning → output time base →
denoiser features → denoised waveform. Inference (:mod:`distraction.infer`, which streams
a store chunk by chunk), training (:mod:`distraction.train`) and any analysis call these
functions, so they all see the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from distraction.cancellation import Cancellation, cancel_corruption
from distraction.masks import (
    corruption_traces,
    inverse_masks,
    partitioned_corruption_traces,
)
from distraction.metrics import periodogram, quality_db
from distraction.preprocess import resample_series
from distraction.settings import TaskSettings
from distraction.signals import condition_signal, scale_to_unit
from distraction.windows import overlap_add, sliding_windows, window_starts

__all__ = [
    "Conditioned",
    "condition",
    "denoise",
    "denoiser_features",
    "inverse_attention_traces",
    "output_time",
    "region_traces",
    "select_by_quality",
    "stored_regions",
    "window_quality",
]


def inverse_attention_traces(
    frames: ArrayLike, attention: ArrayLike, settings: TaskSettings
) -> tuple[NDArray[np.float32], NDArray[np.float64]]:
    """Inverse masks of the CAN's gate-1 attention and the R/G/B traces they select.

    Per frame, so any chunk of frames gives the same result as the whole clip.

    Parameters
    ----------
    frames
        ``(T, 34, 34, 3)`` RGB frames at the mask resolution (0-255).
    attention
        ``(T, 34, 34)`` gate-1 masks.
    settings
        ``inverse_mask`` and ``threshold`` of the task.

    Returns
    -------
    inverse, traces
        ``(T, 34, 34)`` inverse masks and ``(T, 3)`` corruption traces.
    """
    inverse = inverse_masks(attention, mode=settings.inverse_mask, threshold=settings.threshold)
    return inverse, corruption_traces(frames, inverse)


def region_traces(
    frames: ArrayLike, inverse: ArrayLike, settings: TaskSettings
) -> NDArray[np.float64] | None:
    """The traces the cancellation regresses on, when they are not the whole-mask ones.

    With ``settings.trace_regions == "halves"``, the R/G/B mean of the inverse region in
    each half of the frame (:func:`distraction.masks.partitioned_corruption_traces`,
    ``(T, 12)``); with ``"whole"``, None (the cancellation uses the ``(T, 3)`` traces of
    :func:`inverse_attention_traces`). Per frame, like those.
    """
    if settings.trace_regions == "whole":
        return None
    return partitioned_corruption_traces(frames, inverse)


def stored_regions(corruption: Any) -> NDArray[np.float64] | None:
    """The conditioned region traces of a ``corruption_<task>`` group, or None (a group
    written with ``corruption.regions: whole``, or before region traces existed)."""
    if "region_traces_conditioned" not in corruption:
        return None
    return corruption["region_traces_conditioned"].values


def output_time(start: float, n: int, fs_out: float) -> NDArray[np.float64]:
    """Times of ``n`` samples at ``fs_out`` from ``start``."""
    return start + np.arange(n) / fs_out


@dataclass(frozen=True, eq=False)
class Conditioned:
    """The conditioned signals of one recording, at ``settings.fs_out``.

    Attributes
    ----------
    time_out
        ``(M,)`` sample times, s.
    can
        ``(M,)`` the CAN output integrated, detrended, z-scored, band-passed, resampled and
        scaled into [-1, 1].
    traces
        ``(M, 3)`` the corruption traces conditioned alike (without integration).
    truth
        Ground-truth series resampled to ``time_out`` (NaN outside their span), by name.
    regions
        ``(M, C)`` the region traces (:func:`region_traces`) conditioned alike, or None.
    """

    time_out: NDArray[np.float64]
    can: NDArray[np.float64]
    traces: NDArray[np.float64]
    truth: dict[str, NDArray[np.float64]] = field(default_factory=dict)
    regions: NDArray[np.float64] | None = None


def condition(
    can_signal: ArrayLike,
    traces: ArrayLike,
    times: ArrayLike,
    fps: float,
    settings: TaskSettings,
    truth: Mapping[str, ArrayLike] | None = None,
    regions: ArrayLike | None = None,
) -> Conditioned:
    """The paper's conditioning of the CAN signal and the traces, on the output time base.

    Parameters
    ----------
    can_signal
        ``(T,)`` CAN output (waveform derivative) at the video rate; integrated here.
    traces
        ``(T, 3)`` R/G/B corruption traces at the video rate.
    times
        ``(T,)`` frame times, s.
    fps
        Video frame rate, Hz.
    settings
        Band, smoothness-priors lambda and output rate of the task.
    truth
        Ground-truth series at the frame times, resampled to the output times.
    regions
        ``(T, C)`` region traces at the video rate (:func:`region_traces`), or None.
    """
    # float32 like the network's own output, so stored and in-memory paths agree exactly.
    signal = np.asarray(can_signal).astype(np.float32)
    common = {"band": settings.band, "lam": settings.detrend_lambda, "fs_out": settings.fs_out}
    can_conditioned = condition_signal(signal, fps, integrate=True, **common)
    traces_conditioned = condition_signal(np.asarray(traces), fps, integrate=False, **common)
    times = np.asarray(times, dtype=np.float64)
    time_out = output_time(float(times[0]), len(can_conditioned), settings.fs_out)
    resampled = {
        name: resample_series(times, np.asarray(values), time_out)
        for name, values in (truth or {}).items()
    }
    regions_conditioned = (
        None
        if regions is None
        else condition_signal(np.asarray(regions), fps, integrate=False, **common)
    )
    return Conditioned(
        time_out, can_conditioned, traces_conditioned, resampled, regions_conditioned
    )


def denoiser_features(
    can_conditioned: ArrayLike,
    traces_conditioned: ArrayLike,
    *,
    cancel: bool,
    regions_conditioned: ArrayLike | None = None,
) -> tuple[NDArray[np.float64], Cancellation | None]:
    """The denoiser's input channels: [R, G, B traces, CAN signal].

    With ``cancel``, the CAN channel is first rid of what the traces explain linearly
    (:func:`distraction.cancellation.cancel_corruption`): the region traces
    (:func:`region_traces`, conditioned alike) where given, else the whole-mask ones.

    Returns
    -------
    features, cancellation
        ``(M, 4)`` channels, and the cancellation's result (``None`` without ``cancel``).
    """
    can_conditioned = np.asarray(can_conditioned)
    traces_conditioned = np.asarray(traces_conditioned)
    references = traces_conditioned if regions_conditioned is None else regions_conditioned
    cancellation = cancel_corruption(can_conditioned, references) if cancel else None
    can_channel = can_conditioned if cancellation is None else cancellation.signal
    return np.column_stack([traces_conditioned, can_channel]), cancellation


def denoise(
    features: ArrayLike,
    predict_windows: Callable[[NDArray[np.float32]], NDArray[np.floating]],
    settings: TaskSettings,
) -> tuple[NDArray[np.float64], int]:
    """The denoised waveform: the denoiser over sliding windows, rebuilt by overlap-add.

    Parameters
    ----------
    features
        ``(M, 4)`` from :func:`denoiser_features`, ``M >= settings.denoise_window``.
    predict_windows
        ``(N, window, 4)`` float32 windows → ``(N, window)`` denoised windows.
    settings
        Window, stride and overlap mode of the task.

    Returns
    -------
    denoised, windows
        ``(M,)`` waveform and the number of windows run.
    """
    features = np.asarray(features)
    length, stride = settings.denoise_window, settings.denoise_stride
    windows = sliding_windows(features, length=length, stride=stride).astype(np.float32)
    predicted = predict_windows(windows)
    m = features.shape[0]
    starts = window_starts(m, length=length, stride=stride)
    return overlap_add(predicted, m, stride=stride, starts=starts, mode=settings.overlap), len(
        windows
    )


def window_quality(
    x: NDArray[np.float64],
    traces: NDArray[np.float64] | None,
    settings: TaskSettings,
) -> float:
    """How clearly a window carries a rate that the corruption does not.

    The quality index of :func:`distraction.metrics.quality_db` (the power around the
    window's own spectral peak over the rest of the band, dB), minus a penalty where the
    corruption traces share that peak: ``10 * log10(1 - s)``, with ``s`` the largest
    fraction of a trace's in-band power within the tolerance of the peak. A tone the
    traces also carry (flicker left in the signal) scores low however clean it looks.

    Parameters
    ----------
    x
        ``(L,)`` one window of a candidate signal at ``settings.fs_out``.
    traces
        ``(L, C)`` the conditioned corruption traces over the same window, or None.
    settings
        Band, SNR band, tolerance and rate of the task.
    """
    fs = settings.fs_out
    common = {"band_total": settings.snr_band, "tolerance_hz": settings.tolerance_hz}
    if not np.any(x):
        return -np.inf
    quality = quality_db(x, fs, settings.band, **common)
    if traces is None or traces.size == 0:
        return quality
    freqs, power = periodogram(x, fs)
    band = (freqs >= settings.band[0]) & (freqs <= settings.band[1])
    peak = freqs[band][np.argmax(power[band])]
    near = band & (np.abs(freqs - peak) <= settings.tolerance_hz)
    share = 0.0
    for column in np.asarray(traces, dtype=np.float64).T:
        _, trace_power = periodogram(column, fs)
        total = trace_power[band].sum()
        if total > 0:
            share = max(share, float(trace_power[near].sum() / total))
    return quality + 10.0 * np.log10(max(1.0 - share, 1e-3))


def select_by_quality(
    candidates: ArrayLike,
    settings: TaskSettings,
    traces: ArrayLike | None = None,
) -> NDArray[np.float64]:
    """Window by window, the candidate with the best :func:`window_quality`.

    Each candidate is cut into half-overlapping windows of ``settings.select_window_s``;
    in each window the candidate of the highest quality, z-scored within the window, is
    kept, and the kept windows are joined by tapered overlap-add
    (:func:`distraction.windows.overlap_add`). So a stage placed after another (the LSTM
    after the cancellation) can only replace a window where its output is the clearer.

    Parameters
    ----------
    candidates
        ``(M, K)`` K signals at ``settings.fs_out``, the first one preferred on ties.
    settings
        ``select_window_s`` and the quality's band settings.
    traces
        ``(M, C)`` conditioned corruption traces (see :func:`window_quality`), or None.

    Returns
    -------
    np.ndarray
        ``(M,)`` the joined signal, scaled into [-1, 1]. Shorter than one window, the
        first candidate comes back (scaled).
    """
    c = np.asarray(candidates, dtype=np.float64)
    if c.ndim != 2 or c.shape[1] < 1:
        raise ValueError(f"candidates: expected shape (M, K), got {c.shape}")
    t = None if traces is None else np.asarray(traces, dtype=np.float64)
    m = c.shape[0]
    length = max(2, round(settings.select_window_s * settings.fs_out))
    if m < length:
        return scale_to_unit(c[:, 0], "maxabs")
    stride = max(1, length // 2)
    starts = window_starts(m, length=length, stride=stride)
    chosen = np.empty((len(starts), length))
    for i, start in enumerate(starts):
        segment = c[start : start + length]
        window_traces = None if t is None else t[start : start + length]
        scores = [window_quality(segment[:, k], window_traces, settings) for k in range(c.shape[1])]
        best = segment[:, int(np.argmax(scores))]
        std = best.std()
        chosen[i] = (best - best.mean()) / (std if std > 0 else 1.0)
    joined = overlap_add(chosen, m, stride=stride, starts=starts, mode="taper")
    return scale_to_unit(joined, "maxabs")
