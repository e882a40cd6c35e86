"""Throughput on a batch of videos: the default workflow against open-rppg and a floor.

One run renders (once, cached) a batch of 24 clips of 40 s, 320x240 MJPG at 30 fps, in the
UBFC-rPPG layout (``subjectNN/vid.avi`` + ``ground_truth.txt``: rows PPG, HR, time), each an
animation of the public-domain Grace Hopper photo matplotlib ships
(:func:`distraction.synth.photo.write_photo_clip`; six conditions x four seeds), installs
open-rppg (0.1.1, a benchmark tool, not a project dependency) into a venv of its own under
the cache folder (once), and then times, one after the other on the same 24 files:

* ``workflow``: the project's default workflow, ``snakemake --workflow-profile
  workflow/profiles/default`` on a config holding one ``ubfc`` dataset of the batch (every
  other key at the schema's default: task hr, face tracking, LiteRT), from an empty results
  folder, through its default target (prepare, infer, evaluate, timeline, figures,
  aggregate);
* ``open-rppg <model>``, for every model open-rppg ships (``rppg.main.supported_models``
  of the installed package, or those of ``--models``): its Python API in ONE process of its
  venv per model: ``rppg.Model(model)`` (loaded and JIT-compiled on JAX), then
  ``model.process_video(path)`` per file (PyAV decode, BlazeFace face tracking every 5th
  frame with a Kalman filter, the network frame by frame, HR and HRV from the waveform);
  imports and the JIT start are inside its wall time and reported apart. The fastest
  model (least wall time) is the one the workflow is compared with. With ``--screen N``
  every model first runs on the first N clips only (the same process, load and JIT
  included), its batch wall time projected as that run's plus its mean seconds per video
  times the remaining clips, and only the ``--full K`` models of least projection run on
  the whole batch (every model on 24 clips takes hours on a loaded 2-core machine: the
  Mamba models spend minutes per clip); ``--screen-timeout S`` stops a model's screening
  after S seconds, as slower than that;
* ``floor``: bare OpenCV decode of every frame plus the project's CAN on LiteRT (the shipped
  ``hr_can.tflite`` via :func:`distraction.engines.load_network` /
  :func:`~distraction.engines.predict_can`, batch 256) on 36x36 inputs approximated from a
  centre square crop, in one process: about decode + network compute, nothing else.

Each runs as a child process; its CPU time (user + sys) and peak RSS are those of its whole
process tree (``os.wait4``: every descendant it waited for; peak RSS is the largest single
process, not the sum of concurrent ones); ``other_cpu_s`` is what the rest of the machine
used meanwhile (``/proc/stat``), a check for competing load. Prints a Markdown table (wall
time, CPU-s, CPU-s per video, peak RSS, and each run's wall time over the fastest open-rppg
model's), the seconds the workflow's jobs logged per rule, the ratio workflow / fastest
open-rppg model wall time and the workflow's CPU-s per video over the floor's, against the
targets (<= 0.5x and <= 2x); ``--json`` writes them. A model that fails is reported with
its error and left out of the comparison.

    python benchmarks/bench_batch.py --cache /tmp/distraction-batch --json batch.json

``--prepare-only`` renders the batch and installs open-rppg without timing anything. The
first run renders for about 2 minutes on 2 cores and installs about 1.3 GB into the venv.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import REPO, default_workflow, load_average, print_table, write_json

CONDITIONS = ("clean", "flicker", "motion", "mixed", "illumination", "slow_flicker")
SEEDS = (0, 1, 2, 3)
SECONDS, WIDTH, HEIGHT, FPS = 40.0, 320, 240, 30.0
OPEN_RPPG = "open-rppg==0.1.1"
# open-rppg imports pkg_resources, which setuptools 81 deprecates and later ones drop.
OPEN_RPPG_EXTRA = ("setuptools<81",)
WALL_TARGET, CPU_TARGET = 0.5, 2.0


# ---------------------------------------------------------------------------- the batch


def batch_root(cache: Path) -> Path:
    return cache / f"ubfc_{len(CONDITIONS) * len(SEEDS)}x{SECONDS:g}s_{WIDTH}x{HEIGHT}"


def write_ubfc_ground_truth(csv: Path, target: Path) -> None:
    """UBFC-rPPG's ``ground_truth.txt`` from a renderer CSV: three whitespace-separated
    rows, PPG, HR (bpm) and time (s), as :class:`distraction.datasets.UbfcLoader` reads."""
    table = np.loadtxt(csv, delimiter=",", skiprows=1)  # time, ppg, resp, hr, br
    rows = np.vstack([table[:, 1], table[:, 3], table[:, 0]])
    tmp = target.with_name(f".{target.name}.tmp")
    np.savetxt(tmp, rows, fmt="%.7e", delimiter="  ")
    os.replace(tmp, target)


def render_batch(cache: Path) -> tuple[Path, list[Path]]:
    """The batch's root and videos, rendered once (each clip atomically) into ``cache``."""
    from distraction.synth.photo import builtin_photo, write_photo_clip

    root = batch_root(cache)
    videos = []
    photo = builtin_photo("grace_hopper.jpg")
    index = 0
    for condition in CONDITIONS:
        for seed in SEEDS:
            index += 1
            folder = root / f"subject{index:02d}"
            video, gt = folder / "vid.avi", folder / "ground_truth.txt"
            videos.append(video)
            if video.is_file() and gt.is_file():
                continue
            folder.mkdir(parents=True, exist_ok=True)
            started = time.perf_counter()
            csv = folder / ".vid.csv"
            write_photo_clip(
                photo,
                video,
                csv,
                condition=condition,
                duration_s=SECONDS,
                fps=FPS,
                width=WIDTH,
                height=HEIGHT,
                seed=seed,
                subject_index=index,
            )
            write_ubfc_ground_truth(csv, gt)
            csv.unlink()
            print(
                f"# rendered {video} ({condition}, seed {seed}) in "
                f"{time.perf_counter() - started:.1f} s",
                flush=True,
            )
    return root, videos


