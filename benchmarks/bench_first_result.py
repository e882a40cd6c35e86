"""Time to the first result of one video: ``distraction run VIDEO`` until the rates CSV is on disk.

One 40-s 320x240 MJPG clip at 30 fps (the Grace Hopper photo, ``clean``, seed 0, as
``profile_video.py`` renders it; cached with ``--cache``) goes through ``distraction run``
as a user starts it (a fresh process, an empty output folder, task hr), once per repeat:

* ``in-process``: the command as it is, which runs a lone video's jobs in its own process
  (:mod:`distraction.single`);
* ``workflow``: the same command through Snakemake (``run_job(..., in_process=False)``:
  planning, the job server's start, one process per job), for comparison.

Reported per run: seconds from the start of the command until
``<out>/videos/timeline/hr/clip.rates.csv`` exists (polled every 10 ms), and until the
command exits (every output written: evaluation, figures, reports). The target: the rates
CSV within 6 s.

    python benchmarks/bench_first_result.py --cache /tmp/distraction-profile --repeats 3
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import load_average, print_table, write_json
from profile_video import render

TARGET_S = 6.0
COMMANDS = {
    "in-process": ["-m", "distraction.cli", "run"],
    "workflow": [
        "-c",
        "import sys; from pathlib import Path; from distraction.run import run_job; "
        "run_job(Path(sys.argv[1]), Path(sys.argv[3]), 'hr', in_process=False)",
    ],
}


def timed_run(kind: str, video: Path, out: Path) -> dict[str, float]:
    rates = out / "videos" / "timeline" / "hr" / f"{video.stem}.rates.csv"
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, *COMMANDS[kind], str(video), "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    first = None
    while process.poll() is None:
        if first is None and rates.exists():
            first = time.perf_counter() - started
        time.sleep(0.01)
    total = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"{kind} failed: {process.stderr.read().decode()[-2000:]}")
    return {"rates_csv_s": first if first is not None else total, "exit_s": total}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, help="keep the rendered clip here")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bench_first_result_"))
    try:
        video = render((args.cache or scratch).resolve()) / "clip.avi"
        rows = []
        for repeat in range(args.repeats):
            for kind in COMMANDS:
                out = scratch / f"{kind}-{repeat}"
                rows.append({"run": kind, "repeat": repeat, **timed_run(kind, video, out)})
                print(f"# {rows[-1]}; load {load_average()}", flush=True)
        print_table(rows, ["run", "repeat", "rates_csv_s", "exit_s"])
        best = {kind: min(r["rates_csv_s"] for r in rows if r["run"] == kind) for kind in COMMANDS}
        verdict = "met" if best["in-process"] <= TARGET_S else "not met"
        print(
            f"best time to the rates CSV: in-process {best['in-process']:.1f} s, workflow "
            f"{best['workflow']:.1f} s (target <= {TARGET_S:g} s: {verdict})"
        )
        write_json(args.json, {"benchmark": "first_result", "runs": rows, "best": best})
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
