"""Two evaluations of the same clips side by side: which networks, per condition and method.

    cp -r results/train_faces/faces_validation/eval/br /tmp/br_before   # before a retraining
    ... retrain, ship, rerun the validation config ...
    python analysis/runs_compared.py /tmp/br_before results/train_faces/faces_validation/eval/br \\
        --labels drawn photographed

Reads every per-video evaluation CSV (``*/*.csv``, as the evaluate job writes them) under the
two folders, pairs the windows (same video, method and window start) and prints, per task,
condition and method, each run's MAE and the paired 95 % interval of the difference (second
minus first; bootstrap over subjects, as the workflow's ``comparisons.csv``). A difference is
called only where its interval excludes zero. Nothing is written.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from _common import print_table

KEY = ["dataset", "video", "subject", "recording_task", "task", "method", "window_start_s"]


def paired(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    """Windows of both runs joined on :data:`KEY`, with each run's absolute error; windows
    without a rate or truth in either run are dropped."""
    columns = [*KEY, "true_rate", "est_rate"]
    joined = before[columns].merge(after[columns], on=KEY, suffixes=("_a", "_b"))
    joined["error_a"] = (joined["est_rate_a"] - joined["true_rate_a"]).abs()
    joined["error_b"] = (joined["est_rate_b"] - joined["true_rate_b"]).abs()
    # Only windows scored in both runs: the MAEs and their difference's interval then
    # describe the same windows (as the workflow's comparisons.csv pairs methods).
    return joined[np.isfinite(joined["error_a"]) & np.isfinite(joined["error_b"])]


def main(argv: list[str] | None = None) -> int:
    from distraction.metrics import bootstrap_mae_difference_ci
    from distraction.report import read_windows

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path, help="evaluation folder of the first run")
    parser.add_argument("after", type=Path, help="evaluation folder of the second run")
    parser.add_argument("--labels", nargs=2, default=["first", "second"], metavar="LABEL")
    args = parser.parse_args(argv)
    runs = []
    for folder in (args.before, args.after):
        paths = sorted(folder.glob("*/*.csv"))
        if not paths:
            raise SystemExit(f"{folder}: no evaluation CSVs (*/*.csv)")
        runs.append(read_windows(paths))
    joined = paired(*runs)
    if joined.empty:
        raise SystemExit(f"{args.before} and {args.after}: no window in common")
    first, second = args.labels
    rows = []
    for (task, condition, method), group in joined.groupby(["task", "recording_task", "method"]):
        low, high = bootstrap_mae_difference_ci(
            group["error_b"].to_numpy(), group["error_a"].to_numpy(), group["subject"].to_numpy()
        )
        verdict = "–"
        if high < 0:
            verdict = f"{second} better"
        elif low > 0:
            verdict = f"{first} better"
        rows.append(
            {
                "task": task,
                "condition": condition,
                "method": method,
                first: f"{group['error_a'].mean():.2f}",
                second: f"{group['error_b'].mean():.2f}",
                "difference [95 %]": f"{(group['error_b'] - group['error_a']).mean():+.2f} "
                f"[{low:+.2f}, {high:+.2f}]",
                "windows": len(group),
                "verdict": verdict,
            }
        )
    print_table(rows, list(rows[0]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