# ---------------------------------------------------------------------------- open-rppg venv


def open_rppg_python(cache: Path) -> tuple[Path, dict[str, str]]:
    """The venv's interpreter (created and filled once) and the versions installed."""
    venv = cache / "open-rppg-venv"
    python = venv / "bin" / "python"
    done = venv / ".installed"
    if not done.is_file():
        shutil.rmtree(venv, ignore_errors=True)
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", OPEN_RPPG, *OPEN_RPPG_EXTRA], check=True
        )
        done.write_text(OPEN_RPPG + "\n")
        print(f"# installed {OPEN_RPPG} into {venv} in {time.perf_counter() - started:.0f} s")
    probe = (
        "import json, importlib.metadata as m; print(json.dumps({n: m.version(n) for n in "
        "('open-rppg', 'jax', 'jaxlib', 'keras', 'onnxruntime', 'av', 'numpy')}))"
    )
    out = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, check=True)
    return python, json.loads(out.stdout)


def open_rppg_models(python: Path) -> list[str]:
    """The models the installed open-rppg ships (``rppg.main.supported_models``)."""
    probe = "import json, rppg.main; print(json.dumps(list(rppg.main.supported_models)))"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    out = subprocess.run(
        [str(python), "-c", probe], capture_output=True, text=True, check=True, env=env
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------- child processes

# Runs in open-rppg's venv: one Model, every file through process_video.
OPEN_RPPG_CHILD = """
import json, resource, sys, time
t0 = time.perf_counter()
import rppg
t1 = time.perf_counter()
model = rppg.Model({model!r})
t2 = time.perf_counter()
cpu_load = sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
initial_state = model.state
videos = []
for path in sys.argv[1:]:
    model.state = initial_state  # each video from the model's initial recurrent state
    start = time.perf_counter()
    result = model.process_video(path)
    videos.append({{
        "video": path,
        "seconds": time.perf_counter() - start,
        "hr": None if not result or result["hr"] is None else float(result["hr"]),
        "sqi": None if not result or result["SQI"] is None else float(result["SQI"]),
        "frames": model.statistic["frames"],
        "no_face_frames": model.statistic["null"],
    }})
print(json.dumps({{
    "imports_s": t1 - t0,
    "model_load_jit_s": t2 - t1,
    "cpu_s_until_model_loaded": cpu_load,
    "videos": videos,
}}))
"""


def floor_child(videos: list[str]) -> dict:
    """Decode every frame (OpenCV) and run the shipped CAN (LiteRT) on 36x36 inputs."""
    t0 = time.perf_counter()
    import cv2

    from distraction.engines import load_network, predict_can
    from distraction.preprocess import centre_square_box, crop_resize, normalised_difference

    weights = REPO / "src" / "distraction" / "weights"
    network = load_network(weights / "hr_can.keras", weights / "hr_can.tflite", "can")
    setup_s = time.perf_counter() - t0
    decode_s = network_s = 0.0
    frames = 0
    for path in videos:
        start = time.perf_counter()
        cap = cv2.VideoCapture(path)
        small = []
        box = None
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            if box is None:
                box = centre_square_box(*frame.shape[:2])
            small.append(crop_resize(frame, box, 36))
        cap.release()
        clip = np.stack(small)
        motion = normalised_difference(clip[:-1], clip[1:])
        motion /= motion.std() + 1e-6
        appearance = (clip[:-1] - clip.mean()) / (clip.std() + 1e-6)
        frames += len(small)
        mid = time.perf_counter()
        predict_can(network, motion, appearance, batch_size=256)
        decode_s += mid - start
        network_s += time.perf_counter() - mid
    return {"setup_s": setup_s, "decode_s": decode_s, "network_s": network_s, "frames": frames}


def machine_busy_s() -> float | None:
    """CPU-seconds the whole machine has been busy (Linux ``/proc/stat``), else None."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return None
    ticks = [int(v) for v in fields[:8]]  # user nice system idle iowait irq softirq steal
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


class RunFailed(RuntimeError):
    """A timed command exited with an error (its log's tail in the message)."""


def run_measured(
    cmd: list[str],
    *,
    log: Path,
    env: dict | None = None,
    cwd: Path | None = None,
    timeout_s: float | None = None,
):
    """Run ``cmd``; wall time, CPU-s (user + sys) and peak RSS of its process tree, stdout.

    ``other_cpu_s``: CPU time the rest of the machine used meanwhile (busy time from
    ``/proc/stat`` minus the tree's), a check that nothing else competed.
    """
    busy = machine_busy_s()
    with open(log, "w") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, env=env, cwd=cwd)
        timer = None
        if timeout_s is not None:
            import threading

            timer = threading.Timer(timeout_s, proc.kill)
            timer.start()
        stdout = proc.stdout.read()
        proc.stdout.close()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if timer is not None:
        timer.cancel()
        if timeout_s is not None and wall >= timeout_s:
            raise RunFailed(f"stopped after {timeout_s:g} s (slower than that)")
    if proc.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise RunFailed(f"{cmd[:4]} failed ({proc.returncode}); {log}:\n{tail}")
    cpu = usage.ru_utime + usage.ru_stime
    after = machine_busy_s()
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "peak_rss_mb": usage.ru_maxrss / 1024,  # KiB on Linux
        "other_cpu_s": None if busy is None or after is None else after - busy - cpu,
    }, stdout.decode()


