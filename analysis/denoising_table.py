"""Accuracy tables of a finished run, per task and condition, for docs/results.md.

    snakemake --workflow-profile workflow/profiles/default \
        --configfile workflow/configs/synth_test.yaml
    python analysis/denoising_table.py results/synth_test/reports --dataset synth_test

Prints, per task and condition (recording task) of the dataset, every method's rate MAE with
its 95 % interval (bootstrap over subjects), RMSE, Pearson r, SNR in both conventions and the
numbers of windows and subjects (from ``summary_by_recording_task.csv``); then the denoised
signal against every other method (from ``comparisons.csv``): the MAE difference, its paired
interval, and which is better only where the interval excludes zero.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd


def _interval(row: pd.Series, low: str, high: str) -> str:
    return f"[{row[low]:.2f}, {row[high]:.2f}]"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", type=Path, help="a run's reports folder")
    parser.add_argument("--dataset", required=True, help="the dataset to tabulate")
    args = parser.parse_args(argv)
    summary = pd.read_csv(args.reports / "summary_by_recording_task.csv")
    comparisons = pd.read_csv(args.reports / "comparisons.csv")
    summary = summary[summary["dataset"] == args.dataset]
    comparisons = comparisons[comparisons["dataset"] == args.dataset]
    for task, group in summary.groupby("task"):
        table = group.assign(
            mae_95=group.apply(_interval, axis=1, args=("mae_ci_low", "mae_ci_high"))
        )
        columns = {
            "recording_task": "condition",
            "method": "method",
            "mae": "MAE",
            "mae_95": "MAE 95 % interval",
            "rmse": "RMSE",
            "pearson_r": "r",
            "snr_db_conventional": "SNR (dB)",
            "snr_db": "SNR (reference, 20·log10)",
            "windows": "windows",
            "subjects": "subjects",
        }
        print(f"\n### {task.upper()} ({args.dataset})\n")
        print(table[list(columns)].rename(columns=columns).to_markdown(index=False, floatfmt=".2f"))
        ranked = comparisons[comparisons["task"] == task]
        if ranked.empty:
            continue
        ranked = ranked.assign(interval=ranked.apply(_interval, axis=1, args=("ci_low", "ci_high")))
        columns = {
            "recording_task": "condition",
            "method": "denoised vs",
            "mae_difference": "MAE difference",
            "interval": "95 % interval",
            "ranking": "ranking",
        }
        print(f"\n#### {task.upper()}: the denoised signal against each method\n")
        print(
            ranked[list(columns)].rename(columns=columns).to_markdown(index=False, floatfmt=".2f")
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
