"""Dry-run DAG build time of the workflow for a large generic-format dataset.

Creates ``<tmp>/data/sNNNN/task.avi`` (empty placeholder files: building the DAG only lists
files), a config pointing a single ``generic`` dataset at it and dummy model files, and times

    snakemake -n --snakefile <repo>/Snakefile --configfile <cfg> --directory <tmp> --cores 1

(stdout to a file, so terminal printing is not part of the time). Also times the recording
listing alone (``get_loader("generic", ...).list_recordings()``), and checks that it opens no
video (every ``cv2.VideoCapture`` construction is counted).

    python benchmarks/bench_dag.py --recordings 1000 10000 --json dag.json
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO, load_average, print_table, write_json


def make_dataset(root: Path, n: int) -> None:
    for i in range(n):
        folder = root / f"s{i:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "task.avi").touch()


def write_config(path: Path, data: Path, models: Path) -> None:
    models.mkdir(parents=True, exist_ok=True)
    for name in ("hr_can", "hr_lstm", "br_can", "br_lstm"):
        (models / f"{name}.keras").touch()
    path.write_text(
        "task: hr\n"
        "results: results\n"
        "datasets:\n"
        "  big:\n"
        "    format: generic\n"
        f"    root: {data}\n"
        "models:\n"
        f"  hr_can: {models / 'hr_can.keras'}\n"
        f"  hr_lstm: {models / 'hr_lstm.keras'}\n"
        f"  br_can: {models / 'br_can.keras'}\n"
        f"  br_lstm: {models / 'br_lstm.keras'}\n"
    )


LISTING_PROBE = r"""
import sys, time
import cv2
opened = []
_orig = cv2.VideoCapture
class Counting(_orig):
    def __init__(self, *a, **k):
        opened.append(a)
        super().__init__(*a, **k)
cv2.VideoCapture = Counting
from distraction import datasets
datasets.cv2.VideoCapture = Counting
t = time.perf_counter()
recs = datasets.get_loader("generic", "big", sys.argv[1]).list_recordings()
print(len(recs), time.perf_counter() - t, len(opened))
"""


def time_listing(data: Path) -> tuple[int, float, int]:
    out = subprocess.run(
        [sys.executable, "-c", LISTING_PROBE, str(data)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return int(out[0]), float(out[1]), int(out[2])


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_dry_run(workdir: Path, cfg: Path, snakemake: str) -> tuple[float, float, int, str]:
    """Wall time, CPU time (user + sys, less sensitive to other load), jobs, log text."""
    log = workdir / "dryrun.log"
    cpu0 = _children_cpu()
    started = time.perf_counter()
    with open(log, "w") as handle:
        proc = subprocess.run(
            [
                snakemake,
                "-n",
                "--snakefile",
                str(REPO / "Snakefile"),
                "--configfile",
                str(cfg),
                "--directory",
                str(workdir),
                "--cores",
                "1",
            ],
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    elapsed = time.perf_counter() - started
    cpu = _children_cpu() - cpu0
    text = log.read_text()
    if proc.returncode != 0:
        raise SystemExit(f"snakemake -n failed ({proc.returncode}):\n{text[-3000:]}")
    jobs = 0
    for line in text.splitlines():
        if line.startswith("total"):
            jobs = int(line.split()[1])
    return elapsed, cpu, jobs, text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recordings", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--repeats", type=int, default=1, help="dry runs per size (best kept)")
    parser.add_argument("--tmp", type=Path, help="scratch folder (default: a new temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    snakemake = shutil.which("snakemake", path=str(Path(sys.executable).parent)) or "snakemake"
    base = Path(tempfile.mkdtemp(prefix="bench_dag_", dir=args.tmp))
    rows = []
    try:
        for n in args.recordings:
            work = base / f"n{n}"
            data = work / "data"
            started = time.perf_counter()
            make_dataset(data, n)
            setup_s = time.perf_counter() - started
            cfg = work / "config.yaml"
            write_config(cfg, data, work / "models")
            listed, listing_s, opened = time_listing(data)
            best = best_cpu = None
            for _ in range(args.repeats):
                elapsed, cpu, jobs, _ = time_dry_run(work, cfg, snakemake)
                best = elapsed if best is None else min(best, elapsed)
                best_cpu = cpu if best_cpu is None else min(best_cpu, cpu)
            rows.append(
                {
                    "recordings": n,
                    "jobs": jobs,
                    "dry_run_s": best,
                    "dry_run_cpu_s": best_cpu,
                    "listing_s": listing_s,
                    "videos_opened": opened,
                    "listed": listed,
                    "setup_s": setup_s,
                }
            )
            print(
                f"# n={n}: {best:.1f} s wall, {best_cpu:.1f} s CPU, {jobs} jobs, "
                f"load {load_average()}",
                flush=True,
            )
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    print_table(
        rows, ["recordings", "jobs", "dry_run_s", "dry_run_cpu_s", "listing_s", "videos_opened"]
    )
    print("target: dry run <= 60 s for 10,000 recordings")
    write_json(args.json, {"benchmark": "dag", "rows": rows})


if __name__ == "__main__":
    main()
