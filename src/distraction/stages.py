"""Per-video stages after preparation: CAN inference, corruption estimation, denoising
and evaluation. Each reads earlier groups of the video's Zarr store and writes its own
group atomically (see :mod:`distraction.store`). The numerical work is delegated to the
pure modules (models, masks, signals, windows, metrics, baselines).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from tqdm import tqdm

from distraction import baselines, metrics
from distraction.cancellation import Cancellation, cancel_corruption
from distraction.errors import InputError
from distraction.masks import (
    corruption_traces,
    inverse_masks,
    region_traces,
    skin_pixels,
)
from distraction.preprocess import resample_series
from distraction.signals import condition_signal
from distraction.store import (
    GroupWriter,
    file_sha256,
    open_group,
    upstream_failure,
    write_failed_group,
)
from distraction.windows import overlap_add, sliding_windows, window_starts

log = logging.getLogger(__name__)

Task = Literal["hr", "br"]
CHANNELS = ("R", "G", "B")
BASELINES = ("green", "ica", "chrom", "pos")
# POS and CHROM model the pulsatile colour change over ~1.6 s windows; they have no
# meaning for breathing, so BR is evaluated with GREEN and ICA only.
BR_BASELINES = ("green", "ica")
#: Whether the denoising stage cancels, by default, what the corruption traces explain
#: linearly before the LSTM (:func:`denoiser_features`). HR: the CAN attends to skin, so its
#: inverse attention describes the light flicker that reaches both. BR: the CAN attends to
#: the head's outline, so the regions it ignores include moving skin and their traces carry
#: breathing, which cancelling would remove (see the README).
CANCEL_CORRUPTION: dict[str, bool] = {"hr": True, "br": False}
#: Rate of the conditioned signals (and so of the denoiser's windows), Hz. The denoiser
#: sees 60 samples: 2 s at 30 Hz spans 2-4 heartbeats, but less than one breath, so BR is
#: conditioned at 5 Hz (12 s, several breaths): its denoiser then raises the SNR under light
#: changes in the breathing band by 3-8 dB instead of 0.2-1.7 (README).
FS_OUT: dict[str, float] = {"hr": 30.0, "br": 5.0}
# Frame differencing drops the last frame, so a 30.0-s clip yields 29.97 s of signal;
# a window that short of full length is still evaluated.
EVALUATION_SHORTFALL_S = 0.5


@dataclass(frozen=True)
class TaskSettings:
    """Signal names and frequency settings of one task."""

    task: Task
    band: tuple[float, float]
    detrend_lambda: float
    waveform: str  # ground-truth waveform variable in the prepared group
    rate: str  # ground-truth rate variable
    snr_band: tuple[float, float]
    tolerance_hz: float
    window_s: float
    fs_out: float  # rate of the conditioned signals, Hz


def task_settings(
    task: Task,
    *,
    band: tuple[float, float] | None = None,
    detrend_lambda: float | None = None,
    window_s: float | None = None,
    fs_out: float | None = None,
) -> TaskSettings:
    """A task's settings: the paper's defaults (:data:`FS_OUT` for the rate), each overridable."""
    if task == "hr":
        return TaskSettings(
            "hr",
            tuple(band or metrics.HR_BAND),
            detrend_lambda or 50.0,
            "ppg",
            "hr",
            metrics.HR_SNR_BAND,
            metrics.HR_TOLERANCE_HZ,
            window_s or 30.0,
            fs_out or FS_OUT["hr"],
        )
    return TaskSettings(
        "br",
        tuple(band or metrics.BR_BAND),
        detrend_lambda or 5000.0,
        "resp",
        "br",
        metrics.BR_SNR_BAND,
        metrics.BR_TOLERANCE_HZ,
        window_s or 60.0,
        fs_out or FS_OUT["br"],
    )


def _chunk_bounds(n: int, chunk: int) -> list[tuple[int, int]]:
    return [(start, min(start + chunk, n)) for start in range(0, n, chunk)]


def _network_runner(model_path: Path, litert_path: Path | None, kind: str):
    """Load a network for the keras or the litert engine.

    Returns the loaded model, the engine's name and the provenance attributes.
    """
    attrs: dict[str, Any] = {"model": str(model_path), "model_sha256": file_sha256(model_path)}
    if litert_path is None:
        from distraction.models import load_model

        return load_model(model_path), "keras", {**attrs, "engine": "keras"}
    from distraction.litert import load_litert, read_sidecar

    read_sidecar(litert_path, kind=kind, source=model_path, source_sha256=attrs["model_sha256"])
    attrs |= {
        "engine": "litert",
        "litert_model": str(litert_path),
        "litert_model_sha256": file_sha256(litert_path),
    }
    return load_litert(Path(litert_path)), "litert", attrs


def infer_can(
    store: Path,
    model_path: Path,
    task: Task,
    *,
    batch_size: int = 256,
    litert_path: Path | None = None,
) -> dict[str, Any]:
    """Run the CAN over a prepared video; write signal and attention masks to ``can_<task>``.

    With ``litert_path`` (the model exported by :func:`distraction.litert.export_litert`)
    the CAN runs on LiteRT instead of TensorFlow. Reads and writes one time chunk at a
    time, so memory does not grow with video length.
    """
    if failure := upstream_failure(store, "prepared"):
        write_failed_group(store, f"can_{task}", failure)
        return {"frames": 0, "failed": failure}
    prepared = open_group(store, "prepared")
    n = prepared.sizes["time"]
    chunk = int(prepared["motion"].encoding.get("chunks", (256,))[0])
    model, engine, provenance = _network_runner(Path(model_path), litert_path, "can")
    if engine == "litert":
        from distraction.litert import predict_can_litert as predict
    else:
        from distraction.models import predict_can as predict
    attrs = {"fps": prepared.attrs["fps"], "task": task, **provenance}
    with GroupWriter(store, f"can_{task}", attrs=attrs) as writer:
        writer.coord("time", prepared["time"].values, attrs={"units": "s"})
        signal = writer.create(
            "can_signal",
            ["time"],
            (n,),
            np.float64,
            chunk_len=max(n, 1),
            attrs={"description": "CAN output: derivative of the waveform"},
        )
        mask1 = writer.create(
            "attention_mask",
            ["time", "y34", "x34"],
            (n, 34, 34),
            np.float32,
            chunk_len=chunk,
            attrs={"description": "gate-1 sigmoid mask, before normalisation"},
        )
        mask2 = writer.create(
            "attention_mask2",
            ["time", "y15", "x15"],
            (n, 15, 15),
            np.float32,
            chunk_len=chunk,
            attrs={"description": "gate-2 sigmoid mask, before normalisation"},
        )
        values = np.empty(n)
        for start, stop in tqdm(
            _chunk_bounds(n, chunk), desc=f"CAN {task}", leave=False, mininterval=5
        ):
            m = prepared["motion"][start:stop].values
            a = prepared["appearance"][start:stop].values
            y, g1, g2 = predict(model, m, a, batch_size=batch_size)
            values[start:stop] = y
            mask1[start:stop] = g1
            mask2[start:stop] = g2
        signal[:] = values
    return {"frames": n, "engine": engine}


def _output_time(start: float, n: int, fs_out: float) -> np.ndarray:
    return start + np.arange(n) / fs_out


def conditioned_features(
    can_signal: np.ndarray,
    traces: np.ndarray,
    fps: float,
    settings: TaskSettings,
    *,
    fs_out: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The denoiser's inputs: CAN signal and corruption traces after the paper's conditioning.

    Parameters
    ----------
    can_signal
        ``(T,)`` CAN output (waveform derivative) at the video rate; integrated here.
    traces
        ``(T, 3)`` R/G/B corruption traces at the video rate.
    fps
        Video frame rate, Hz.
    settings
        Band and smoothness-priors lambda of the task.
    fs_out
        Output rate, Hz (default: the task's, ``settings.fs_out``).

    Returns
    -------
    can_conditioned, traces_conditioned
        ``(M,)`` and ``(M, 3)`` at ``fs_out``, each scaled to [-1, 1].
    """
    # float32 like the network's own output, so stored and in-memory paths agree exactly.
    signal = np.asarray(can_signal).astype(np.float32)
    fs_out = fs_out or settings.fs_out
    common = {"band": settings.band, "lam": settings.detrend_lambda, "fs_out": fs_out}
    can_conditioned = condition_signal(signal, fps, integrate=True, **common)
    traces_conditioned = condition_signal(traces, fps, integrate=False, **common)
    return can_conditioned, traces_conditioned