def measure_workflow(root: Path, scratch: Path, n: int) -> dict:
    work = scratch / "workflow"
    work.mkdir()
    results = work / "results"
    cmd, env = default_workflow(work, results, {"batch": {"format": "ubfc", "root": str(root)}})
    usage, _ = run_measured(cmd, log=scratch / "workflow.log", env=env, cwd=work)
    import pandas as pd

    videos = pd.read_csv(results / "reports" / "videos.csv")
    failures = results / "reports" / "failures.csv"
    failed = len(pd.read_csv(failures)) if failures.is_file() else 0
    if failed:
        raise SystemExit(f"the workflow failed on {failed} of {n} videos: {failures}")
    mae = videos.groupby("method")["mae"].mean()
    usage["detail"] = {
        "videos_in_report": int(videos["video"].nunique()),
        "logged_s_by_rule": logged_seconds(results / "logs"),
        "mean_hr_mae_bpm_by_method": {k: float(v) for k, v in mae.items()},
    }
    return usage


def logged_seconds(logs: Path) -> dict[str, dict[str, float]]:
    """Per rule: jobs and the sum of the seconds each job's command logged for its work
    (``distraction``'s closing ``[N s]``: after its start-up imports, before its exit)."""
    import re

    by_rule: dict[str, dict[str, float]] = {}
    for log in logs.rglob("*.log"):
        if log.name == "job_server.log":  # the server's own log, not a job's
            continue
        found = re.findall(r"\[(\d+(?:\.\d+)?) s\]\s*$", log.read_text(), flags=re.MULTILINE)
        rule = re.sub(r"_(hr|br)$", "", log.parent.name if log.parent != logs else log.stem)
        entry = by_rule.setdefault(rule, {"jobs": 0, "logged_s": 0.0})
        entry["jobs"] += 1
        entry["logged_s"] += float(found[-1]) if found else 0.0
    return by_rule


