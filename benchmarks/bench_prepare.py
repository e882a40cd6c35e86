"""Preparation speed next to a bare OpenCV decode, and peak memory for a short vs long video.

Speed: one seeded synthetic clip (``write_clip``, subject 0, ``clean``, MJPG q95, default
60 s 640x480 30 fps) is decoded with a bare ``cv2.VideoCapture.read`` loop and prepared with
``distraction.prepare.prepare_recording`` (generic loader, centre crop, 256-frame chunks) into
a fresh Zarr store; runs alternate and the best of ``--repeats`` is kept for each.

Memory: each measurement runs in a fresh Python subprocess that imports the modules, notes its
RSS, runs only the prepare stage (or only the decode loop, for reference) and reports its peak
RSS (``getrusage(RUSAGE_SELF).ru_maxrss``). The long video is, by default, the short clip
looped ``--long-factor`` times (re-encoded MJPG q95, ground truth tiled) because rendering
10 min at 640x480 takes ~7 min here; ``--render-long`` renders it with ``write_clip`` instead.

    python benchmarks/bench_prepare.py --cache /tmp/distraction-bench --json prepare.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import load_average, loop_clip, print_table, render_clip, write_json

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
import cv2
from distraction.datasets import get_loader
from distraction.prepare import prepare_recording

def rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
mode, root, store = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
base = rss_mb()
t = time.perf_counter()
if mode == "prepare":
    loader = get_loader("generic", "bench", root)
    rec = loader.list_recordings()[0]
    frames = prepare_recording(loader, rec, store, crop="centre")["frames"]
else:
    cap = cv2.VideoCapture(str(root / "s00" / "clean.avi"))
    frames = 0
    while cap.read()[0]:
        frames += 1
    cap.release()
elapsed = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"frames": frames, "seconds": elapsed, "rss_after_import_mb": base,
                  "peak_rss_mb": peak}))
"""


def decode(video: Path) -> tuple[int, float]:
    import cv2

    started = time.perf_counter()
    cap = cv2.VideoCapture(str(video))
    frames = 0
    while True:
        ok, _ = cap.read()
        if not ok:
            break
        frames += 1
    cap.release()
    return frames, time.perf_counter() - started


def prepare(root: Path, store: Path, threads: int = 2) -> tuple[int, float]:
    from distraction.datasets import get_loader
    from distraction.prepare import prepare_recording

    shutil.rmtree(store, ignore_errors=True)
    started = time.perf_counter()
    loader = get_loader("generic", "bench", root)
    rec = loader.list_recordings()[0]
    summary = prepare_recording(loader, rec, store, crop="centre", threads=threads)
    return summary["frames"], time.perf_counter() - started


def child(mode: str, root: Path, store: Path) -> dict:
    shutil.rmtree(store, ignore_errors=True)
    out = subprocess.run(
        [sys.executable, "-c", CHILD, mode, str(root), str(store)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, help="keep rendered clips here (default: temp)")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--long-factor", type=int, default=10, help="long video = N x short")
    parser.add_argument("--render-long", action="store_true", help="render it, don't loop")
    parser.add_argument(
        "--no-thread",
        action="store_true",
        help="also time preparation with one thread (threads=1: decoding inline)",
    )
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="bench_prepare_"))
    cache = args.cache or scratch / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    payload: dict = {"benchmark": "prepare", "width": args.width, "height": args.height}
    try:
        short = render_clip(cache, args.seconds, args.width, args.height, args.fps)
        video = short / "s00" / "clean.avi"
        if not args.skip_speed:
            decodes, prepares, same_thread = [], [], []
            for _ in range(args.repeats):
                decodes.append(decode(video))
                prepares.append(prepare(short, scratch / "speed.zarr"))
                if args.no_thread:
                    same_thread.append(prepare(short, scratch / "speed.zarr", threads=1))
            d_frames, d_best = decodes[0][0], min(t for _, t in decodes)
            p_frames, p_best = prepares[0][0], min(t for _, t in prepares)
            speed = [
                {
                    "stage": "cv2 decode loop",
                    "frames": d_frames,
                    "best_s": d_best,
                    "frames_per_s": d_frames / d_best,
                },
                {
                    "stage": "prepare_recording (2 threads: MJPG decoded in parallel blocks)",
                    "frames": p_frames,
                    "best_s": p_best,
                    "frames_per_s": p_frames / p_best,
                },
            ]
            if same_thread:
                f_best = min(t for _, t in same_thread)
                speed.append(
                    {
                        "stage": "prepare_recording, 1 thread",
                        "frames": p_frames,
                        "best_s": f_best,
                        "frames_per_s": p_frames / f_best,
                    }
                )
            ratio = (p_frames / p_best) / (d_frames / d_best)
            print(
                f"\n# speed, {args.seconds:g} s {args.width}x{args.height} clip, best of "
                f"{args.repeats}, load {load_average()}"
            )
            print_table(speed, ["stage", "frames", "best_s", "frames_per_s"])
            print(f"prepare / decode speed = {ratio:.2f} (target >= 0.5)\n", flush=True)
            payload.update({"speed": speed, "prepare_over_decode": ratio})
        if not args.skip_memory:
            if args.render_long:
                long = render_clip(
                    cache, args.seconds * args.long_factor, args.width, args.height, args.fps
                )
            else:
                long = loop_clip(cache, short, args.long_factor)
            memory = []
            for label, root in (
                (f"{args.seconds:g} s", short),
                (f"{args.seconds * args.long_factor:g} s", long),
            ):
                for mode in ("decode", "prepare"):
                    r = child(mode, root, scratch / "memory.zarr")
                    memory.append(
                        {
                            "video": label,
                            "process": mode,
                            **r,
                            "frames_per_s": r["frames"] / r["seconds"],
                        }
                    )
            print(
                f"# peak RSS, fresh subprocess per run, {args.width}x{args.height}, "
                f"load {load_average()}"
            )
            print_table(
                memory,
                [
                    "video",
                    "process",
                    "frames",
                    "rss_after_import_mb",
                    "peak_rss_mb",
                    "frames_per_s",
                ],
            )
            payload["memory"] = memory
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    write_json(args.json, payload)


if __name__ == "__main__":
    main()
