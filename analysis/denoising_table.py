"""Denoising benchmark table from a finished run of workflow/configs/train_synth.yaml.

    snakemake --cores 2 --configfile workflow/configs/train_synth.yaml
    python analysis/denoising_table.py results/train_synth/reports/summary_by_recording_task.csv

Prints, per task and condition of the held-out subjects (dataset synth_validation), MAE, RMSE, r,
mean SNR and waveform MAE of every method, and checks the targets of the denoising stage under
the corruption inside the task's band (HR: ``flicker``, 0.7-2.5 Hz; BR: ``slow_flicker``,
0.1-0.45 Hz, and ``illumination``, whose drifts, steps and moving light fall in the breathing
band): denoised SNR >= CAN SNR + 3 dB,
denoised MAE <= 0.7 x CAN MAE and below the baselines (POS and CHROM for HR; GREEN and ICA for
BR, which has no POS/CHROM); on clean clips, denoised MAE <= CAN MAE + 0.5.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

# The corruptions inside each task's band, and the baselines the denoiser must beat there.
IN_BAND = {
    "hr": (("flicker",), ("pos", "chrom")),
    "br": (("slow_flicker", "illumination"), ("green", "ica")),
}


def targets(table: pd.DataFrame, task: str) -> list[tuple[str, bool]]:
    """The issue's targets for one task, as (description, met) pairs."""

    def value(condition: str, method: str, column: str) -> float:
        row = table[(table["recording_task"] == condition) & (table["method"] == method)]
        return float(row[column].iloc[0]) if len(row) else float("nan")

    checks = []
    conditions, baselines = IN_BAND[task]
    for condition in conditions:
        if condition not in set(table["recording_task"]):
            continue
        can_snr = value(condition, "can", "snr_db")
        den_snr = value(condition, "denoised", "snr_db")
        can_mae, den_mae = value(condition, "can", "mae"), value(condition, "denoised", "mae")
        checks.append(
            (
                f"{condition}: SNR denoised {den_snr:.2f} >= CAN {can_snr:.2f} + 3 dB",
                den_snr >= can_snr + 3,
            )
        )
        checks.append(
            (
                f"{condition}: MAE denoised {den_mae:.2f} <= 0.7 x CAN {can_mae:.2f}",
                den_mae <= 0.7 * can_mae,
            )
        )
        for baseline in baselines:
            if baseline in set(table["method"]):
                other = value(condition, baseline, "mae")
                checks.append(
                    (
                        f"{condition}: MAE denoised {den_mae:.2f} < {baseline.upper()} {other:.2f}",
                        den_mae < other,
                    )
                )
    if "clean" in set(table["recording_task"]):
        can_mae, den_mae = value("clean", "can", "mae"), value("clean", "denoised", "mae")
        checks.append(
            (
                f"clean: MAE denoised {den_mae:.2f} <= CAN {can_mae:.2f} + 0.5",
                den_mae <= can_mae + 0.5,
            )
        )
    return checks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("summary", type=Path, help="summary_by_recording_task.csv")
    parser.add_argument("--dataset", default="synth_validation", help="held-out dataset")
    args = parser.parse_args(argv)
    table = pd.read_csv(args.summary)
    table = table[table["dataset"] == args.dataset]
    columns = [
        "recording_task",
        "method",
        "mae",
        "rmse",
        "pearson_r",
        "snr_db",
        "waveform_mae",
        "windows",
    ]
    all_met = True
    for task, group in table.groupby("task"):
        print(f"\n### {task.upper()} ({args.dataset})\n")
        print(group[columns].to_markdown(index=False, floatfmt=".2f"))
        for text, met in targets(group, task):
            all_met &= met
            print(f"- {'met' if met else 'NOT met'}: {text}")
    return 0 if all_met else 1


if __name__ == "__main__":
    sys.exit(main())
