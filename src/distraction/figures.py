"""Every plot of the project: agreement plots, learning curves, and the example figures of
one video (the ``figures`` job, which reads its Zarr store). Each figure is written
atomically, with matplotlib's Agg backend (no display).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from distraction.atomic import atomic_path
from distraction.store import open_group, upstream_failure

log = logging.getLogger(__name__)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save_figure(fig: Any, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, metadata={"Software": None})


def plot_agreement(windows: pd.DataFrame, path: Path) -> None:
    """Scatter (estimated vs true) and Bland–Altman plots, one column per method with
    windows that have both rates."""
    windows = windows.dropna(subset=["true_rate", "est_rate"])
    methods = sorted(windows["method"].unique())
    if not methods:
        raise ValueError("plot_agreement: no window has both a true and an estimated rate")
    plt = _pyplot()

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


def triptych(
    frame: np.ndarray, attention: np.ndarray, inverse: np.ndarray, path: Path, title: str = ""
) -> None:
    """Frame / attention mask / inverse mask, as in the paper's figure."""
    plt = _pyplot()

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

    plt = _pyplot()

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
    plt = _pyplot()

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


def video_figures(store: Path, task: str, triptych_path: Path, waveforms_path: Path) -> None:
    """Write the frame/attention/inverse-mask triptych (middle frame) and example waveforms.

    A video that failed an earlier stage gets two figures stating the reason instead.
    """
    # The network stages pass a failure on, so the last group carries any earlier one.
    if failure := upstream_failure(store, f"denoised_{task}"):
        name = f"{failure.get('dataset', '')}/{failure.get('recording', '')} ({task.upper()})"
        reason = f"{failure.get('failed_stage', '')} failed: {failure['failed']}"
        for path in (triptych_path, waveforms_path):
            failure_note(path, name, reason)
        return
    prepared = open_group(store, "prepared")
    can = open_group(store, f"can_{task}")
    corruption = open_group(store, f"corruption_{task}")
    denoised = open_group(store, f"denoised_{task}")
    middle = prepared.sizes["time"] // 2
    name = f"{prepared.attrs.get('dataset', '')}/{prepared.attrs.get('recording', '')}"
    triptych(
        prepared["frames"][middle].values,
        can["attention_mask"][middle].values,
        corruption["inverse_mask"][middle].values,
        triptych_path,
        title=f"{name} ({task.upper()}), t = {float(prepared['time'][middle]):.1f} s",
    )
    signals = {
        "CAN": corruption["can_conditioned"].values,
        "denoised": denoised["denoised"].values,
    }
    waveform = "truth_ppg" if task == "hr" else "truth_resp"
    if waveform in corruption:
        signals["truth"] = np.nan_to_num(corruption[waveform].values)
    seconds = 10.0 if task == "hr" else 40.0
    plot_waveforms(
        corruption["time_out"].values, signals, waveforms_path, title=name, seconds=seconds
    )


def plot_timeline(rates: pd.DataFrame, path: Path, *, task: str, title: str = "") -> None:
    """The rate over time (the estimate's windows at their centres) beside the ground
    truth's rate where there is one, and each window's quality index beneath. Windows given
    no rate (no face, no pulse) show their spectral peak as grey crosses."""
    plt = _pyplot()

    unit = "beats/min" if task == "hr" else "breaths/min"
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(9, 5), sharex=True, gridspec_kw={"height_ratios": [2, 1]}
    )
    time = rates["time_s"].to_numpy(float)
    top.plot(time, rates["rate"].to_numpy(float), marker="o", ms=3, lw=1, label="estimate")
    if "peak_rate" in rates and rates["rate"].isna().any():
        gated = rates["rate"].isna().to_numpy()
        peaks = rates["peak_rate"].to_numpy(float)
        top.plot(time[gated], peaks[gated], "x", color="0.6", label="no rate (see reason)")
    truth = rates["true_rate"].to_numpy(float) if "true_rate" in rates else np.array([])
    if truth.size and np.isfinite(truth).any():
        top.plot(time, truth, "k--", lw=1, label="ground truth")
    top.set(ylabel=f"{task.upper()} ({unit})", title=title)
    top.legend(loc="upper right")
    bottom.plot(time, rates["quality_db"].to_numpy(float), marker=".", lw=1, color="tab:green")
    bottom.axhline(0, color="k", lw=0.5)
    bottom.set(xlabel="time (s), window centre", ylabel="quality (dB)")
    if not len(rates):
        top.text(0.5, 0.5, "shorter than one window", ha="center", transform=top.transAxes)
    elif rates["rate"].isna().all():
        top.text(0.5, 0.5, "no reliable estimate", ha="center", transform=top.transAxes)
    fig.tight_layout()
    _save_figure(fig, path)
    plt.close(fig)


def figures_job(
    store: Path, task: str, triptych_path: Path, waveforms_path: Path, *, record_failures: bool
) -> str:
    """The ``figures`` job: :func:`video_figures`. With ``record_failures``, a failure of
    the figures (any exception; the traceback of anything but bad input is logged first)
    gives two figures stating the reason instead of failing the job. Returns its summary."""
    from distraction.failures import recording_failures
    from distraction.store import video_of

    def write(failure):
        _, identity = video_of(store)
        title = f"{identity.get('dataset', '')}/{identity.get('recording', '')} ({task.upper()})"
        for path in (triptych_path, waveforms_path):
            failure_note(path, title, f"figures failed: {failure.reason}")

    with recording_failures(
        f"figures_{task}",
        lambda: video_of(store)[0],
        record=record_failures,
        write=write,
        store=store,
        output=triptych_path,
        strip=str(store),
    ) as failure:
        video_figures(store, task, triptych_path, waveforms_path)
    if failure.failed:
        return f"figures {store} ({task}): failed: {failure.reason}"
    return f"figures {store} ({task}): {triptych_path}, {waveforms_path}"


def plot_learning_curves(history: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Loss and validation loss per epoch (log scale when all positive)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    epochs = history["epoch"] if "epoch" in history else np.arange(1, len(history) + 1)
    fig = Figure(figsize=(6, 4))
    FigureCanvasAgg(fig)  # Agg canvas: no display, no global pyplot state
    ax = fig.add_subplot()
    for column in ("loss", "val_loss"):
        if column in history:
            ax.plot(epochs, history[column], marker="o", ms=3, label=column)
    values = history[[c for c in ("loss", "val_loss") if c in history]].to_numpy().ravel()
    if values.size and np.all(np.isfinite(values)) and np.all(values > 0):
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("MSE")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100)