def measure_open_rppg(
    python: Path, model: str, videos: list[Path], scratch: Path, timeout_s: float | None = None
) -> dict:
    script = scratch / f"open_rppg_{model}.py"
    script.write_text(OPEN_RPPG_CHILD.format(model=model))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    usage, out = run_measured(
        [str(python), str(script), *map(str, videos)],
        log=scratch / f"open_rppg_{model}.log",
        env=env,
        cwd=scratch,
        timeout_s=timeout_s,
    )
    detail = json.loads(out.strip().splitlines()[-1])
    errors = []
    for video in detail["videos"]:
        true_hr = np.loadtxt(Path(video["video"]).with_name("ground_truth.txt"))[1].mean()
        if video["hr"] is not None:
            errors.append(abs(video["hr"] - true_hr))
    detail["hr_abs_error_bpm_mean"] = float(np.mean(errors)) if errors else None
    detail["videos_with_hr"] = len(errors)
    usage["detail"] = detail
    return usage


def measure_floor(videos: list[Path], scratch: Path) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO / "src"), str(REPO / "benchmarks"), env.get("PYTHONPATH")) if p
    )
    usage, out = run_measured(
        [sys.executable, __file__, "--floor-child", *map(str, videos)],
        log=scratch / "floor.log",
        env=env,
    )
    usage["detail"] = json.loads(out.strip().splitlines()[-1])
    return usage


