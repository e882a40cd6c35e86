"""Shared helpers of the benchmark scripts: seeded test clips (cached), timing, tables."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]


def clip_name(seconds: float, width: int, height: int, fps: float) -> str:
    return f"clip_{seconds:g}s_{width}x{height}_{fps:g}fps"


def render_clip(
    cache: Path, seconds: float, width: int = 640, height: int = 480, fps: float = 30.0
) -> Path:
    """A generic-format dataset root holding one seeded synthetic clip ``s00/clean.avi``.

    Rendered once with :func:`distraction.synth.write_clip` (subject 0, seed 0) and reused
    from ``cache`` afterwards.
    """
    from distraction.synth import write_clip

    root = Path(cache) / clip_name(seconds, width, height, fps)
    video = root / "s00" / "clean.avi"
    if video.is_file():
        return root
    video.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    write_clip(
        video,
        video.with_suffix(".csv"),
        subject_index=0,
        condition="clean",
        duration_s=seconds,
        fps=fps,
        width=width,
        height=height,
        seed=0,
    )
    print(f"# rendered {video} in {time.perf_counter() - started:.1f} s", flush=True)
    return root


def loop_clip(cache: Path, source_root: Path, times: int) -> Path:
    """A longer dataset: the source clip's frames repeated ``times`` times (re-encoded MJPG,
    quality 95, as ``write_clip`` writes) and its ground truth tiled in time.

    Much faster than rendering a long clip; content does not matter for memory.
    """
    import cv2
    import numpy as np

    src = source_root / "s00" / "clean.avi"
    root = Path(cache) / f"{source_root.name}_x{times}"
    video = root / "s00" / "clean.avi"
    if video.is_file():
        return root
    video.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    cap = cv2.VideoCapture(str(src))
    fps = cap.get(cv2.CAP_PROP_FPS)
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        _, jpg = cv2.imencode(".jpg", frame)  # keep memory small while looping
        frames.append(jpg)
    cap.release()
    height, width = cv2.imdecode(frames[0], cv2.IMREAD_COLOR).shape[:2]
    tmp = video.with_name(".tmp.avi")
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    writer.set(cv2.VIDEOWRITER_PROP_QUALITY, 95)
    for _ in range(times):
        for jpg in frames:
            writer.write(cv2.imdecode(jpg, cv2.IMREAD_COLOR))
    writer.release()
    table = np.loadtxt(src.with_suffix(".csv"), delimiter=",", skiprows=1)
    period = len(frames) / fps
    shift = np.array([period, 0.0, 0.0, 0.0, 0.0])  # time column only
    tiled = np.concatenate([table + k * shift for k in range(times)])
    keep = np.concatenate(([True], np.diff(tiled[:, 0]) > 0))
    np.savetxt(
        video.with_suffix(".csv"),
        tiled[keep],
        delimiter=",",
        fmt="%.6f",
        header="time,ppg,resp,hr,br",
        comments="",
    )
    os.replace(tmp, video)
    print(f"# looped {src} x{times} -> {video} in {time.perf_counter() - started:.1f} s")
    return root


def default_workflow(
    work: Path,
    results: Path,
    datasets: dict[str, dict],
    *,
    config: Path | None = None,
    **settings: object,
) -> tuple[list[str], dict[str, str]]:
    """The default workflow's command on ``datasets``, and the environment to run it in.

    Writes the run's config (``config``, default ``work/config.yaml``): task hr, the
    ``results`` folder, the ``datasets`` and any other top-level ``settings``; every other
    key at the schema's default. The command is ``snakemake --workflow-profile
    workflow/profiles/default`` on that config, run in ``work``; the environment puts this
    Python's scripts first on the PATH, so that the jobs' ``distraction`` is this install's.
    """
    import sys

    import yaml

    config = config or work / "config.yaml"
    config.write_text(
        yaml.safe_dump({"task": "hr", "results": str(results), "datasets": datasets, **settings})
    )
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    command = [
        sys.executable, "-m", "snakemake",
        "--snakefile", str(REPO / "Snakefile"),
        "--directory", str(work),
        "--workflow-profile", str(REPO / "workflow" / "profiles" / "default"),
        "--configfile", str(config),
    ]  # fmt: skip
    return command, env


def print_table(rows: list[dict], columns: list[str]) -> None:
    """A plain Markdown table (pasteable into docs/benchmarks.md)."""
    cells = [[_fmt(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    print("| " + " | ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in cells:
        print("| " + " | ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) + " |")


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def load_average() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def write_json(path: Path | None, payload: dict) -> None:
    if path is None:
        return
    payload = {"cpus": os.cpu_count(), "load_average_at_end": load_average(), **payload}
    Path(path).write_text(json.dumps(payload, indent=2))
    print(f"# wrote {path}")
