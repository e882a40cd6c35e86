"""HRV of a finished run's denoised pulses against the truth, ungated, beside their quality.

    python analysis/hrv_gate.py results/train_faces --dataset faces_validation

For every HR store of a synthetic dataset whose timeline gave every window a rate, measures
the HRV of the stored denoised pulse (or ``--signal``) as the timeline does
(``distraction.hrv.hrv_measures``, here with no quality gate) and, with neurokit2, of the
clip's true PPG (the rendered ``<video>.csv`` at 100 Hz: ``nk.ppg_peaks`` + ``nk.hrv_time``),
and prints them with the timeline's median quality (``quality_db``, what
``timeline.hrv_min_quality_db`` gates), sorted by it, and the share of clips within 15 % of the
truth in RMSSD and SDNN above each quality. Whether HRV is measured at all
(``timeline.hrv``) is chosen from this table on validation identities.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import _common  # noqa: F401  (quiet TensorFlow's logs)
import numpy as np
import pandas as pd

TOLERANCE = 0.15


def truth_hrv(csv: Path) -> dict[str, float]:
    import neurokit2 as nk

    table = pd.read_csv(csv)
    fs = 1.0 / float(np.median(np.diff(table["time"])))
    ppg = nk.signal_resample(
        table["ppg"].to_numpy(), sampling_rate=round(fs), desired_sampling_rate=100
    )
    peaks = nk.ppg_peaks(ppg, sampling_rate=100)[1]["PPG_Peaks"]
    measures = nk.hrv_time(peaks, sampling_rate=100)
    return {
        "true_rmssd": float(measures["HRV_RMSSD"].iloc[0]),
        "true_sdnn": float(measures["HRV_SDNN"].iloc[0]),
    }


def main() -> None:
    from distraction import metrics
    from distraction.hrv import hrv_measures
    from distraction.settings import task_settings
    from distraction.store import open_group

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("--dataset", required=True)
    parser.add_argument(
        "--signal",
        choices=["denoised", "lstm", "cancelled"],
        default="denoised",
        help="the stored pulse to measure (default: the stage's output, as the timeline does)",
    )
    args = parser.parse_args()
    settings = task_settings("hr")
    root = args.results / args.dataset
    rows = []
    for store in sorted((root / "stores").glob("*/*.zarr")):
        recording = f"{store.parent.name}/{store.stem}"
        rates = pd.read_csv(root / "timeline" / "hr" / f"{recording}.rates.csv")
        if rates.empty or rates["rate"].isna().any():
            continue  # the timeline withholds HRV before any quality gate
        denoised = open_group(store, "denoised_hr")
        fs = float(denoised.attrs["fs_out"])
        pulse = metrics.normalise_for_evaluation(denoised[args.signal].values, fs, settings.band)
        quality = float(np.median(rates["quality_db"]))
        ours = hrv_measures(pulse, fs, settings.band, quality_db=quality, min_quality_db=-np.inf)
        row = {"recording": recording, "quality_db": quality, "status": ours["status"]}
        row |= {"rmssd": ours["HRV_RMSSD"], "sdnn": ours["HRV_SDNN"]}
        row |= truth_hrv(root / "videos" / f"{recording}.csv")
        rows.append(row)
    table = pd.DataFrame(rows).sort_values("quality_db")
    table["rmssd_error"] = table["rmssd"] / table["true_rmssd"] - 1
    table["sdnn_error"] = table["sdnn"] / table["true_sdnn"] - 1
    table["within"] = (table[["rmssd_error", "sdnn_error"]].abs() <= TOLERANCE).all(axis=1)
    print(table.to_markdown(index=False, floatfmt=".2f"))
    for gate in (1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0):
        above = table[table["quality_db"] >= gate]
        print(
            f"quality >= {gate:g} dB: {len(above)} clips, "
            f"{int(above['within'].sum())} within {TOLERANCE:.0%} of the truth"
        )


if __name__ == "__main__":
    main()
