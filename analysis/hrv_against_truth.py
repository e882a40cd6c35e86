"""HRV of the denoised pulse against neurokit2 on the true PPG, on demo-like clips.

Renders clean synthetic clips as the demo dataset does (40 s, 160x120, 30 fps; subjects
``0..N-1``), prepares and runs them exactly as the workflow's jobs do for the demo (format
``synth``: the centre crop), and prints per clip the HRV status with RMSSD and SDNN beside
those neurokit2 finds on the clip's true PPG (100 Hz, ``nk.ppg_peaks`` + ``nk.hrv_time``).

Run from the repo root with the venv active::

    python analysis/hrv_against_truth.py /tmp/hrv-clips 4
"""

from __future__ import annotations

import sys
from pathlib import Path

import _common
import pandas as pd


def main(folder: Path, subjects: int) -> None:
    import neurokit2 as nk

    from distraction.api import _networks
    from distraction.datasets import get_loader
    from distraction.infer import run_stages
    from distraction.prepare import prepare_recording
    from distraction.settings import merged_config, prepare_settings, task_settings
    from distraction.synth import write_clip
    from distraction.timeline import video_timeline

    config = merged_config()
    rows = []
    for subject in range(subjects):
        base = folder / f"s{subject:02d}" / "clean"
        base.parent.mkdir(parents=True, exist_ok=True)
        if not base.with_suffix(".avi").exists():
            clip = {"duration_s": 40.0, "width": 160, "height": 120, "seed": 0}
            write_clip(
                base.with_suffix(".avi"), base.with_suffix(".csv"),
                subject_index=subject, condition="clean", **clip,
            )  # fmt: skip
        loader = get_loader("generic", "demo", folder)
        recording = loader.recording(f"s{subject:02d}/clean")
        store = folder / f"s{subject:02d}.zarr"
        if not store.exists():
            prepare_recording(
                loader, recording, store, settings=prepare_settings(config), fmt="synth"
            )
            settings = task_settings("hr", config)
            run_stages(
                store, settings, ["infer-can", "corruption", "denoise"], **_networks("hr", config)
            )
        hrv = video_timeline(store, task_settings("hr", config)).hrv.iloc[0]
        truth = pd.read_csv(base.with_suffix(".csv"))
        fs = round(1 / float(truth["time"].diff().median()))
        _, info = nk.ppg_peaks(truth["ppg"].to_numpy(float), sampling_rate=fs)
        reference = nk.hrv_time(info["PPG_Peaks"], sampling_rate=fs).iloc[0]
        rows.append(
            {
                "clip": f"s{subject:02d}/clean",
                "status": hrv["status"],
                "reason": hrv["reason"],
                "rmssd": hrv["HRV_RMSSD"],
                "rmssd_truth": reference["HRV_RMSSD"],
                "sdnn": hrv["HRV_SDNN"],
                "sdnn_truth": reference["HRV_SDNN"],
            }
        )
    for row in rows:
        row["rmssd_error_%"] = 100 * (row["rmssd"] / row["rmssd_truth"] - 1)
        row["sdnn_error_%"] = 100 * (row["sdnn"] / row["sdnn_truth"] - 1)
    _common.print_table(rows, list(rows[0]))


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
