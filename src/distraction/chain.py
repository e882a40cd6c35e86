"""The per-recording signal chain of the method, in memory.

CAN output → inverse masks → corruption traces → conditioning → output time base →
denoiser features → denoised waveform. Inference (:mod:`distraction.infer`, which streams
a store chunk by chunk), training (:mod:`distraction.train`) and any analysis call these
functions, so they all see the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from distraction.cancellation import Cancellation, cancel_corruption
from distraction.masks import corruption_traces, inverse_masks
from distraction.preprocess import resample_series
from distraction.settings import TaskSettings
from distraction.signals import condition_signal
from distraction.windows import overlap_add, sliding_windows, window_starts

__all__ = [
    "Conditioned",
    "condition",
    "denoise",
    "denoiser_features",
    "inverse_attention_traces",
    "output_time",
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
    """

    time_out: NDArray[np.float64]
    can: NDArray[np.float64]
    traces: NDArray[np.float64]
    truth: dict[str, NDArray[np.float64]] = field(default_factory=dict)


def condition(
    can_signal: ArrayLike,
    traces: ArrayLike,
    times: ArrayLike,
    fps: float,
    settings: TaskSettings,
    truth: Mapping[str, ArrayLike] | None = None,
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
    return Conditioned(time_out, can_conditioned, traces_conditioned, resampled)


def denoiser_features(
    can_conditioned: ArrayLike, traces_conditioned: ArrayLike, *, cancel: bool
) -> tuple[NDArray[np.float64], Cancellation | None]:
    """The denoiser's input channels: [R, G, B traces, CAN signal].

    With ``cancel``, the CAN channel is first rid of what the traces explain linearly
    (:func:`distraction.cancellation.cancel_corruption`).

    Returns
    -------
    features, cancellation
        ``(M, 4)`` channels, and the cancellation's result (``None`` without ``cancel``).
    """
    can_conditioned = np.asarray(can_conditioned)
    traces_conditioned = np.asarray(traces_conditioned)
    cancellation = cancel_corruption(can_conditioned, traces_conditioned) if cancel else None
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
