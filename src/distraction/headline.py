"""The table printed where a run ends: per video its rates, from ``reports/estimates.csv``.

Standard library only: the workflow prints it from Snakemake's ``onsuccess`` handler, which
runs where the package's dependencies need not be installed.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

__all__ = ["failed_videos", "headline"]

#: Methods of the accuracy lines: the method and the best classical baseline under flicker.
SUMMARY_METHODS = ("denoised", "can", "chrom", "pos")
#: Videos listed one per line; a longer run shows the first ones and a count.
MAX_VIDEOS = 30


def _rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _number(text: str, digits: int) -> str:
    try:
        value = float(text)
    except ValueError:
        return ""
    return "" if math.isnan(value) else f"{value:.{digits}f}"


def failed_videos(estimates: list[dict[str, str]]) -> tuple[int, int]:
    """Videos (dataset × video) in the estimates, and how many failed in any task."""
    status: dict[tuple[str, str], bool] = {}
    for row in estimates:
        key = (row["dataset"], row["video"])
        status[key] = status.get(key, False) or row["status"] == "failed"
    return len(status), sum(status.values())


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [
        "  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    ]


def headline(reports: Path) -> str:
    """The end-of-run text of a results' ``reports`` folder: per video and task the status,
    median rate and quality and the HRV (``estimates.csv``); where there is ground truth,
    the MAE of the main methods with its 95 % interval (``summary.csv``); and the number of
    failed videos (``failures.csv``)."""
    reports = Path(reports)
    estimates = _rows(reports / "estimates.csv")
    lines = [f"Estimates per video ({reports / 'estimates.csv'}):"]
    table = [["video", "task", "status", "median /min", "quality dB", "HRV"]]
    for row in estimates[:MAX_VIDEOS]:
        hrv = row.get("hrv_status", "")
        if hrv == "ok":
            hrv = f"RMSSD {_number(row['rmssd_ms'], 0)} ms, SDNN {_number(row['sdnn_ms'], 0)} ms"
        status = row["status"] if row["status"] == "ok" else f"{row['status']}: {row['reason']}"
        table.append(
            [
                f"{row['dataset']}/{row['video']}",
                row["task"].upper(),
                status[:70],
                _number(row["median_rate"], 1),
                _number(row["median_quality_db"], 1),
                hrv,
            ]
        )
    lines += _table(table)
    if len(estimates) > MAX_VIDEOS:
        lines.append(f"  ... and {len(estimates) - MAX_VIDEOS} more rows in estimates.csv")
    summary = [
        r
        for r in _rows(reports / "summary.csv")
        if r["method"] in SUMMARY_METHODS and _number(r.get("mae", ""), 2)
    ]
    if summary:
        lines.append(f"Error against the ground truth ({reports / 'summary.csv'}; per minute):")
        table = [["dataset", "task", "method", "MAE [95 % interval]", "windows"]]
        for r in summary:
            interval = f"[{_number(r['mae_ci_low'], 2)}, {_number(r['mae_ci_high'], 2)}]"
            table.append(
                [
                    r["dataset"],
                    r["task"].upper(),
                    r["method"],
                    f"{_number(r['mae'], 2)} {interval}",
                    r["windows_with_truth"],
                ]
            )
        lines += _table(table)
    videos, failed = failed_videos(estimates)
    if failed:
        lines.append(f"{failed} of {videos} videos failed -- see {reports / 'failures.csv'}")
    else:
        lines.append(f"{videos} video(s), none failed.")
    return "\n".join(lines)
