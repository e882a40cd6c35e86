"""Where one video's CPU time goes: per job of the workflow, and inside each job.

One 40-s 320x240 MJPG clip at 30 fps (the Grace Hopper photo animated by
:func:`distraction.synth.photo.write_photo_clip`, condition ``clean``, seed 0: the first
clip of ``bench_batch.py``'s batch) goes through the workflow's per-video jobs at the
default configuration (task hr), called in one fresh process through
:func:`distraction.single.video_steps` (the same job functions, settings and outputs as
the rules), with one thread per job as in a batch:

* a **cold** pass, as a fresh job process pays it: each job's first call imports what it
  needs (the job server pays that once per run);
* a **warm** pass, the jobs again on the same clip: the work alone, as a job forked from
  the job server runs it;
* ``--cprofile``: a third pass under cProfile (timing CPU, not wall), the cumulative CPU
  seconds of the functions that split each job into its parts (decode, face tracking,
  crop; CAN, corruption traces, denoiser; each baseline and the window scoring; the
  timeline's parts), and with
  ``--top N`` the N functions of largest own time.

CPU seconds are the process's (user + sys, ``resource.getrusage``), wall seconds
``time.perf_counter``.

``--set KEY=VALUE`` (repeatable) changes a setting from its default, e.g. ``--set
prepare.flow_every=2``.

    python benchmarks/profile_video.py --cache /tmp/distraction-profile --cprofile --top 25
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

from _common import load_average, print_table, write_json

SECONDS, WIDTH, HEIGHT, FPS = 40.0, 320, 240, 30.0

#: The functions whose cumulative time splits each job, by the job they belong to.
PARTS = {
    "prepare": [
        ("distraction.datasets.video", "iter_video", "decode (OpenCV)"),
        ("distraction.facetrack", "add", "face tracking (FaceFollower.add)"),
        ("distraction.facetrack", "_detect", "  of it: face detection"),
        ("distraction.facetrack", "_flow", "  of it: optical flow"),
        ("distraction.prepare", "_resized_tracked", "tracked crops and resizes"),
        ("distraction.store", "append", "Zarr appends"),
    ],
    "infer": [
        ("distraction.infer", "infer_can", "CAN (infer_can)"),
        ("distraction.infer", "estimate_corruption", "corruption traces + conditioning"),
        ("distraction.infer", "denoise", "cancellation + LSTM denoiser"),
        ("distraction.engines", "load_network", "network loads"),
    ],
    "timeline": [
        ("distraction.timeline", "video_timeline", "rates and quality"),
        ("distraction.timeline", "_hrv_row", "HRV"),
        ("distraction.figures", "plot_timeline", "figure"),
    ],
    "evaluate": [
        ("distraction.evaluate", "_skin_colour_traces", "skin region traces"),
        ("distraction.baselines", "green", "GREEN"),
        ("distraction.baselines", "ica", "ICA"),
        ("distraction.baselines", "chrom", "CHROM"),
        ("distraction.baselines", "pos", "POS"),
        ("distraction.baselines", "vertical_motion", "vertical motion"),
        ("distraction.signals", "condition_signal", "conditioning"),
        ("distraction.metrics", "window_metrics", "window scoring"),
    ],
}


def render(cache: Path) -> Path:
    """A ``folder`` dataset root holding the clip (rendered once into ``cache``)."""
    from distraction.synth.photo import builtin_photo, write_photo_clip

    root = cache / f"clip_{SECONDS:g}s_{WIDTH}x{HEIGHT}"
    video = root / "clip.avi"
    if not video.is_file():
        root.mkdir(parents=True, exist_ok=True)
        write_photo_clip(
            builtin_photo("grace_hopper.jpg"),
            video,
            root / ".truth.csv",
            condition="clean",
            duration_s=SECONDS,
            fps=FPS,
            width=WIDTH,
            height=HEIGHT,
            seed=0,
            subject_index=1,
        )
        (root / ".truth.csv").unlink()
    return root


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed_pass(steps) -> dict[str, dict[str, float]]:
    out = {}
    for step in steps:
        cpu, wall = cpu_seconds(), time.perf_counter()
        step.run()
        out[step.name] = {"cpu_s": cpu_seconds() - cpu, "wall_s": time.perf_counter() - wall}
    return out


def job_of(step: str) -> str:
    return step.rsplit("_", 1)[0] if step.endswith(("_hr", "_br")) else step


def profiled_pass(steps, top: int) -> dict[str, dict]:
    out = {}
    for step in steps:
        # CPU time, not wall time: the parts then add up to the job's CPU seconds.
        profile = cProfile.Profile(time.process_time)
        profile.enable()
        step.run()
        profile.disable()
        stats = pstats.Stats(profile)
        total = sum(entry[2] for entry in stats.stats.values())  # own times
        parts = {}
        for module, function, label in PARTS.get(job_of(step.name), []):
            cumulative = sum(
                entry[3]
                for (path, _, name), entry in stats.stats.items()
                if name == function and path.endswith(module.replace(".", "/") + ".py")
            )
            if cumulative:
                parts[label] = cumulative
        own = sorted(stats.stats.items(), key=lambda item: -item[1][2])[:top]
        out[step.name] = {
            "profiled_s": total,
            "parts_s": parts,
            "top_own_s": [
                {"function": f"{Path(path).name}:{line}({name})", "own_s": entry[2]}
                for (path, line, name), entry in own
            ],
        }
    return out


def settings_of(assignments: list[str]) -> dict:
    """``["prepare.flow_every=2", ...]`` as a nested config (values read as YAML)."""
    import yaml

    config: dict = {}
    for assignment in assignments:
        key, _, value = assignment.partition("=")
        *parents, name = key.split(".")
        node = config
        for parent in parents:
            node = node.setdefault(parent, {})
        node[name] = yaml.safe_load(value)
    return config


def child(root: Path, results: Path, cprofile: bool, top: int, settings: dict) -> dict:
    started = time.perf_counter()
    from distraction.config import validate_config
    from distraction.single import video_steps

    base_imports = {"cpu_s": cpu_seconds(), "wall_s": time.perf_counter() - started}
    config = validate_config(
        {
            **settings,
            "task": "hr",
            "results": str(results),
            "datasets": {"videos": {"format": "folder", "root": str(root)}},
        },
        source="profile",
    )
    steps = video_steps(config, "videos", "clip", threads=1)
    report = {"base_imports": base_imports, "cold": timed_pass(steps), "warm": timed_pass(steps)}
    if cprofile:
        report["profile"] = profiled_pass(steps, top)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, help="keep the rendered clip here")
    parser.add_argument("--cprofile", action="store_true", help="a third pass under cProfile")
    parser.add_argument("--top", type=int, default=0, help="functions of largest own time")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="a setting changed"
    )
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child, args.cprofile, args.top, settings_of(args.set))))
        return
    import subprocess

    scratch = Path(tempfile.mkdtemp(prefix="profile_video_"))
    try:
        cache = (args.cache or scratch).resolve()
        root = render(cache)
        command = [sys.executable, __file__, "--child", str(root), str(scratch / "results")]
        command += ["--cprofile"] * args.cprofile + ["--top", str(args.top)]
        command += [f"--set={assignment}" for assignment in args.set]
        load_before = load_average()
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        report = json.loads(out.strip().splitlines()[-1])
        print(
            f"# one {SECONDS:g}-s {WIDTH}x{HEIGHT} clip, task hr, 1 thread per job"
            f"{''.join(f', {a}' for a in args.set)}; load {load_before} before, "
            f"{load_average()} after"
        )
        base = report["base_imports"]
        print(f"base imports (distraction.config, single): {base['cpu_s']:.2f} CPU-s")
        rows = [
            {
                "job": name,
                "cold_cpu_s": report["cold"][name]["cpu_s"],
                "warm_cpu_s": report["warm"][name]["cpu_s"],
                "imports_cpu_s": report["cold"][name]["cpu_s"] - report["warm"][name]["cpu_s"],
                "warm_wall_s": report["warm"][name]["wall_s"],
            }
            for name in report["warm"]
        ]
        rows.append(
            {
                "job": "total",
                **{
                    key: sum(row[key] for row in rows)
                    for key in ("cold_cpu_s", "warm_cpu_s", "imports_cpu_s", "warm_wall_s")
                },
            }
        )
        print_table(rows, ["job", "cold_cpu_s", "warm_cpu_s", "imports_cpu_s", "warm_wall_s"])
        for name, entry in report.get("profile", {}).items():
            print(f"\n{name}: {entry['profiled_s']:.2f} s under cProfile")
            for label, seconds in entry["parts_s"].items():
                print(f"  {label}: {seconds:.2f} s")
            for item in entry["top_own_s"]:
                print(f"    {item['own_s']:.3f} s  {item['function']}")
        write_json(args.json, {"benchmark": "profile_video", "settings": args.set, **report})
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
