"""Peak memory of the whole workflow on a 1-minute and a 10-minute 320x240 video.

The 1-minute clip is rendered by the project's renderer (:func:`distraction.synth.write_clip`,
subject 0, ``clean``, seed 0, 320x240 MJPG at 30 fps; cached with ``--cache``); the
10-minute one is that clip looped ten times (:func:`_common.loop_clip`: re-encoded MJPG q95,
ground truth tiled in time), which is much faster to make than a render and the same for
memory. Each goes, from an empty results folder, through the default workflow
(``snakemake --workflow-profile workflow/profiles/default`` on a config of one ``generic``
dataset holding the one video, every other key at its default: task hr, face tracking,
LiteRT, the job server) to its default target: prepare, infer, timeline, evaluate,
figures, estimates, aggregate.

Peak RSS is that of the largest single process of the workflow's process tree (Snakemake,
the job server, the jobs it forks, any job run as a process of its own), from ``os.wait4``
(:func:`bench_batch.run_measured`); each job also logs its own. The target: the 10-minute
video's peak at most 1.2x the 1-minute one's.

    python benchmarks/bench_memory.py --cache /tmp/distraction-memory --json memory.json
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from _common import default_workflow, load_average, loop_clip, print_table, render_clip, write_json
from bench_batch import run_measured

SECONDS, WIDTH, HEIGHT, FPS = 60.0, 320, 240, 30.0
TARGET = 1.2


def run_workflow(root: Path, work: Path) -> dict:
    """The default workflow on the dataset ``root`` into ``work``: usage and the jobs' RSS."""
    work.mkdir(parents=True)
    results = work / "results"
    datasets = {"clip": {"format": "generic", "root": str(root)}}
    command, env = default_workflow(work, results, datasets)
    usage, _ = run_measured(command, log=work / "snakemake.log", env=env, cwd=work)
    summary = results / "reports" / "estimates.csv"
    if not summary.is_file():
        raise SystemExit(f"the workflow wrote no {summary}; see {work / 'snakemake.log'}")
    return usage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, help="keep the rendered and looped clips here")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bench_memory_"))
    try:
        cache = (args.cache or scratch / "cache").resolve()
        short = render_clip(cache, SECONDS, WIDTH, HEIGHT, FPS)
        long = loop_clip(cache, short, 10)
        print(f"# 1-min and 10-min {WIDTH}x{HEIGHT} videos; load {load_average()}", flush=True)
        rows = []
        for label, root in (("1 min", short), ("10 min", long)):
            usage = run_workflow(root, scratch / label.replace(" ", ""))
            rows.append({"video": label, **usage})
            print(f"# {label}: {usage['peak_rss_mb']:.0f} MB; load {load_average()}", flush=True)
        print_table(rows, ["video", "wall_s", "cpu_s", "peak_rss_mb", "other_cpu_s"])
        ratio = rows[1]["peak_rss_mb"] / rows[0]["peak_rss_mb"]
        verdict = "met" if ratio <= TARGET else "not met"
        print(f"peak RSS, 10 min / 1 min: {ratio:.2f}x (target <= {TARGET}x: {verdict})")
        write_json(
            args.json,
            {
                "benchmark": "memory",
                "clip": {"width": WIDTH, "height": HEIGHT, "fps": FPS},
                "runs": rows,
                "ten_over_one_peak_rss": ratio,
            },
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
