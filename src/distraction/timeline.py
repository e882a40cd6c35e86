"""The timeline job of one video and task: what a video yields without ground truth.

From the denoised waveform of a video's store: the rate over time in short sliding windows
(``timeline.<task>_window_s`` every ``timeline.<task>_step_s``; distinct from the evaluation
windows, which are compared with the ground truth), a signal-quality index per window
(:func:`distraction.metrics.quality_db`), heart-rate variability (HR only, and only when the
quality allows it) and the waveforms themselves. Where ground truth exists its rate is put
beside the estimate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from distraction import metrics
from distraction.settings import TaskSettings
from distraction.store import open_group, upstream_failure

RATE_COLUMNS = [
    "dataset",
    "video",
    "task",
    "window_start_s",
    "window_end_s",
    "time_s",
    "rate",
    "quality_db",
    "true_rate",
]
#: The HRV measures kept from :func:`neurokit2.hrv_time` (milliseconds, or % for pNN*).
HRV_MEASURES = (
    "HRV_MeanNN",
    "HRV_SDNN",
    "HRV_RMSSD",
    "HRV_SDSD",
    "HRV_MedianNN",
    "HRV_MinNN",
    "HRV_MaxNN",
    "HRV_pNN50",
    "HRV_pNN20",
)
HRV_COLUMNS = ["dataset", "video", "task", "status", "reason", "quality_db", "peaks", *HRV_MEASURES]
#: Fewest detected beats for HRV (neurokit2's time-domain measures need a few intervals).
MIN_HRV_PEAKS = 5


@dataclass(frozen=True)
class Timeline:
    """A video's timeline outputs for one task.

    Attributes
    ----------
    rates
        One row per window (:data:`RATE_COLUMNS`); empty for a failed or too short video.
    waveforms
        ``time_s``, ``can`` (the conditioned CAN signal), ``cancelled`` (when the denoiser
        cancels the corruption first), ``denoised`` and ``truth`` (the ground-truth waveform
        on the same clock, when there is one).
    hrv
        One row (:data:`HRV_COLUMNS`): ``status`` ``ok`` with the measures, or ``skipped``
        with the reason and the measures left empty.
    failed
        Why the video has no timeline (an earlier stage failed), else ``None``.
    """

    rates: pd.DataFrame
    waveforms: pd.DataFrame
    hrv: pd.DataFrame
    failed: str | None = None

    @property
    def median_rate(self) -> float:
        """The median of the windows' rates, per minute (NaN without a window)."""
        return float(np.median(self.rates["rate"])) if len(self.rates) else math.nan


def failed_timeline(identity: dict[str, str], reason: str) -> Timeline:
    """The timeline of a video that has none: no windows, no waveforms, a failed HRV row."""
    return Timeline(
        pd.DataFrame(columns=RATE_COLUMNS),
        pd.DataFrame(columns=["time_s", "can", "denoised"]),
        pd.DataFrame([{**identity, "status": "failed", "reason": reason}], columns=HRV_COLUMNS),
        failed=reason,
    )


def _identity(store: Path) -> dict[str, str]:
    attrs = open_group(store, "prepared").attrs
    return {
        "dataset": str(attrs.get("dataset", "")),
        "video": str(attrs.get("recording", store.name)),
    }


def hrv_measures(
    pulse: np.ndarray, fs: float, quality: float, min_quality_db: float
) -> dict[str, Any]:
    """Time-domain HRV of a pulse waveform with neurokit2, when its quality allows it.

    Beats are found with ``nk.ppg_peaks`` (Elgendi's method) and the measures computed by
    ``nk.hrv_time`` from the beat times, whose resolution is one sample (33 ms at 30 Hz):
    SDNN and RMSSD of a camera pulse at that rate are coarse.

    Parameters
    ----------
    pulse
        Pulse waveform (the denoised signal), shape (T,).
    fs
        Its rate, Hz.
    quality
        Its quality index, dB (the median over the video's windows).
    min_quality_db
        The quality below which no HRV is computed.

    Returns
    -------
    dict
        ``status`` (``ok`` or ``skipped``), ``reason``, ``quality_db``, ``peaks`` and the
        :data:`HRV_MEASURES` (NaN when skipped).
    """
    row: dict[str, Any] = {
        "status": "skipped",
        "reason": "",
        "quality_db": quality,
        "peaks": 0,
        **dict.fromkeys(HRV_MEASURES, math.nan),
    }
    if not (np.isfinite(quality) and quality >= min_quality_db):
        row["reason"] = f"quality {quality:.1f} dB is below {min_quality_db:g} dB"
        return row
    import neurokit2 as nk

    _, info = nk.ppg_peaks(np.asarray(pulse, float), sampling_rate=round(fs))
    peaks = np.asarray(info["PPG_Peaks"], int)
    row["peaks"] = int(peaks.size)
    if peaks.size < MIN_HRV_PEAKS:
        row["reason"] = f"{peaks.size} beats found, fewer than {MIN_HRV_PEAKS}"
        return row
    table = nk.hrv_time(peaks, sampling_rate=round(fs))
    row.update({name: float(table[name].iloc[0]) for name in HRV_MEASURES if name in table})
    row.update(status="ok", reason="")
    return row


