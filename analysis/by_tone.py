"""Rate errors of a finished run of photographed faces, by skin tone.

    python analysis/by_tone.py results/faces_test --dataset faces_test

Joins each window of ``reports/windows.csv`` with the ``visual_tone`` its clip's
``<video>.photo.json`` records (written by ``distraction synth --photo``), and prints per
task the MAE of every method per tone group and overall, and each group's MAE over the
overall one for the denoised signal (the target: no group above 2).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="the run's results folder")
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--limit", type=float, default=2.0, help="largest group/overall ratio")
    args = parser.parse_args(argv)
    windows = pd.read_csv(args.results / "reports" / "windows.csv")
    windows = windows[windows["dataset"] == args.dataset].copy()
    videos = args.results / args.dataset / "videos"
    tones = {}
    for info in videos.glob("*/*.photo.json"):
        record = json.loads(info.read_text())
        tones[f"{info.parent.name}/{info.name.removesuffix('.photo.json')}"] = record.get(
            "visual_tone", "unknown"
        )
    windows["tone"] = windows["video"].map(tones).fillna("unknown")
    windows["error"] = (windows["est_rate"] - windows["true_rate"]).abs()
    status = 0
    for task, group in windows.groupby("task"):
        table = group.pivot_table(index="method", columns="tone", values="error", aggfunc="mean")
        table["overall"] = group.groupby("method")["error"].mean()
        subjects = group.groupby("tone")["subject"].nunique()
        print(f"\n### {task.upper()}: MAE by visual tone ({args.dataset})\n")
        print(table.to_markdown(floatfmt=".2f"))
        print("\nsubjects per tone: " + ", ".join(f"{k} {v}" for k, v in subjects.items()))
        if "denoised" in table.index:
            row = table.loc["denoised"]
            ratios = row.drop("overall") / row["overall"]
            print(
                "denoised, group / overall: " + ", ".join(f"{k} {v:.2f}" for k, v in ratios.items())
            )
            if (ratios > args.limit).any():
                status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
