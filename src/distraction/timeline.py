"""The timeline job of one video and task: what a video yields without ground truth.

From the denoised waveform of a video's store: the rate over time in short sliding windows
(``timeline.<task>_window_s`` every ``timeline.<task>_step_s``; distinct from the evaluation
windows, which are compared with the ground truth), a signal-quality index per window
(:func:`distraction.metrics.quality_db`), heart-rate variability (HR only,
:mod:`distraction.hrv`) and the waveforms themselves. Where ground truth exists its rate is
put beside the estimate.

A window is given its rate only where the face is found, its quality index reaches
``timeline.<task>_min_quality_db`` and the denoiser's input shows the rate
(:func:`pulse_support_db` at least ``timeline.<task>_min_pulse_db``); otherwise the rate is
NaN with the reason, and a video without such a window reports :data:`NO_RELIABLE_ESTIMATE`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from distraction import metrics
from distraction.hrv import HRV_MEASURES, hrv_measures
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
    "peak_rate",
    "quality_db",
    "pulse_db",
    "reason",
    "true_rate",
]
HRV_COLUMNS = [
    "dataset",
    "video",
    "task",
    "status",
    "reason",
    "quality_db",
    "beats",
    "intervals_kept",
    *HRV_MEASURES,
]
#: Why HRV is withheld when ``timeline.hrv`` is off (the default).
HRV_OFF = "not measured: timeline.hrv is off (the pulse's beat intervals overstate HRV)"
#: What a video without a reliable window reports in place of a rate.
NO_RELIABLE_ESTIMATE = "no reliable estimate"
#: A window whose frames hold the tracked face for less than this share has no rate: the
#: signal then comes from whatever the crop holds (background, a hand).
MIN_FACE_FRACTION = 0.5


@dataclass(frozen=True)
class Timeline:
    """A video's timeline outputs for one task.

    Attributes
    ----------
    rates
        One row per window (:data:`RATE_COLUMNS`): the rate (``peak_rate``: the window's
        spectral peak, also where it is not given as the rate), the quality index of the
        denoised signal, ``pulse_db`` (:func:`pulse_support_db`) and, for a window given no
        rate (``rate`` NaN), the ``reason`` (:func:`window_reasons`). Empty for a failed or
        too short video.
    waveforms
        ``time_s``, ``can`` (the conditioned CAN signal), ``cancelled`` (when the denoiser
        cancels the corruption first), ``denoised`` and ``truth`` (the ground-truth waveform
        on the same clock, when there is one).
    hrv
        HR only (else ``None``): one row (:data:`HRV_COLUMNS`), ``status`` ``ok`` with the
        measures, or ``withheld`` (``failed``) with the reason and the measures left empty.
    failed
        Why the video has no timeline (an earlier stage failed), else ``None``.
    no_estimate
        Why the video has no windows although nothing failed (no face in any frame:
        :func:`no_estimate_timeline`), else ``None``.
    """

    rates: pd.DataFrame
    waveforms: pd.DataFrame
    hrv: pd.DataFrame | None
    failed: str | None = None
    no_estimate: str | None = None

    @property
    def reliable(self) -> pd.DataFrame:
        """The windows that were given a rate."""
        return self.rates[self.rates["rate"].notna()]

    @property
    def median_rate(self) -> float:
        """The median rate of the reliable windows, per minute; NaN without one (then
        :attr:`status` says why)."""
        rates = self.reliable["rate"].to_numpy(float)
        return float(np.median(rates)) if rates.size else math.nan

    @property
    def status(self) -> str:
        """``ok``, :data:`NO_RELIABLE_ESTIMATE` or ``failed``."""
        if self.failed:
            return "failed"
        return "ok" if len(self.reliable) else NO_RELIABLE_ESTIMATE

    @property
    def reason(self) -> str:
        """Why there is no rate: the failure, or the most common reason of the windows."""
        if self.failed:
            return self.failed
        if len(self.reliable):
            return ""
        if self.no_estimate:
            return self.no_estimate
        if self.rates.empty:
            return "shorter than one timeline window"
        return str(self.rates["reason"].value_counts().index[0])


def failed_timeline(identity: dict[str, str], reason: str) -> Timeline:
    """The timeline of a video that has none: no windows, no waveforms, and for HR (the
    ``task`` of ``identity``) a failed HRV row."""
    hrv = {**identity, "status": "failed", "reason": reason}
    return Timeline(
        pd.DataFrame(columns=RATE_COLUMNS),
        pd.DataFrame(columns=["time_s", "can", "denoised"]),
        pd.DataFrame([hrv], columns=HRV_COLUMNS) if identity.get("task") == "hr" else None,
        failed=reason,
    )


def no_estimate_timeline(identity: dict[str, str], reason: str) -> Timeline:
    """The timeline of a video with nothing to measure (no face in any frame): no windows,
    no waveforms, status :data:`NO_RELIABLE_ESTIMATE` with the reason, and for HR (the
    ``task`` of ``identity``) an HRV row ``withheld`` with the reason."""
    hrv = {**identity, "status": "withheld", "reason": reason}
    return Timeline(
        pd.DataFrame(columns=RATE_COLUMNS),
        pd.DataFrame(columns=["time_s", "can", "denoised"]),
        pd.DataFrame([hrv], columns=HRV_COLUMNS) if identity.get("task") == "hr" else None,
        no_estimate=reason,
    )


def _identity(store: Path) -> dict[str, str]:
    attrs = open_group(store, "prepared").attrs
    return {
        "dataset": str(attrs.get("dataset", "")),
        "video": str(attrs.get("recording", store.name)),
    }


def face_fractions(
    frame_times: np.ndarray, face_found: np.ndarray, starts: np.ndarray, ends: np.ndarray
) -> np.ndarray:
    """The share of the frames in each window ``[start, end)`` (s, on the frames' clock)
    whose face was found (1 for a window without frames)."""
    found = np.asarray(face_found, dtype=np.float64)
    out = np.ones(len(starts))
    for k, (start, end) in enumerate(zip(starts, ends, strict=True)):
        inside = (frame_times >= start) & (frame_times < end)
        if inside.any():
            out[k] = float(found[inside].mean())
    return out


def pulse_support_db(
    source: np.ndarray,
    fs: float,
    rates: np.ndarray,
    starts_s: np.ndarray,
    settings: TaskSettings,
) -> np.ndarray:
    """How much the denoiser's input shows each window's rate: the SNR (conventional dB)
    of ``source`` around the window's estimated rate and its harmonic, over the rest of
    the band (:func:`distraction.metrics.snr_db`).

    The denoiser turns any input into a clean periodic waveform, so its own spectral
    quality does not tell a pulse from none (a still photo scores up to 10 dB); whether
    its rate is present in what it was given does.
    """
    window = round(settings.timeline_window_s * fs)
    out = np.full(len(rates), np.nan)
    for k, (rate, start) in enumerate(zip(rates, starts_s, strict=True)):
        segment = source[round(start * fs) : round(start * fs) + window]
        if np.isfinite(rate) and segment.size and np.any(segment != segment[0]):
            out[k] = metrics.snr_db(
                segment,
                fs,
                float(rate),
                band_total=settings.snr_band,
                tolerance_hz=settings.tolerance_hz,
                convention="power",
            )
    return out


def window_reasons(
    quality_db: np.ndarray,
    pulse_db: np.ndarray,
    face: np.ndarray,
    settings: TaskSettings,
) -> list[str]:
    """Why each window gets no rate (``""``: it gets one): no face in most of its frames
    (:data:`MIN_FACE_FRACTION`), a quality index below ``settings.min_quality_db`` (noise),
    or a rate its input does not show (``pulse_db`` below ``settings.min_pulse_db``: what
    the denoiser makes of a still image)."""
    reasons = []
    for quality, pulse, found in zip(quality_db, pulse_db, face, strict=True):
        if found < MIN_FACE_FRACTION:
            reasons.append("no face")
        elif not (np.isfinite(quality) and quality >= settings.min_quality_db):
            reasons.append(f"quality below {settings.min_quality_db:g} dB")
        elif not (np.isfinite(pulse) and pulse >= settings.min_pulse_db):
            reasons.append(
                f"no pulse at this rate in the video (below {settings.min_pulse_db:g} dB)"
            )
        else:
            reasons.append("")
    return reasons


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
    ).rename(columns={"start_s": "window_start_s", "end_s": "window_end_s"})
    # A number (NaN without ground truth), as the rates.csv reads back, not None.
    rates["true_rate"] = rates["true_rate"].astype(float)
    # What the denoiser was given: the CAN signal, with the corruption cancelled first
    # when the denoiser cancels it.
    source = (
        denoised_group["cancelled"].values
        if "cancelled" in denoised_group
        else corruption["can_conditioned"].values
    )
    rates["pulse_db"] = pulse_support_db(
        metrics.normalise_for_evaluation(source, fs, settings.band),
        fs,
        rates["rate"].to_numpy(float),
        rates["window_start_s"].to_numpy(float),
        settings,
    )
    rates["reason"] = window_reasons(
        rates["quality_db"].to_numpy(float),
        rates["pulse_db"].to_numpy(float),
        _face_in_windows(store, rates, float(corruption["time_out"].values[0])),
        settings,
    )
    rates["peak_rate"] = rates["rate"]
    rates["rate"] = rates["rate"].where(rates["reason"] == "")
    rates = rates[RATE_COLUMNS]
    waveforms = pd.DataFrame(
        {"time_s": corruption["time_out"].values, "can": corruption["can_conditioned"].values}
    )
    if "cancelled" in denoised_group:
        waveforms["cancelled"] = denoised_group["cancelled"].values
    waveforms["denoised"] = denoised
    if wave is not None:
        waveforms["truth"] = wave
    hrv = None
    if task == "hr":
        hrv = pd.DataFrame(
            [{**identity, **hrv_row(rates, denoised, fs, settings)}], columns=HRV_COLUMNS
        )
    return Timeline(rates, waveforms, hrv)


def _face_in_windows(store: Path, rates: pd.DataFrame, start: float) -> np.ndarray:
    """The share of each window's frames with the tracked face (ones without tracking)."""
    prepared = open_group(store, "prepared")
    if "face_found" not in prepared:
        return np.ones(len(rates))
    return face_fractions(
        prepared["time"].values,
        prepared["face_found"].values,
        start + rates["window_start_s"].to_numpy(float),
        start + rates["window_end_s"].to_numpy(float),
    )


def hrv_row(
    rates: pd.DataFrame, denoised: np.ndarray, fs: float, settings: TaskSettings
) -> dict[str, Any]:
    """The HRV of an HR timeline (withheld, with the reason, where it cannot be trusted).

    Parameters
    ----------
    rates
        The timeline's windows (``reason`` empty where a window has a rate; ``quality_db``).
    denoised
        The denoised pulse at ``fs``.
    fs
        Its rate, Hz.
    settings
        ``hrv`` (off: withheld, :data:`HRV_OFF`), ``hrv_min_quality_db`` and the band.

    Returns
    -------
    dict
        ``status``, ``reason`` and, when measured, the :func:`distraction.hrv.hrv_measures`.
    """
    if settings.task != "hr":
        raise ValueError("HRV: measured on the pulse (task hr) only")
    if not settings.hrv:
        return {"status": "withheld", "reason": HRV_OFF}
    reliable = rates["reason"] == ""
    if rates.empty or not reliable.any():
        reason = "shorter than one timeline window" if rates.empty else "no window with a rate"
        return {"status": "withheld", "reason": reason}
    if not reliable.all():
        # The beats of unreliable windows (no face, noise) would enter the intervals.
        return {"status": "withheld", "reason": f"{(~reliable).sum()} window(s) without a rate"}
    return hrv_measures(
        metrics.normalise_for_evaluation(denoised, fs, settings.band),
        fs,
        settings.band,
        quality_db=float(np.median(rates["quality_db"].to_numpy(float))),
        min_quality_db=settings.hrv_min_quality_db,
    )


def timeline_job(
    store: Path,
    settings: TaskSettings,
    *,
    rates: Path,
    waveforms: Path,
    hrv: Path | None = None,
    figure: Path | None = None,
    record_failures: bool = False,
) -> str:
    """The timeline job: :func:`video_timeline`, written as CSVs (the HRV one for HR only)
    and a figure (the rate over time beside the truth, and the quality). With
    ``record_failures``, a failure (:mod:`distraction.failures`) gives the failed timeline
    instead: no windows, for HR an HRV row with status ``failed`` and the reason, a figure
    stating it. Returns the job's one-line summary."""
    from distraction import figures
    from distraction.failures import recording_failures
    from distraction.files import write_csv
    from distraction.store import video_of

    def write(failure):
        _, attrs = video_of(store)
        identity = {
            "dataset": str(attrs.get("dataset", "")),
            "video": str(attrs.get("recording", store.name)),
            "task": settings.task,
        }
        write_outputs(failed_timeline(identity, f"timeline failed: {failure.reason}"), identity)

    def write_outputs(result: Timeline, identity: dict[str, str]) -> None:
        write_csv(result.rates, rates)
        write_csv(result.waveforms, waveforms)
        if result.hrv is not None and hrv is not None:
            write_csv(result.hrv, hrv)
        name = f"{identity['dataset']}/{identity['video']}"
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
        output=hrv if hrv is not None else rates,
        strip=str(store),
    ) as failure:
        result = video_timeline(store, settings)
        write_outputs(result, _identity(store))
    if failure.failed:
        return f"timeline {store} ({settings.task}): failed: {failure.reason}"
    if result.failed:
        return f"timeline {store} ({settings.task}): failed: {result.failed}"
    hrv_status = "" if result.hrv is None else f", HRV {result.hrv['status'].iloc[0]}"
    if result.status != "ok":
        return f"timeline {store} ({settings.task}): {result.status} ({result.reason}){hrv_status}"
    return (
        f"timeline {store} ({settings.task}): {len(result.reliable)} of {len(result.rates)} "
        f"windows reliable, median rate {result.median_rate:.1f}/min{hrv_status}"
    )
