"""The evaluation job of one video and task: every method's waveform, scored per window.

Reads the video's store (the conditioned CAN signal, the denoising stage's output, and the
per-frame skin colour and head shifts that the prepare stage stored for the unsupervised
baselines: the frames only for a store prepared before those were stored, block by block)
and writes the per-window CSV and the video's status row for the failures report.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from distraction import baselines, metrics
from distraction.cancellation import cancel_corruption
from distraction.chain import stored_regions
from distraction.failures import BAD_INPUT
from distraction.files import write_csv
from distraction.report import FAILURE_COLUMNS
from distraction.settings import TaskSettings
from distraction.signals import condition_signal
from distraction.skin import SHIFT_VARIABLE, TRACE_VARIABLES, SkinTraces
from distraction.store import open_group, upstream_failure, video_of
from distraction.windows import block_bounds

#: The unsupervised baselines of each task. POS and CHROM model the pulsatile colour change
#: over ~1.6 s windows and have no meaning for breathing; breathing moves the head, so BR
#: is also compared with the head's vertical motion.
BASELINES: dict[str, tuple[str, ...]] = {
    "hr": ("green", "ica", "chrom", "pos"),
    "br": ("green", "ica", "motion"),
}
# Frame differencing drops the last frame, so a 30.0-s clip yields 29.97 s of signal;
# a window that short of full length is still evaluated.
EVALUATION_SHORTFALL_S = 0.5

log = logging.getLogger(__name__)


def _skin_colour_traces(store: Path, region: str) -> np.ndarray:
    """Mean RGB per frame over the colour baselines' region (``evaluation.baseline_region``):
    one stable skin region for the clip, or the skin rule applied to each frame. Stored by
    the prepare stage; from the stored frames, block by block, for a store prepared before
    it stored them."""
    prepared = open_group(store, "prepared")
    name = TRACE_VARIABLES[region]
    if name in prepared:
        return prepared[name].values
    frames = prepared["frames"]
    bounds = list(block_bounds(frames.shape[0], _chunk_length(frames)))
    skin = SkinTraces()
    per_frame = [skin.add(frames[start:stop].values) for start, stop in bounds]
    if region == "per_frame_skin":
        return np.concatenate(per_frame) if per_frame else np.empty((0, 3))
    return np.concatenate([skin.stable_traces(frames[start:stop].values) for start, stop in bounds])


def _vertical_shifts(store: Path) -> np.ndarray:
    """The motion baseline's per-frame vertical shifts: stored by the prepare stage, or
    from the stored frames, block by block, for a store prepared before it stored them."""
    prepared = open_group(store, "prepared")
    if SHIFT_VARIABLE in prepared:
        return prepared[SHIFT_VARIABLE].values
    frames = prepared["frames"]
    shifts, previous = [], None
    for start, stop in block_bounds(frames.shape[0], _chunk_length(frames)):
        block = frames[start:stop].values
        shifts.append(baselines.vertical_shifts(block, previous))
        previous = block[-1]
    return np.concatenate(shifts) if shifts else np.empty(0)


def _chunk_length(array: Any) -> int:
    return int(array.encoding.get("chunks", (256,))[0])


def method_signals(store: Path, settings: TaskSettings) -> dict[str, np.ndarray]:
    """Every evaluated method's waveform (``settings.methods``) at the output rate, aligned
    to ``time_out``."""
    task, methods, seed = settings.task, settings.methods, settings.seed
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
        regions = stored_regions(corruption)
        references = corruption["traces_conditioned"].values if regions is None else regions
        out["cancelled"] = cancel_corruption(
            corruption["can_conditioned"].values, references
        ).signal
    if "denoised" in methods or "lstm" in methods:
        denoised = open_group(store, f"denoised_{task}")
        if "lstm" in methods:
            # Stores written before the stage kept the LSTM's output apart hold it as denoised.
            out["lstm"] = denoised["lstm" if "lstm" in denoised else "denoised"].values
        if "denoised" in methods:
            out["denoised"] = denoised["denoised"].values
    wanted = [name for name in methods if name in BASELINES[task]]
    colour = [name for name in wanted if name != "motion"]
    skin = _skin_colour_traces(store, settings.baseline_region) if colour else None
    for name in wanted:
        if name == "motion":
            pulse = baselines.motion_from_shifts(_vertical_shifts(store), fs, band=settings.band)
        elif name == "green":
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


def window_scores(
    signal: np.ndarray,
    truth_waveform: np.ndarray | None,
    truth_rates: np.ndarray | None,
    fs_out: float,
    settings: TaskSettings,
) -> list[dict[str, Any]]:
    """One signal's rate, SNR and error per evaluation window, as the evaluate job scores
    every method (:func:`distraction.metrics.window_metrics` with the task's evaluation
    windows, band and tolerance)."""
    return metrics.window_metrics(
        signal,
        truth_waveform,
        truth_rates,
        fs_out,
        window_s=settings.window_s,
        band=settings.band,
        band_total=settings.snr_band,
        tolerance_hz=settings.tolerance_hz,
        shortfall_s=EVALUATION_SHORTFALL_S,
        stride_s=settings.stride_s,
    )


def evaluate(store: Path, settings: TaskSettings) -> tuple[pd.DataFrame, dict[str, str]]:
    """Per-window rate, SNR and waveform error of every method for one video.

    Without ground truth the estimated rates are still reported; the error columns
    stay empty. Also returns the video's status row (ok, skipped or failed, with the
    reason) for the failures report.
    """
    task = settings.task
    identity = video_identity(store)
    # The first failure recorded upstream (the network stages pass one on; looking at each
    # group also finds it when a stage between was not run).
    groups = ("prepared", f"can_{task}", f"corruption_{task}", f"denoised_{task}")
    present = [name for name in groups if (Path(store) / name / "zarr.json").exists()]
    failures = (upstream_failure(store, name) for name in present)
    if failure := next((f for f in failures if f), None):
        status = {
            **identity,
            "task": task,
            "status": "failed",
            "stage": failure.get("failed_stage", ""),
            "reason": failure["failed"],
            "kind": failure.get("failure_kind", ""),
            "retry": failure.get("retry", ""),
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
    for method, signal in method_signals(store, settings).items():
        for row in window_scores(signal, wave, rates, fs_out, settings):
            rows.append({"method": method, **row})
    frame = _window_frame(rows, identity, task)
    status = {**identity, "task": task, "status": "ok", "stage": "", "reason": ""}
    if frame.empty:
        duration = corruption.sizes["time_out"] / fs_out
        status.update(
            status="skipped",
            stage="evaluate",
            reason=f"{duration:.1f} s is shorter than one {settings.window_s:g}-s window",
            kind=BAD_INPUT,
            retry="a rerun skips it again; a longer recording is needed",
        )
    elif wave is None and rates is None:
        status["reason"] = "no ground truth: rates estimated, errors left empty"
    return frame, status


def video_identity(store: Path) -> dict[str, str]:
    """Dataset, recording and subject of a store (from its prepared group or failure record;
    empty, but for the store's name, when that cannot be read)."""
    _, attrs = video_of(store)
    return {
        "dataset": str(attrs.get("dataset", "")),
        "video": str(attrs.get("recording", store.name)),
        "subject": str(attrs.get("subject", "")),
        "recording_task": str(attrs.get("task", "")),
    }


def _window_frame(rows: list[dict[str, Any]], identity: dict[str, str], task: str) -> pd.DataFrame:
    columns = [
        "method",
        "start_s",
        "end_s",
        "true_rate",
        "est_rate",
        "snr_db",
        "snr_db_conventional",
        "waveform_mae",
    ]
    frame = pd.DataFrame(rows, columns=columns)
    frame.insert(0, "task", task)
    frame.insert(0, "recording_task", identity.get("recording_task", ""))
    frame.insert(0, "subject", identity.get("subject", ""))
    frame.insert(0, "video", identity["video"])
    frame.insert(0, "dataset", identity["dataset"])
    return frame.rename(columns={"start_s": "window_start_s", "end_s": "window_end_s"})


def run_evaluate(
    store: Path,
    settings: TaskSettings,
    output: Path,
    status_path: Path | None = None,
    *,
    record_failures: bool = False,
) -> tuple[pd.DataFrame, dict[str, str]]:
    """The evaluation job: :func:`evaluate`, then the per-window CSV and the status row.

    With ``record_failures``, a video whose evaluation fails for any reason (the traceback
    of anything but bad input is logged first) gets no windows and a ``failed`` status row
    whose reason names the video, instead of failing the job.
    """
    from distraction.failures import recording_failures

    outcome: dict[str, Any] = {}

    def write(failure):
        # A failed status row and no windows (written below, as for any video).
        identity = video_identity(store)
        status = {**identity, "task": settings.task, "status": "failed", "stage": "evaluate"}
        outcome["table"] = _window_frame([], identity, settings.task)
        outcome["status"] = {
            **status,
            "reason": failure.reason,
            "kind": failure.kind,
            "retry": failure.advice,
        }

    with recording_failures(
        f"evaluate_{settings.task}",
        lambda: video_of(store)[0],
        record=record_failures,
        write=write,
        store=store,
        output=status_path or output,
        strip=str(store),
    ):
        outcome["table"], outcome["status"] = evaluate(store, settings)
    table, status = outcome["table"], outcome["status"]
    write_csv(table, output)
    if status_path is not None:
        write_csv(pd.DataFrame([status], columns=FAILURE_COLUMNS), status_path)
    return table, status
