"""Aggregate reports: per-window, per-video and summary tables (pandas); the aggregate job.

The plots live in :mod:`distraction.figures`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from distraction import figures
from distraction.atomic import atomic_path
from distraction.errors import InputError
from distraction.files import write_csv
from distraction.metrics import bootstrap_mae_ci, bootstrap_mae_difference_ci, summarise

log = logging.getLogger(__name__)

# `task` is what is measured (hr or br); `recording_task` is the dataset's own task or
# condition label of the recording (e.g. T1 in MMSE-HR, flicker in the synthetic data).
WINDOW_COLUMNS = [
    "dataset",
    "video",
    "subject",
    "recording_task",
    "task",
    "method",
    "window_start_s",
    "window_end_s",
    "true_rate",
    "est_rate",
    "snr_db",
    "snr_db_conventional",
    "waveform_mae",
]
FAILURE_COLUMNS = [
    "dataset",
    "video",
    "subject",
    "recording_task",
    "task",
    "status",
    "stage",
    "reason",
    # Which kind of failure (distraction.failures): "bad input" stays until the input is
    # fixed, "transient" is retried by the next run; and how to retry it.
    "kind",
    "retry",
]


def read_windows(paths: Sequence[Path]) -> pd.DataFrame:
    """Concatenate per-video evaluation CSVs, in a stable order."""
    text = {"subject": str, "video": str, "dataset": str, "recording_task": str}
    frames = [pd.read_csv(p, dtype=text, keep_default_na=False, na_values=[""]) for p in paths]
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(columns=WINDOW_COLUMNS)
    table = pd.concat(frames, ignore_index=True)
    return table.sort_values(
        ["dataset", "task", "method", "video", "window_start_s"], kind="stable", ignore_index=True
    )[WINDOW_COLUMNS]


def per_video(windows: pd.DataFrame) -> pd.DataFrame:
    """One row per dataset × video × task × method: mean rates and errors over its windows."""
    table = windows.assign(abs_error=(windows["est_rate"] - windows["true_rate"]).abs())
    keys = ["dataset", "video", "subject", "recording_task", "task", "method"]
    grouped = table.groupby(keys, sort=True, dropna=False)
    return grouped.agg(
        windows=("est_rate", "size"),
        true_rate=("true_rate", "mean"),
        est_rate=("est_rate", "mean"),
        mae=("abs_error", "mean"),
        snr_db=("snr_db", "mean"),
        snr_db_conventional=("snr_db_conventional", "mean"),
        waveform_mae=("waveform_mae", "mean"),
    ).reset_index()


SUMMARY_METRICS = [
    "mae",
    "mae_ci_low",
    "mae_ci_high",
    "rmse",
    "pearson_r",
    "snr_db",
    "snr_db_conventional",
    "waveform_mae",
    "windows",
    "windows_with_truth",
    "subjects",
]
#: Resamples of the subject-level bootstrap of every MAE's 95 % interval.
BOOTSTRAP_RESAMPLES = 2000


def summary(
    windows: pd.DataFrame, by: Sequence[str] = ("dataset", "task", "method")
) -> pd.DataFrame:
    """One row per group (default dataset × task × method): MAE with its 95 % interval
    (bootstrap over subjects: each resampled subject brings all its windows), RMSE, Pearson
    r of the rates, mean SNR (the reference's 20·log10 of a power ratio, and conventional
    dB), mean waveform MAE, and the numbers of windows and subjects."""
    keys = list(by)
    rows: list[dict[str, Any]] = []
    for values, group in windows.groupby(keys, sort=True):
        true, est = group["true_rate"].to_numpy(float), group["est_rate"].to_numpy(float)
        stats = summarise(true, est)
        subjects = (group["dataset"] + ":" + group["subject"].fillna("")).to_numpy()
        low, high = bootstrap_mae_ci(est - true, subjects, n_resamples=BOOTSTRAP_RESAMPLES)
        rows.append(
            {
                **dict(zip(keys, values, strict=True)),
                "mae": stats["mae"],
                "mae_ci_low": low,
                "mae_ci_high": high,
                "rmse": stats["rmse"],
                "pearson_r": stats["pearson_r"],
                "snr_db": group["snr_db"].mean(),
                "snr_db_conventional": group["snr_db_conventional"].mean(),
                "waveform_mae": group["waveform_mae"].mean(),
                "windows": len(group),
                "windows_with_truth": int(stats["n"]),
                "subjects": len(set(subjects[np.isfinite(true) & np.isfinite(est)])),
            }
        )
    return pd.DataFrame(rows, columns=[*keys, *SUMMARY_METRICS])


def read_failures(paths: Sequence[Path]) -> pd.DataFrame:
    """Videos that failed or were skipped, with the stage, reason, kind of failure and how
    to retry it, from status CSVs (those of an earlier version, without kind and retry,
    leave them empty)."""
    frames = [pd.read_csv(p, dtype=str, keep_default_na=False) for p in paths]
    if not frames:
        return pd.DataFrame(columns=FAILURE_COLUMNS)
    table = pd.concat(frames, ignore_index=True).reindex(columns=FAILURE_COLUMNS, fill_value="")
    table = table[table["status"] != "ok"]
    return table.sort_values(["dataset", "video", "task"], ignore_index=True)


COMPARISON_COLUMNS = [
    "dataset",
    "recording_task",
    "task",
    "reference",
    "method",
    "mae_reference",
    "mae_method",
    "mae_difference",
    "ci_low",
    "ci_high",
    "windows",
    "subjects",
    "ranking",
]


def comparisons(
    windows: pd.DataFrame,
    reference: str = "denoised",
    by: Sequence[str] = ("dataset", "recording_task", "task"),
) -> pd.DataFrame:
    """``reference`` against every other method on the same windows, per group.

    The MAE difference (reference minus method) gets a paired subject-level bootstrap 95 %
    interval; ``ranking`` says which is better only where the interval excludes 0
    (``"<reference> better"``, ``"<method> better"``), else ``"no ranking"``.
    """
    keys = list(by)
    window_keys = ["dataset", "video", "subject", "window_start_s"]
    rows: list[dict[str, Any]] = []
    for values, group in windows.groupby(keys, sort=True):
        errors = group.assign(error=group["est_rate"] - group["true_rate"])
        own = errors[errors["method"] == reference][[*window_keys, "error"]]
        if own.empty:
            continue
        for method in sorted(set(errors["method"]) - {reference}):
            other = errors[errors["method"] == method][[*window_keys, "error"]]
            paired = own.merge(other, on=window_keys, suffixes=("_ref", "_other"))
            paired = paired[np.isfinite(paired["error_ref"]) & np.isfinite(paired["error_other"])]
            subjects = (paired["dataset"] + ":" + paired["subject"].fillna("")).to_numpy()
            a, b = paired["error_ref"].abs().to_numpy(), paired["error_other"].abs().to_numpy()
            low, high = bootstrap_mae_difference_ci(a, b, subjects, n_resamples=BOOTSTRAP_RESAMPLES)
            ranking = "no ranking"
            if high < 0:
                ranking = f"{reference} better"
            elif low > 0:
                ranking = f"{method} better"
            rows.append(
                {
                    **dict(zip(keys, values, strict=True)),
                    "reference": reference,
                    "method": method,
                    "mae_reference": a.mean() if a.size else np.nan,
                    "mae_method": b.mean() if b.size else np.nan,
                    "mae_difference": (a.mean() - b.mean()) if a.size else np.nan,
                    "ci_low": low,
                    "ci_high": high,
                    "windows": len(paired),
                    "subjects": len(set(subjects)),
                    "ranking": ranking,
                }
            )
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)


def aggregate(
    inputs: Sequence[Path], outdir: Path, *, statuses: Sequence[Path] = ()
) -> dict[str, int]:
    """Build windows.csv, videos.csv, summary.csv, summary_by_recording_task.csv,
    comparisons.csv (the denoised signal against every other method, per condition),
    failures.csv and, in ``agreement/``, an agreement plot per task.

    The error tables and plots cover the windows with ground truth only: without any, the
    tables have their header and no row, and no plot is drawn (nor for a task not run)."""
    outdir = Path(outdir)
    windows = read_windows(inputs)
    write_csv(windows, outdir / "windows.csv")
    write_csv(per_video(windows), outdir / "videos.csv")
    with_truth = windows[windows["true_rate"].notna() & windows["est_rate"].notna()]
    scored = summary(windows)
    write_csv(scored[scored["windows_with_truth"] > 0], outdir / "summary.csv")
    by_condition = summary(windows, by=("dataset", "recording_task", "task", "method"))
    write_csv(
        by_condition[by_condition["windows_with_truth"] > 0],
        outdir / "summary_by_recording_task.csv",
    )
    compared = comparisons(windows)
    write_csv(compared[compared["windows"] > 0], outdir / "comparisons.csv")
    write_csv(read_failures(statuses), outdir / "failures.csv")
    plots = outdir / "agreement"
    plots.mkdir(parents=True, exist_ok=True)
    for stale in plots.glob("*.png"):
        stale.unlink()
    for task, group in with_truth.groupby("task"):
        figures.plot_agreement(group, plots / f"{task}.png")
    return {"videos": int(windows["video"].nunique()), "windows": len(windows)}


ESTIMATE_COLUMNS = [
    "dataset",
    "video",
    "task",
    "status",
    "median_rate",
    "median_quality_db",
    "reliable_windows",
    "windows",
    "true_rate",
    "hrv_status",
    "rmssd_ms",
    "sdnn_ms",
    "reason",
]


def _read(paths: Sequence[Path]) -> pd.DataFrame:
    text = {"dataset": str, "video": str, "task": str, "status": str, "reason": str}
    frames = [pd.read_csv(p, dtype=text, keep_default_na=False, na_values=[""]) for p in paths]
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def estimates(
    statuses: Sequence[Path], rates: Sequence[Path], hrv: Sequence[Path] = ()
) -> pd.DataFrame:
    """The headline of a run, one row per video and task (:data:`ESTIMATE_COLUMNS`).

    ``status`` is ``failed`` (with the reason from the status CSVs), ``no reliable
    estimate`` (no timeline window was given a rate; the reason is the windows' most
    common one) or ``ok``, with the median rate and quality of the reliable windows, the
    median true rate where there is ground truth and, for HR, the HRV's status, RMSSD and
    SDNN.
    """
    keys = ["dataset", "video", "task"]
    status_rows = _read(statuses)
    windows = _read(rates)
    hrv_rows = _read(hrv)
    by_video = dict(list(windows.groupby(keys, sort=False))) if not windows.empty else {}
    hrv_of = (
        {tuple(r[k] for k in keys): r for _, r in hrv_rows.iterrows()} if not hrv_rows.empty else {}
    )
    rows = []
    for _, status in status_rows.iterrows():
        key = tuple(status[k] for k in keys)
        row: dict[str, Any] = {
            **dict(zip(keys, key, strict=True)),
            "reliable_windows": 0,
            "windows": 0,
        }
        if key in hrv_of:
            h = hrv_of[key]
            row.update(hrv_status=h["status"], rmssd_ms=h["HRV_RMSSD"], sdnn_ms=h["HRV_SDNN"])
        if status["status"] == "failed":
            row.update(status="failed", reason=status["reason"])
            rows.append(row)
            continue
        group = by_video.get(key)
        if group is None or group.empty:
            row.update(status="no reliable estimate", reason="shorter than one timeline window")
            rows.append(row)
            continue
        reliable = group[group["rate"].notna()]
        row.update(
            windows=len(group),
            reliable_windows=len(reliable),
            true_rate=group["true_rate"].median(),
        )
        if reliable.empty:
            reason = str(group["reason"].value_counts().index[0])
            row.update(status="no reliable estimate", reason=f"every window: {reason}")
        else:
            row.update(
                status="ok",
                median_rate=reliable["rate"].median(),
                median_quality_db=reliable["quality_db"].median(),
                reason="",
            )
        rows.append(row)
    table = pd.DataFrame(rows, columns=ESTIMATE_COLUMNS)
    return table.sort_values(keys, kind="stable", ignore_index=True)


def estimates_job(
    statuses: Sequence[Path], rates: Sequence[Path], hrv: Sequence[Path], output: Path
) -> str:
    """The ``estimates`` job: :func:`estimates` written to ``output``; returns its summary."""
    table = estimates(statuses, rates, hrv)
    write_csv(table, output)
    counts = table["status"].value_counts()
    return (
        f"estimates: {len(table)} video(s) x task(s) -> {output}: {counts.get('ok', 0)} ok, "
        f"{counts.get('no reliable estimate', 0)} without a reliable estimate, "
        f"{counts.get('failed', 0)} failed"
    )


def failure_counts(statuses: Sequence[Path]) -> dict[str, int]:
    """Videos (dataset × video) in status CSVs, and how many of them failed (in any task)
    or were skipped (too short for one window, in any task, without failing)."""
    frames = [pd.read_csv(p, dtype=str, keep_default_na=False) for p in statuses]
    if not frames:
        return {"videos": 0, "failed": 0, "skipped": 0}
    table = pd.concat(frames, ignore_index=True)
    status = table.groupby(["dataset", "video"])["status"].agg(set)
    failed = status.map(lambda s: "failed" in s)
    skipped = status.map(lambda s: "skipped" in s) & ~failed
    return {"videos": len(status), "failed": int(failed.sum()), "skipped": int(skipped.sum())}


def failure_line(counts: dict[str, int]) -> str:
    """``"3 of 10 videos failed, 1 skipped (see failures.csv)"``."""
    line = f"{counts['failed']} of {counts['videos']} videos failed"
    if counts["skipped"]:
        line += f", {counts['skipped']} skipped"
    return line + (" (see failures.csv)" if counts["failed"] or counts["skipped"] else "")


def check_failed_fraction(
    counts: dict[str, int], max_failed_fraction: float | None, failures: Path
) -> None:
    """Raise :class:`InputError` naming ``failures`` when more than ``max_failed_fraction``
    of the videos failed (``report.max_failed_fraction``; None never raises)."""
    if max_failed_fraction is None or not counts["videos"]:
        return
    if counts["failed"] > max_failed_fraction * counts["videos"]:
        raise InputError(
            f"{failures}: {counts['failed']} of {counts['videos']} videos failed, more than "
            f"report.max_failed_fraction {max_failed_fraction:g} allows"
        )


def aggregate_job(
    inputs: Sequence[Path],
    outdir: Path,
    *,
    statuses: Sequence[Path] = (),
    max_failed_fraction: float | None = None,
) -> str:
    """The ``aggregate`` job: every report (:func:`aggregate`), then one log line saying how
    many videos failed; with ``max_failed_fraction``, :class:`InputError` (a non-zero exit)
    after the reports are written when more videos failed. Returns the job's summary."""
    summary = aggregate(inputs, outdir, statuses=statuses)
    counts = failure_counts(statuses)
    line = f"aggregate: {failure_line(counts)}"
    (log.warning if counts["failed"] else log.info)(line)
    check_failed_fraction(counts, max_failed_fraction, Path(outdir) / "failures.csv")
    return (
        f"aggregate: {summary['videos']} videos with windows, {summary['windows']} windows -> "
        f"{outdir}; {failure_line(counts)}"
    )


def check_failures_job(
    statuses: Sequence[Path], max_failed_fraction: float | None, failures: Path, output: Path
) -> str:
    """The workflow's ``check_failures`` job (``report.max_failed_fraction``): a separate
    job, so that its failure leaves the aggregate's reports in place (Snakemake removes the
    outputs of a failed job). Writes its one-line verdict to ``output`` when it passes."""
    counts = failure_counts(statuses)
    check_failed_fraction(counts, max_failed_fraction, failures)
    line = f"check-failures: {failure_line(counts)}, at most {max_failed_fraction} allowed"
    with atomic_path(output) as tmp:
        Path(tmp).write_text(line + "\n")
    return line
