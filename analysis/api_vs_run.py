"""Does ``distraction.estimate()`` give a finished workflow run's rates on every one of its videos?

    python analysis/api_vs_run.py results --dataset demo

For every rates table of the run's HR timeline (``<results>/<dataset>/timeline/hr/``), runs
``distraction.estimate()`` on the video it came from (``<results>/<dataset>/videos/...``) with the
shipped networks and the defaults, and prints per video the largest difference of each column
(rate, peak rate, quality, pulse support) and whether a window has a rate in one and none in
the other. The run must have used the defaults too (the demo's ``config.yaml`` sets only
datasets, task and results). Exits 1 when a video differs by more than ``--atol``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from _common import print_table

COLUMNS = ("rate", "peak_rate", "quality_db", "pulse_db")


def main(argv: list[str] | None = None) -> int:
    import pandas as pd

    import distraction
    from distraction.layouts import VIDEO_EXTENSIONS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="the run's results folder")
    parser.add_argument("--dataset", default="demo")
    parser.add_argument("--atol", type=float, default=0.05)
    args = parser.parse_args(argv)
    root = args.results / args.dataset
    tables = sorted((root / "timeline" / "hr").glob("*/*.rates.csv"))
    if not tables:
        raise SystemExit(f"{root}: no HR timeline tables")
    rows = []
    for table in tables:
        recording = f"{table.parent.name}/{table.name.removesuffix('.rates.csv')}"
        videos = [root / "videos" / f"{recording}{ext}" for ext in VIDEO_EXTENSIONS]
        video = next((v for v in videos if v.is_file()), None)
        if video is None:
            raise SystemExit(f"{root / 'videos' / recording}: no video for {table}")
        run = pd.read_csv(table)
        api = distraction.estimate(video).hr.rates
        row: dict = {"video": recording, "windows": f"{len(run)} / {len(api)}"}
        same_length = len(run) == len(api)
        for column in COLUMNS:
            a, b = run[column].to_numpy(float), api[column].to_numpy(float)
            both = same_length and np.isfinite(a) & np.isfinite(b)
            row[column] = float(np.abs(a - b)[both].max(initial=0.0)) if same_length else np.inf
        row["rated differently"] = (
            int((run["rate"].isna() != api["rate"].isna()).sum()) if same_length else -1
        )
        rows.append(row)
    print_table(rows, ["video", "windows", *COLUMNS, "rated differently"])
    bad = [
        r["video"]
        for r in rows
        if r["rated differently"] != 0 or max(r[c] for c in COLUMNS) > args.atol
    ]
    print(
        f"estimate() gives the run's rates on {len(rows) - len(bad)} of {len(rows)} videos"
        f" (within {args.atol:g})" + (f"; not: {', '.join(bad)}" if bad else "")
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