def estimate_corruption(
    store: Path,
    task: Task,
    settings: TaskSettings,
    *,
    inverse_mode: Literal["binary", "continuous"] = "binary",
    threshold: float = 0.1,
    fs_out: float | None = None,
) -> dict[str, Any]:
    """Inverse masks, corruption traces and the conditioned signals.

    Writes ``corruption_<task>`` holding, at the video rate, the inverse masks
    (chunked (k, 34, 34)) and the R/G/B corruption traces; and, at ``fs_out``, the
    CAN signal and the corruption traces after the paper's conditioning (integration of
    the CAN output, smoothness-priors detrending, z-scoring, band-pass, resampling,
    scaling to [-1, 1]) plus the ground truth resampled to ``fs_out`` (default: the
    task's, ``settings.fs_out``).
    """
    fs_out = fs_out or settings.fs_out
    if failure := upstream_failure(store, f"can_{task}"):
        write_failed_group(store, f"corruption_{task}", failure)
        return {"frames": 0, "samples_out": 0, "failed": failure}
    prepared = open_group(store, "prepared")
    can = open_group(store, f"can_{task}")
    n = prepared.sizes["time"]
    fps = float(prepared.attrs["fps"])
    chunk = int(can["attention_mask"].encoding.get("chunks", (256,))[0])
    times = prepared["time"].values
    traces = np.empty((n, 3))
    attrs = {
        "fps": fps,
        "fs_out": fs_out,
        "task": task,
        "inverse_mask": inverse_mode,
        "threshold": threshold,
        "band_hz": list(settings.band),
        "detrend_lambda": settings.detrend_lambda,
    }
    with GroupWriter(store, f"corruption_{task}", attrs=attrs) as writer:
        writer.coord("time", times, attrs={"units": "s"})
        writer.coord("channel", list(CHANNELS))
        inverse_array = writer.create(
            "inverse_mask",
            ["time", "y34", "x34"],
            (n, 34, 34),
            np.float32,
            chunk_len=chunk,
            attrs={"mode": inverse_mode, "threshold": threshold},
        )
        for start, stop in _chunk_bounds(n, chunk):
            masks = can["attention_mask"][start:stop].values
            frames = prepared["frames"][start:stop].values
            inverse = inverse_masks(masks, mode=inverse_mode, threshold=threshold)
            inverse_array[start:stop] = inverse
            traces[start:stop] = corruption_traces(frames, inverse)
        writer.create(
            "corruption_traces",
            ["time", "channel"],
            (n, 3),
            np.float64,
            chunk_len=max(n, 1),
            data=traces,
            attrs={"description": "spatial mean of frame x inverse mask per channel"},
        )
        can_conditioned, traces_conditioned = conditioned_features(
            can["can_signal"].values, traces, fps, settings, fs_out=fs_out
        )
        m = len(can_conditioned)
        time_out = _output_time(float(times[0]), m, fs_out)
        writer.coord("time_out", time_out, attrs={"units": "s", "fs": fs_out})
        writer.create(
            "can_conditioned",
            ["time_out"],
            (m,),
            np.float64,
            chunk_len=max(m, 1),
            data=can_conditioned,
        )
        writer.create(
            "traces_conditioned",
            ["time_out", "channel"],
            (m, 3),
            np.float64,
            chunk_len=max(m, 1),
            data=traces_conditioned,
        )
        for name in (settings.waveform, settings.rate):
            if name in prepared:
                resampled = resample_series(times, prepared[name].values, time_out)
                writer.create(
                    f"truth_{name}",
                    ["time_out"],
                    (m,),
                    np.float64,
                    chunk_len=max(m, 1),
                    data=resampled,
                )
    return {"frames": n, "samples_out": m}


