"""Aggregate reports: per-window, per-video and summary CSVs and their plots (pandas)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from distraction.metrics import summarise

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
]
# Fixed float formatting so the same numbers always give byte-identical CSVs.
FLOAT_FORMAT = "%.6f"


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """Write a CSV atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        frame.to_csv(tmp, index=False, float_format=FLOAT_FORMAT)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


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
        waveform_mae=("waveform_mae", "mean"),
    ).reset_index()


SUMMARY_METRICS = [
    "mae",
    "rmse",
    "pearson_r",
    "snr_db",
    "waveform_mae",
    "windows",
    "windows_with_truth",
]


def summary(
    windows: pd.DataFrame, by: Sequence[str] = ("dataset", "task", "method")
) -> pd.DataFrame:
    """One row per group (default dataset × task × method): MAE, RMSE, Pearson r of the
    rates, mean SNR, mean waveform MAE and the number of windows."""
    keys = list(by)
    rows: list[dict[str, Any]] = []
    for values, group in windows.groupby(keys, sort=True):
        stats = summarise(group["true_rate"].to_numpy(float), group["est_rate"].to_numpy(float))
        rows.append(
            {
                **dict(zip(keys, values, strict=True)),
                "mae": stats["mae"],
                "rmse": stats["rmse"],
                "pearson_r": stats["pearson_r"],
                "snr_db": group["snr_db"].mean(),
                "waveform_mae": group["waveform_mae"].mean(),
                "windows": len(group),
                "windows_with_truth": int(stats["n"]),
            }
        )
    return pd.DataFrame(rows, columns=[*keys, *SUMMARY_METRICS])


def read_failures(paths: Sequence[Path]) -> pd.DataFrame:
    """Videos that failed or were skipped, with the stage and reason, from status CSVs."""
    frames = [pd.read_csv(p, dtype=str, keep_default_na=False) for p in paths]
    if not frames:
        return pd.DataFrame(columns=FAILURE_COLUMNS)
    table = pd.concat(frames, ignore_index=True)[FAILURE_COLUMNS]
    table = table[table["status"] != "ok"]
    return table.sort_values(["dataset", "video", "task"], ignore_index=True)


def plot_agreement(windows: pd.DataFrame, path: Path) -> None:
    """Scatter (estimated vs true) and Bland–Altman plots, one column per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = sorted(windows["method"].unique()) or ["none"]
    fig, axes = plt.subplots(2, len(methods), figsize=(3.2 * len(methods), 6.4), squeeze=False)
    for col, method in enumerate(methods):
        data = windows[windows["method"] == method].dropna(subset=["true_rate", "est_rate"])
        true, est = data["true_rate"].to_numpy(float), data["est_rate"].to_numpy(float)
        ax = axes[0, col]
        ax.scatter(true, est, s=10)
        if true.size:
            lo, hi = float(min(true.min(), est.min())), float(max(true.max(), est.max()))
            ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax.set(title=method, xlabel="true rate", ylabel="estimated rate")
        ax = axes[1, col]
        mean, diff = (true + est) / 2, est - true
        ax.scatter(mean, diff, s=10)
        if diff.size:
            bias, spread = float(diff.mean()), 1.96 * float(diff.std())
            for y, style in ((bias, "-"), (bias + spread, "--"), (bias - spread, "--")):
                ax.axhline(y, color="k", ls=style, lw=0.8)
        ax.set(xlabel="mean of true and estimated", ylabel="estimated − true")
    fig.tight_layout()
    _save_figure(fig, path)
    plt.close(fig)


def _save_figure(fig: Any, path: Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex}{path.suffix}")
    fig.savefig(tmp, dpi=100, metadata={"Software": None})
    os.replace(tmp, path)


def aggregate(
    inputs: Sequence[Path], outdir: Path, *, statuses: Sequence[Path] = ()
) -> dict[str, int]:
    """Build windows.csv, videos.csv, summary.csv, failures.csv and agreement plots per task."""
    outdir = Path(outdir)
    windows = read_windows(inputs)
    write_csv(windows, outdir / "windows.csv")
    write_csv(per_video(windows), outdir / "videos.csv")
    write_csv(summary(windows), outdir / "summary.csv")
    by_condition = ("dataset", "recording_task", "task", "method")
    write_csv(summary(windows, by=by_condition), outdir / "summary_by_recording_task.csv")
    write_csv(read_failures(statuses), outdir / "failures.csv")
    for task in ("hr", "br"):
        plot_agreement(windows[windows["task"] == task], outdir / f"agreement_{task}.png")
    return {"videos": int(windows["video"].nunique()), "windows": len(windows)}


def triptych(
    frame: np.ndarray, attention: np.ndarray, inverse: np.ndarray, path: Path, title: str = ""
) -> None:
    """Frame / attention mask / inverse mask, as in the paper's figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(9, 3.2))
    axes[0].imshow(np.clip(frame / 255.0, 0, 1))
    axes[0].set_title("frame (34×34)")
    axes[1].imshow(attention, cmap="viridis")
    axes[1].set_title("attention mask")
    axes[2].imshow(inverse, cmap="gray", vmin=0, vmax=1)
    axes[2].set_title("inverse mask")
    for ax in axes:
        ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    _save_figure(fig, path)
    plt.close(fig)


def failure_note(path: Path, title: str, reason: str) -> None:
    """A figure that says why a video has no example figure (it failed or was skipped)."""
    import textwrap

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 3.2))
    ax.axis("off")
    ax.text(0.5, 0.5, textwrap.fill(f"no figure: {reason}", 100), ha="center", va="center")
    fig.suptitle(title)
    _save_figure(fig, path)
    plt.close(fig)


def plot_waveforms(
    time: np.ndarray,
    signals: dict[str, np.ndarray],
    path: Path,
    title: str = "",
    seconds: float = 10.0,
) -> None:
    """Example waveforms (e.g. CAN vs denoised vs truth) over the first ``seconds``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keep = time - time[0] <= seconds
    fig, ax = plt.subplots(figsize=(9, 3.2))
    for name, values in signals.items():
        v = np.asarray(values, float)[keep]
        scale = np.nanmax(np.abs(v - np.nanmean(v))) or 1.0
        ax.plot(time[keep], (v - np.nanmean(v)) / scale, label=name, lw=1)
    ax.set(xlabel="time (s)", ylabel="normalised amplitude", title=title)
    ax.legend(loc="upper right")
    fig.tight_layout()
    _save_figure(fig, path)
    plt.close(fig)
