"""Example figures of one video, read from its Zarr store."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from distraction.report import failure_note, plot_waveforms, triptych
from distraction.store import open_group, upstream_failure


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