def video_timeline(store: Path, settings: TaskSettings) -> Timeline:
    """The rate series, quality, HRV and waveforms of one video and task (see module)."""
    task = settings.task
    identity = {**_identity(store), "task": task}
    if failure := upstream_failure(store, f"denoised_{task}"):
        reason = f"{failure.get('failed_stage', '')} failed: {failure['failed']}"
        return failed_timeline(identity, reason)
    corruption = open_group(store, f"corruption_{task}")
    denoised_group = open_group(store, f"denoised_{task}")
    fs = float(corruption.attrs["fs_out"])
    denoised = denoised_group["denoised"].values
    truth_wave = corruption.get(f"truth_{settings.waveform}")
    truth_rate = corruption.get(f"truth_{settings.rate}")
    wave = None if truth_wave is None else np.nan_to_num(truth_wave.values)
    if wave is not None and not np.any(wave):
        wave = None
    rows = metrics.rate_series(
        denoised,
        fs,
        window_s=settings.timeline_window_s,
        step_s=settings.timeline_step_s,
        band=settings.band,
        band_total=settings.snr_band,
        tolerance_hz=settings.tolerance_hz,
        truth_waveform=wave,
        true_rate_series=None if truth_rate is None else truth_rate.values,
    )
    rates = pd.DataFrame(
        [{**identity, **row} for row in rows],
        columns=[*identity, "start_s", "end_s", "time_s", "rate", "quality_db", "true_rate"],
    ).rename(columns={"start_s": "window_start_s", "end_s": "window_end_s"})[RATE_COLUMNS]
    waveforms = pd.DataFrame(
        {"time_s": corruption["time_out"].values, "can": corruption["can_conditioned"].values}
    )
    if "cancelled" in denoised_group:
        waveforms["cancelled"] = denoised_group["cancelled"].values
    waveforms["denoised"] = denoised
    if wave is not None:
        waveforms["truth"] = wave
    if task != "hr":
        hrv_row = {"status": "skipped", "reason": "HRV is measured on the pulse (task hr)"}
    elif rates.empty:
        hrv_row = {"status": "skipped", "reason": "shorter than one timeline window"}
    else:
        quality = float(np.median(rates["quality_db"].to_numpy(float)))
        hrv_row = hrv_measures(
            metrics.normalise_for_evaluation(denoised, fs, settings.band),
            fs,
            quality,
            settings.hrv_min_quality_db,
        )
    hrv = pd.DataFrame([{**identity, **hrv_row}], columns=HRV_COLUMNS)
    return Timeline(rates, waveforms, hrv)


def timeline_job(
    store: Path,
    settings: TaskSettings,
    *,
    rates: Path,
    waveforms: Path,
    hrv: Path,
    figure: Path | None = None,
    record_failures: bool = False,
) -> str:
    """The timeline job: :func:`video_timeline`, written as three CSVs and a figure (the
    rate over time beside the truth, and the quality). With ``record_failures``, a failure
    (:mod:`distraction.failures`) gives the failed timeline instead: no windows, an HRV row
    with status ``failed`` and the reason, a figure stating it. Returns the job's summary."""
    from distraction import figures
    from distraction.failures import recording_failures
    from distraction.report import write_csv
    from distraction.store import video_of

    def write(failure):
        _, attrs = video_of(store)
        identity = {
            "dataset": str(attrs.get("dataset", "")),
            "video": str(attrs.get("recording", store.name)),
            "task": settings.task,
        }
        write_outputs(failed_timeline(identity, f"timeline failed: {failure.reason}"))

    def write_outputs(result: Timeline) -> None:
        write_csv(result.rates, rates)
        write_csv(result.waveforms, waveforms)
        write_csv(result.hrv, hrv)
        name = f"{result.hrv['dataset'].iloc[0]}/{result.hrv['video'].iloc[0]}"
        if figure is not None:
            if result.failed:
                figures.failure_note(figure, f"{name} ({settings.task.upper()})", result.failed)
            else:
                figures.plot_timeline(result.rates, figure, task=settings.task, title=name)

    with recording_failures(
        f"timeline_{settings.task}",
        lambda: video_of(store)[0],
        record=record_failures,
        write=write,
        store=store,
        output=hrv,
        strip=str(store),
    ) as failure:
        result = video_timeline(store, settings)
        write_outputs(result)
    if failure.failed:
        return f"timeline {store} ({settings.task}): failed: {failure.reason}"
    if result.failed:
        return f"timeline {store} ({settings.task}): failed: {result.failed}"
    median = float(np.median(result.rates["rate"])) if len(result.rates) else math.nan
    return (
        f"timeline {store} ({settings.task}): {len(result.rates)} windows, median rate "
        f"{median:.1f}/min, HRV {result.hrv['status'].iloc[0]}"
    )