def cancels(task: Task, cancel: bool | None) -> bool:
    """``cancel``, or the task's default (:data:`CANCEL_CORRUPTION`) when it is ``None``."""
    return CANCEL_CORRUPTION[task] if cancel is None else bool(cancel)


def denoiser_features(
    can_conditioned: np.ndarray, traces_conditioned: np.ndarray, *, cancel: bool
) -> tuple[np.ndarray, Cancellation | None]:
    """The denoiser's input channels: [R, G, B traces, CAN signal].

    With ``cancel``, the CAN channel is first rid of what the traces explain linearly
    (:func:`distraction.cancellation.cancel_corruption`); the same function serves
    inference and the denoiser's training, so both see the same inputs.

    Returns
    -------
    features, cancellation
        ``(M, 4)`` channels, and the cancellation's result (``None`` without ``cancel``).
    """
    cancellation = cancel_corruption(can_conditioned, traces_conditioned) if cancel else None
    can_channel = can_conditioned if cancellation is None else cancellation.signal
    return np.column_stack([traces_conditioned, can_channel]), cancellation


def denoise(
    store: Path,
    task: Task,
    model_path: Path,
    *,
    window: int = 60,
    stride: int = 30,
    overlap: Literal["taper", "overwrite"] = "taper",
    batch_size: int = 256,
    cancel: bool | None = None,
    litert_path: Path | None = None,
) -> dict[str, Any]:
    """Run the LSTM denoiser over windows of [R, G, B traces, CAN signal] and rebuild
    one continuous waveform by overlap-add; write ``denoised_<task>``.

    ``cancel`` (default: the task's, :data:`CANCEL_CORRUPTION`) first removes from the
    CAN signal what the corruption traces explain linearly; that signal is stored as
    ``cancelled`` beside ``denoised``. The denoiser must have been trained the same way.
    With ``litert_path`` the LSTM runs on LiteRT (:mod:`distraction.litert`).
    """
    cancel = cancels(task, cancel)
    if failure := upstream_failure(store, f"corruption_{task}"):
        write_failed_group(store, f"denoised_{task}", failure)
        return {"windows": 0, "samples_out": 0, "failed": failure}
    corruption = open_group(store, f"corruption_{task}")
    features, cancellation = denoiser_features(
        corruption["can_conditioned"].values,
        corruption["traces_conditioned"].values,
        cancel=cancel,
    )
    m = features.shape[0]
    if m < window:
        raise InputError(
            f"{store}: {m} samples at {corruption.attrs['fs_out']} Hz is shorter than one "
            f"denoiser window ({window})"
        )
    model, engine, provenance = _network_runner(Path(model_path), litert_path, "lstm")
    windows = sliding_windows(features, length=window, stride=stride).astype(np.float32)
    if engine == "litert":
        from distraction.litert import predict_lstm_litert

        predicted = predict_lstm_litert(model, windows)
    else:
        # Direct calls in batches: model.predict's per-call setup costs more than the work.
        predicted = np.concatenate(
            [
                np.asarray(model(windows[i : i + batch_size], training=False))[..., 0]
                for i in range(0, len(windows), batch_size)
            ]
        )
    starts = window_starts(m, length=window, stride=stride)
    denoised = overlap_add(predicted, m, stride=stride, starts=starts, mode=overlap)
    attrs = {
        "fs_out": corruption.attrs["fs_out"],
        "task": task,
        **provenance,
        "window": window,
        "stride": stride,
        "overlap": overlap,
        "cancel_corruption": bool(cancel),
    }
    if cancellation is not None:
        attrs["cancelled_variance_fraction"] = cancellation.explained
    with GroupWriter(store, f"denoised_{task}", attrs=attrs) as writer:
        writer.coord("time_out", corruption["time_out"].values, attrs={"units": "s"})
        writer.create(
            "denoised",
            ["time_out"],
            (m,),
            np.float64,
            chunk_len=max(m, 1),
            data=denoised,
            attrs={"description": "LSTM-denoised waveform"},
        )
        if cancellation is not None:
            writer.create(
                "cancelled",
                ["time_out"],
                (m,),
                np.float64,
                chunk_len=max(m, 1),
                data=cancellation.signal,
                attrs={
                    "description": "conditioned CAN signal minus its least-squares fit on "
                    "the corruption traces and their derivatives (the denoiser's input)"
                },
            )
    summary: dict[str, Any] = {"windows": len(windows), "samples_out": m, "engine": engine}
    if cancellation is not None:
        summary["cancelled"] = round(cancellation.explained, 3)
    return summary