# ---------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, help="keep the batch and open-rppg's venv here")
    parser.add_argument("--prepare-only", action="store_true", help="render and install only")
    parser.add_argument("--models", nargs="+", help="open-rppg models (default: every one)")
    parser.add_argument(
        "--screen", type=int, metavar="N", help="first every model on N clips only (above)"
    )
    parser.add_argument(
        "--full", type=int, default=2, metavar="K", help="models run on the whole batch"
    )
    parser.add_argument(
        "--screen-timeout",
        type=float,
        metavar="S",
        help="stop a model's screening after S seconds (it is then slower than that)",
    )
    parser.add_argument("--json", type=Path)
    parser.add_argument("--floor-child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor_child:
        print(json.dumps(floor_child(args.floor_child)))
        return

    scratch = Path(tempfile.mkdtemp(prefix="bench_batch_"))
    try:
        cache = (args.cache or scratch / "cache").resolve()
        cache.mkdir(parents=True, exist_ok=True)
        root, videos = render_batch(cache)
        python, versions = open_rppg_python(cache)
        models = args.models or open_rppg_models(python)
        if args.prepare_only:
            print(f"# batch in {root}; open-rppg venv {python} ({versions}); models {models}")
            return
        n = len(videos)
        print(f"# {n} clips in {root}; load before {load_average()}", flush=True)
        measures = {
            "workflow": lambda: measure_workflow(root, scratch, n),
            "floor": lambda: measure_floor(videos, scratch),
            **{
                f"open-rppg {model}": lambda model=model: measure_open_rppg(
                    python, model, videos, scratch
                )
                for model in models
            },
        }
        runs, failed, screened = {}, {}, {}
        if args.screen:
            screened = screen_models(
                python, models, videos[: args.screen], n, scratch, failed, args.screen_timeout
            )
            models = sorted(screened, key=lambda m: screened[m]["projected_wall_s"])[: args.full]
            measures = {
                name: measure
                for name, measure in measures.items()
                if not name.startswith("open-rppg") or name.removeprefix("open-rppg ") in models
            }
        for name, measure in measures.items():
            try:
                runs[name] = measure()
            except RunFailed as error:
                if not name.startswith("open-rppg"):
                    raise SystemExit(str(error)) from None
                failed[name] = str(error).splitlines()[-1]
                print(f"# {name}: failed: {failed[name]}", flush=True)
                continue
            print(
                f"# {name}: {runs[name]['wall_s']:.1f} s, {runs[name]['cpu_s']:.1f} CPU-s; "
                f"load {load_average()}",
                flush=True,
            )
        report(runs, failed, screened, versions, n, args.json)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def screen_models(
    python: Path,
    models: list[str],
    videos: list[Path],
    n: int,
    scratch: Path,
    failed: dict,
    timeout_s: float | None,
) -> dict[str, dict]:
    """Every model on the first clips: its usage and its projected wall time on ``n``; a
    model stopped after ``timeout_s`` goes to ``failed`` with that reason."""
    screened = {}
    for model in models:
        try:
            usage = measure_open_rppg(python, model, videos, scratch, timeout_s)
        except RunFailed as error:
            failed[f"open-rppg {model}"] = str(error).splitlines()[-1]
            print(f"# screen {model}: failed: {failed[f'open-rppg {model}']}", flush=True)
            continue
        per_video = np.mean([v["seconds"] for v in usage["detail"]["videos"]])
        usage["projected_wall_s"] = usage["wall_s"] + per_video * (n - len(videos))
        screened[model] = usage
        print(
            f"# screen {model} on {len(videos)} clips: {usage['wall_s']:.1f} s (load + JIT "
            f"{usage['detail']['model_load_jit_s']:.1f} s, {per_video:.1f} s per video), "
            f"projected {usage['projected_wall_s']:.0f} s; load {load_average()}",
            flush=True,
        )
    return screened


def report(
    runs: dict, failed: dict, screened: dict, versions: dict, n: int, json_path: Path | None
) -> None:
    """Print the tables and ratios; write them to ``json_path``."""
    timed = [name for name in runs if name.startswith("open-rppg")]
    if not timed:
        raise SystemExit(f"no open-rppg model ran: {failed}")
    fastest = min(timed, key=lambda name: runs[name]["wall_s"])
    rows = [
        {
            "run": name,
            "wall_s": run["wall_s"],
            "cpu_s": run["cpu_s"],
            "cpu_s_per_video": run["cpu_s"] / n,
            "peak_rss_mb": run["peak_rss_mb"],
            "over_fastest": run["wall_s"] / runs[fastest]["wall_s"],
            "other_cpu_s": run["other_cpu_s"] if run["other_cpu_s"] is not None else "",
        }
        for name, run in runs.items()
    ]
    wall_ratio = runs["workflow"]["wall_s"] / runs[fastest]["wall_s"]
    cpu_ratio = runs["workflow"]["cpu_s"] / runs["floor"]["cpu_s"]
    floor = runs["floor"]["detail"]
    print(
        f"# {n} clips x {SECONDS:g} s, {WIDTH}x{HEIGHT} MJPG {FPS:g} fps (UBFC layout, "
        f"photo renders); {os.cpu_count()} CPUs; open-rppg {versions['open-rppg']} "
        f"(jax {versions['jax']}, keras {versions['keras']})"
    )
    columns = ["run", "wall_s", "cpu_s", "cpu_s_per_video", "peak_rss_mb", "over_fastest"]
    print_table(rows, [*columns, "other_cpu_s"])
    if screened:
        clips = len(next(iter(screened.values()))["detail"]["videos"])
        print(f"every model on the first {clips} clips (projected to {n}):")
        print_table(
            [
                {
                    "model": model,
                    "wall_s": usage["wall_s"],
                    "load_jit_s": usage["detail"]["model_load_jit_s"],
                    "s_per_video": np.mean([v["seconds"] for v in usage["detail"]["videos"]]),
                    "projected_wall_s": usage["projected_wall_s"],
                    "workflow_over_projected": runs["workflow"]["wall_s"]
                    / usage["projected_wall_s"],
                }
                for model, usage in sorted(
                    screened.items(), key=lambda item: item[1]["projected_wall_s"]
                )
            ],
            [
                "model",
                "wall_s",
                "load_jit_s",
                "s_per_video",
                "projected_wall_s",
                "workflow_over_projected",
            ],
        )
    for name, reason in failed.items():
        print(f"{name}: failed ({reason})")
    print("workflow jobs, by rule (seconds each job's command logged for its work):")
    print_table(
        [
            {"rule": rule, **entry}
            for rule, entry in sorted(runs["workflow"]["detail"]["logged_s_by_rule"].items())
        ],
        ["rule", "jobs", "logged_s"],
    )
    for name in timed:
        detail = runs[name]["detail"]
        print(
            f"{name}: imports {detail['imports_s']:.1f} s, Model() with JIT "
            f"{detail['model_load_jit_s']:.1f} s, videos "
            f"{sum(v['seconds'] for v in detail['videos']):.1f} s; frames without a face "
            f"{sum(v['no_face_frames'] for v in detail['videos'])}; mean |HR error| "
            f"{detail['hr_abs_error_bpm_mean']} bpm over {detail['videos_with_hr']} videos"
        )
    print(
        f"floor: setup {floor['setup_s']:.1f} s, decode + 36x36 inputs "
        f"{floor['decode_s']:.1f} s, CAN {floor['network_s']:.1f} s, {floor['frames']} frames"
    )
    print(f"fastest open-rppg model: {fastest.removeprefix('open-rppg ')}")
    print(
        f"workflow / {fastest} wall time: {wall_ratio:.2f}x (target <= {WALL_TARGET}x: "
        f"{'met' if wall_ratio <= WALL_TARGET else 'not met'})"
    )
    print(
        f"workflow / floor CPU-s per video: {cpu_ratio:.2f}x (target <= {CPU_TARGET:g}x: "
        f"{'met' if cpu_ratio <= CPU_TARGET else 'not met'})"
    )
    write_json(
        json_path,
        {
            "benchmark": "batch",
            "videos": n,
            "clip": {"seconds": SECONDS, "width": WIDTH, "height": HEIGHT, "fps": FPS},
            "open_rppg_versions": versions,
            "fastest_open_rppg_model": fastest.removeprefix("open-rppg "),
            "runs": runs,
            "screened": screened,
            "failed": failed,
            "workflow_over_fastest_open_rppg_wall": wall_ratio,
            "workflow_over_floor_cpu_per_video": cpu_ratio,
        },
    )


if __name__ == "__main__":
    main()
