"""End-to-end wall time of one video through every inference stage, CLI vs in-process.

One seeded synthetic clip (``write_clip``, default 60 s 640x480 30 fps, task hr) goes through
prepare -> infer (infer-can, corruption, denoise) -> evaluate twice:

* ``cli``: the three processes the Snakemake rules start per video and task
  (``distraction prepare``, ``infer``, ``evaluate``) with the arguments the rules pass at the
  config defaults (workflow/rules/*.smk, config.yaml); each pays Python + library import,
  ``infer`` also TensorFlow's start and both model loads;
* ``in-process``: the same stage functions called one after another in one fresh Python
  process (imports, incl. TensorFlow, counted once as ``imports``; each stage loads its model
  as the CLI does), which also gives the split of ``infer`` into its three stages. The
  difference is the process start-up cost.

Models: ``src/distraction/weights/hr_can.keras`` / ``hr_lstm.keras`` when present, otherwise
random-init ``build_can("hr")`` / ``build_lstm("hr")`` saved into the scratch folder.

Engine (``--engine``, the config's ``models.engine``): ``auto`` (the default; LiteRT here, as
no GPU is visible) runs the networks from models exported once (``distraction
export-litert``, timed apart: once per network, not per video); ``keras`` runs them on
TensorFlow. The Snakemake runs use the shipped weights as ``builtin`` (their LiteRT copies
ship beside them); with random-init models they keep the exported models between repeats, as
a results folder does after its first video, and one more run, from an empty results folder,
counts the export jobs too.

    python benchmarks/bench_pipeline.py --cache /tmp/distraction-bench --json pipeline.json
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

from _common import REPO, default_workflow, load_average, print_table, render_clip, write_json

# Every setting at the schema's default, as the workflow's defaults run it.


def models(scratch: Path) -> tuple[Path, Path, str]:
    weights = REPO / "src" / "distraction" / "weights"
    can, lstm = weights / "hr_can.keras", weights / "hr_lstm.keras"
    if can.is_file() and lstm.is_file():
        return can, lstm, "shipped weights"
    from distraction.models import build_can, build_lstm, save_model

    can, lstm = scratch / "hr_can.keras", scratch / "hr_lstm.keras"
    save_model(build_can("hr"), can)
    save_model(build_lstm("hr", window=60), lstm)
    return can, lstm, "random init (no shipped weights)"


def export_models(can: Path, lstm: Path, folder: Path) -> tuple[Path, Path, float]:
    """Export both networks for the litert engine (as the export_litert rule does)."""
    exe = shutil.which("distraction", path=str(Path(sys.executable).parent)) or "distraction"
    started = time.perf_counter()
    exported = []
    for model in (can, lstm):
        target = folder / f"{model.stem}.tflite"
        cmd = [exe, "export-litert", "--model", str(model), "--output", str(target)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"export-litert failed:\n{proc.stderr[-3000:]}")
        exported.append(target)
    return exported[0], exported[1], time.perf_counter() - started


def cli_commands(
    root: Path, store: Path, can: Path, lstm: Path, csv: Path, engine: str, litert: list[Path]
) -> list:
    exe = shutil.which("distraction", path=str(Path(sys.executable).parent)) or "distraction"
    s = str(store)
    commands = [
        (
            "prepare",
            [
                exe,
                "prepare",
                "--format",
                "generic",
                "--root",
                str(root),
                "--dataset",
                "bench",
                "--recording",
                "s00/clean",
                "--store",
                s,
                "--crop",
                "centre",
                "--chunk-frames",
                "256",
                "--record-failures",
            ],
        ),
        (
            "infer",
            [
                exe,
                "infer",
                "--store",
                s,
                "--task",
                "hr",
                "--can-model",
                str(can),
                "--lstm-model",
                str(lstm),
                "--engine",
                engine,
                *(
                    ["--can-litert", str(litert[0]), "--lstm-litert", str(litert[1])]
                    if litert
                    else []
                ),
                "--record-failures",
            ],
        ),
        (
            "evaluate",
            [
                exe,
                "evaluate",
                "--store",
                s,
                "--task",
                "hr",
                "--output",
                str(csv),
                "--status",
                str(csv.with_name("status.csv")),
            ],
        ),
    ]
    return commands


def run_cli(commands: list, store: Path) -> dict[str, float]:
    shutil.rmtree(store, ignore_errors=True)
    times = {}
    for name, cmd in commands:
        started = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        times[name] = time.perf_counter() - started
        if proc.returncode != 0:
            raise SystemExit(f"{name} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return times


def run_in_process(
    root: Path, store: Path, can: Path, lstm: Path, csv: Path, litert: list[Path]
) -> dict:
    shutil.rmtree(store, ignore_errors=True)
    times = {}
    started = time.perf_counter()
    from distraction.datasets import get_loader
    from distraction.engines import load_network
    from distraction.evaluate import run_evaluate
    from distraction.infer import denoise, estimate_corruption, infer_can
    from distraction.prepare import prepare_recording
    from distraction.settings import task_settings

    if not litert:
        from distraction.models import configure_devices

        configure_devices(seed=None, deterministic=True)
    times["imports"] = time.perf_counter() - started
    can_litert, lstm_litert = litert or (None, None)
    settings = task_settings("hr")
    batch = 256  # models.batch_size

    def timed(name, fn):
        t0 = time.perf_counter()
        fn()
        times[name] = time.perf_counter() - t0

    def prep():
        loader = get_loader("generic", "bench", root)
        rec = next(r for r in loader.list_recordings() if r.recording_id == "s00/clean")
        prepare_recording(loader, rec, store, crop="centre", chunk_frames=256)

    timed("prepare", prep)
    timed(
        "infer-can",
        lambda: infer_can(store, load_network(can, can_litert, "can"), settings, batch_size=batch),
    )
    timed(
        "corruption",
        lambda: estimate_corruption(store, settings),
    )
    timed(
        "denoise",
        lambda: denoise(store, load_network(lstm, lstm_litert, "lstm"), settings, batch_size=batch),
    )

    timed("evaluate", lambda: run_evaluate(store, settings, csv))
    return times


def workflow_models(can: Path, lstm: Path) -> dict[str, str]:
    """The config's models: ``builtin`` for the shipped weights (whose LiteRT copies ship
    beside them, so no export job runs), otherwise the files (exported by the workflow)."""
    weights = REPO / "src" / "distraction" / "weights"
    if (can, lstm) == (weights / "hr_can.keras", weights / "hr_lstm.keras"):
        return {"hr_can": "builtin", "hr_lstm": "builtin"}
    return {"hr_can": str(can), "hr_lstm": str(lstm)}


def run_workflow(
    root: Path,
    scratch: Path,
    can: Path,
    lstm: Path,
    engine: str,
    until: str = "evaluate",
    keep_models: bool = True,
) -> dict[str, float]:
    """The same video through Snakemake itself (default profile, 2 cores, task hr).

    ``until="evaluate"`` asks for the video's evaluation CSV (prepare -> infer -> evaluate);
    ``until="infer"`` for its denoised group, i.e. through the inference rules only (prepare
    -> infer). ``jobs_s`` = wall time of the run minus that of a dry run of the same target,
    i.e. from about the first job's start to the end, Snakemake's own bookkeeping between jobs
    included. With ``keep_models`` the networks exported by an earlier run stay (as in a
    results folder after its first video); without, the export jobs run too.
    """
    results = scratch / "workflow_results"
    shutil.rmtree(results / "bench", ignore_errors=True)
    if not keep_models:
        shutil.rmtree(results, ignore_errors=True)
    command, env = default_workflow(
        scratch,
        results,
        {"bench": {"format": "generic", "root": str(root)}},
        config=scratch / "workflow_config.yaml",
        models={**workflow_models(can, lstm), "engine": engine},
    )
    target = str(
        results / "bench" / "eval" / "hr" / "s00" / "clean.csv"
        if until == "evaluate"
        else results / "bench" / "stores" / "s00" / "clean.zarr" / "denoised_hr" / "zarr.json"
    )
    base = [*command, "--cores", "2", target]
    times = {}
    for name, extra in (("dry_run_s", ["-n"]), ("run_s", [])):
        started = time.perf_counter()
        proc = subprocess.run(base + extra, capture_output=True, text=True, env=env, cwd=scratch)
        times[name] = time.perf_counter() - started
        if proc.returncode != 0:
            raise SystemExit(f"snakemake failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    times["jobs_s"] = times["run_s"] - times["dry_run_s"]
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, help="keep the rendered clip here (default: temp)")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--repeats", type=int, default=1, help="runs of each mode (best kept)")
    parser.add_argument("--engine", choices=["auto", "keras", "litert"], default="auto")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", nargs="+", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:  # one in-process run in a fresh interpreter, so imports are counted
        print(json.dumps(run_in_process(*args.child[:5], litert=args.child[5:])))
        return

    scratch = Path(tempfile.mkdtemp(prefix="bench_pipeline_"))
    try:
        cache = args.cache or scratch / "cache"
        root = render_clip(cache, args.seconds, args.width, args.height, args.fps)
        can, lstm, origin = models(scratch)
        frames = round(args.seconds * args.fps)
        csv = scratch / "eval.csv"
        from distraction.litert import resolve_engine

        engine = resolve_engine(args.engine, exported=True)
        litert: list[Path] = []
        export_s = None
        if engine == "litert":
            *litert, export_s = export_models(can, lstm, scratch)
        commands = cli_commands(root, scratch / "cli.zarr", can, lstm, csv, args.engine, litert)
        cli_runs = [run_cli(commands, scratch / "cli.zarr") for _ in range(args.repeats)]
        cli = min(cli_runs, key=lambda t: sum(t.values()))
        child = [
            sys.executable,
            __file__,
            "--child",
            str(root),
            str(scratch / "proc.zarr"),
            str(can),
            str(lstm),
            str(csv),
            *map(str, litert),
        ]
        proc_runs = []
        for _ in range(args.repeats):
            out = subprocess.run(child, capture_output=True, text=True)
            if out.returncode != 0:
                raise SystemExit(f"in-process run failed:\n{out.stderr[-3000:]}")
            proc_runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
        proc = min(proc_runs, key=lambda t: sum(t.values()))
        workflow_runs, inference_runs = [], []
        cold = run_workflow(root, scratch, can, lstm, args.engine, "infer", keep_models=False)
        for _ in range(args.repeats):
            workflow_runs.append(run_workflow(root, scratch, can, lstm, args.engine))
            inference_runs.append(run_workflow(root, scratch, can, lstm, args.engine, "infer"))
        workflow = min(workflow_runs, key=lambda t: t["jobs_s"])
        inference = min(inference_runs, key=lambda t: t["jobs_s"])
        proc["infer"] = proc["infer-can"] + proc["corruption"] + proc["denoise"]
        rows = []
        order = ["imports", "prepare", "infer", "infer-can", "corruption", "denoise", "evaluate"]
        for name in order:
            c, p = cli.get(name), proc.get(name)
            rows.append(
                {
                    "stage": name,
                    "cli_s": "" if c is None else c,
                    "in_process_s": p,
                    "cli_frames_per_s": "" if c is None else frames / c,
                    "in_process_frames_per_s": frames / p if name != "imports" else "",
                    "process_overhead_s": "" if c is None else c - p,
                }
            )
        total_cli = sum(cli.values())
        total_proc = sum(v for k, v in proc.items() if k != "infer")
        rows.append(
            {
                "stage": "total",
                "cli_s": total_cli,
                "in_process_s": total_proc,
                "cli_frames_per_s": frames / total_cli,
                "in_process_frames_per_s": frames / total_proc,
                "process_overhead_s": total_cli - total_proc,
            }
        )
        print(
            f"# {args.seconds:g} s {args.width}x{args.height} {args.fps:g} fps clip "
            f"({frames} frames), task hr, models: {origin}, engine {args.engine} ({engine}), "
            f"best of {args.repeats}, load {load_average()}"
        )
        if export_s is not None:
            print(
                f"export-litert of both networks (once per network; not in the times below): "
                f"{export_s:.1f} s"
            )
        print_table(
            rows,
            [
                "stage",
                "cli_s",
                "in_process_s",
                "cli_frames_per_s",
                "in_process_frames_per_s",
                "process_overhead_s",
            ],
        )
        for label, run in (
            ("inference rules: prepare -> infer", inference),
            ("with evaluation: prepare -> infer -> evaluate", workflow),
            ("inference rules, empty results folder", cold),
        ):
            print(
                f"snakemake ({label}; default profile, 2 cores): {run['jobs_s']:.1f} s from "
                f"the first job's start (run {run['run_s']:.1f} s - dry run "
                f"{run['dry_run_s']:.1f} s)"
            )
        print("target: <= 10 s")
        write_json(
            args.json,
            {
                "benchmark": "pipeline",
                "frames": frames,
                "models": origin,
                "engine": args.engine,
                "resolved_engine": engine,
                "export_s": export_s,
                "cold_inference_workflow": cold,
                "commands": [" ".join(c) for _, c in commands],
                "cli": cli,
                "in_process": proc,
                "cli_runs": cli_runs,
                "in_process_runs": proc_runs,
                "workflow": workflow,
                "workflow_runs": workflow_runs,
                "inference_workflow": inference,
                "inference_workflow_runs": inference_runs,
            },
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