def _skin_colour_traces(store: Path, n: int, chunk: int = 512) -> np.ndarray:
    """Mean RGB of the skin-coloured pixels per frame (the baselines' region)."""
    frames = open_group(store, "prepared")["frames"]
    traces = np.empty((n, 3))
    for start, stop in _chunk_bounds(n, chunk):
        block = frames[start:stop].values
        traces[start:stop] = region_traces(block, skin_pixels(block), empty="frame_mean")
    return traces


def method_signals(
    store: Path, task: Task, settings: TaskSettings, methods: list[str], *, seed: int = 0
) -> dict[str, np.ndarray]:
    """Every evaluated method's waveform at the output rate, aligned to ``time_out``."""
    corruption = open_group(store, f"corruption_{task}")
    fs = float(corruption.attrs["fps"])
    fs_out = float(corruption.attrs["fs_out"])
    m = corruption.sizes["time_out"]
    out: dict[str, np.ndarray] = {}
    if "can" in methods:
        out["can"] = corruption["can_conditioned"].values
    if "cancelled" in methods:
        # The same function as the denoising stage's (stored there when it cancels), so
        # the cancellation alone is evaluated whether or not the denoiser uses it.
        out["cancelled"] = cancel_corruption(
            corruption["can_conditioned"].values, corruption["traces_conditioned"].values
        ).signal
    if "denoised" in methods:
        out["denoised"] = open_group(store, f"denoised_{task}")["denoised"].values
    allowed = BASELINES if task == "hr" else BR_BASELINES
    skin = _skin_colour_traces(store, corruption.sizes["time"])
    for name in methods:
        if name not in BASELINES or name not in allowed:
            continue
        if name == "green":
            pulse = baselines.green(skin, fs, band=settings.band)
        elif name == "ica":
            pulse = baselines.ica(skin, fs, seed, band=settings.band)
        elif name == "chrom":
            pulse = baselines.chrom(skin, fs, band=settings.band)
        else:
            pulse = baselines.pos(skin, fs)
        # Same conditioning as the CAN signal so every method is compared alike.
        conditioned = condition_signal(
            pulse,
            fs,
            band=settings.band,
            lam=settings.detrend_lambda,
            fs_out=fs_out,
            integrate=False,
        )
        out[name] = conditioned[:m]
    return out


def evaluate(
    store: Path, task: Task, settings: TaskSettings, methods: list[str], *, seed: int = 0
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Per-window rate, SNR and waveform error of every method for one video.

    Without ground truth the estimated rates are still reported; the error columns
    stay empty. Also returns the video's status row (ok, skipped or failed, with the
    reason) for the failures report.
    """
    identity = video_identity(store)
    if failure := upstream_failure(store, f"denoised_{task}"):
        status = {
            **identity,
            "task": task,
            "status": "failed",
            "stage": failure.get("failed_stage", ""),
            "reason": failure["failed"],
        }
        return _window_frame([], identity, task), status
    corruption = open_group(store, f"corruption_{task}")
    fs_out = float(corruption.attrs["fs_out"])
    truth_wave = corruption.get(f"truth_{settings.waveform}")
    truth_rate = corruption.get(f"truth_{settings.rate}")
    wave = None if truth_wave is None else np.nan_to_num(truth_wave.values)
    rates = None if truth_rate is None else truth_rate.values
    if wave is not None and not np.any(wave):
        wave = None
    rows = []
    for method, signal in method_signals(store, task, settings, methods, seed=seed).items():
        for row in metrics.window_metrics(
            signal,
            wave,
            rates,
            fs_out,
            window_s=settings.window_s,
            band=settings.band,
            band_total=settings.snr_band,
            tolerance_hz=settings.tolerance_hz,
            shortfall_s=EVALUATION_SHORTFALL_S,
        ):
            rows.append({"method": method, **row})
    frame = _window_frame(rows, identity, task)
    status = {**identity, "task": task, "status": "ok", "stage": "", "reason": ""}
    if frame.empty:
        duration = corruption.sizes["time_out"] / fs_out
        status.update(
            status="skipped",
            stage="evaluate",
            reason=f"{duration:.1f} s is shorter than one {settings.window_s:g}-s window",
        )
    elif wave is None and rates is None:
        status["reason"] = "no ground truth: rates estimated, errors left empty"
    return frame, status


def video_identity(store: Path) -> dict[str, str]:
    """Dataset, recording and subject of a store (from its prepared group or failure record)."""
    attrs = open_group(store, "prepared").attrs
    return {
        "dataset": str(attrs.get("dataset", "")),
        "video": str(attrs.get("recording", store.name)),
        "subject": str(attrs.get("subject", "")),
        "recording_task": str(attrs.get("task", "")),
    }


def _window_frame(rows: list[dict[str, Any]], identity: dict[str, str], task: str) -> pd.DataFrame:
    columns = ["method", "start_s", "end_s", "true_rate", "est_rate", "snr_db", "waveform_mae"]
    frame = pd.DataFrame(rows, columns=columns)
    frame.insert(0, "task", task)
    frame.insert(0, "recording_task", identity.get("recording_task", ""))
    frame.insert(0, "subject", identity.get("subject", ""))
    frame.insert(0, "video", identity["video"])
    frame.insert(0, "dataset", identity["dataset"])
    return frame.rename(columns={"start_s": "window_start_s", "end_s": "window_end_s"})
