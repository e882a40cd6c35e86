"""Command-line interface: one subcommand per pipeline stage.

Each Snakemake rule is a thin shell call of one of these, so every stage also runs
(and is tested) without Snakemake.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from distraction.errors import InputError

log = logging.getLogger("distraction")

Handler = Callable[[argparse.Namespace], str]
_COMMANDS: dict[str, tuple[Handler, Callable[[argparse.ArgumentParser], None], str]] = {}


def command(name: str, help_text: str):
    """Register a subcommand: the decorated function adds arguments, ``run`` does the work."""

    def decorator(add_arguments: Callable[[argparse.ArgumentParser], None]):
        def register(run: Handler) -> Handler:
            _COMMANDS[name] = (run, add_arguments, help_text)
            return run

        return register

    return decorator


def _synth_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--video", type=Path, required=True, help="output video file (.avi)")
    p.add_argument("--ground-truth", type=Path, required=True, help="output ground-truth CSV")
    p.add_argument("--subject", type=int, required=True, help="subject (identity) index")
    p.add_argument("--condition", required=True, help="corruption preset, e.g. clean or flicker")
    p.add_argument("--duration", type=float, default=40.0, help="seconds")
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--width", type=int, default=160)
    p.add_argument("--height", type=int, default=120)
    p.add_argument("--seed", type=int, default=0)


@command("synth", "render one synthetic face video with known physiology")(_synth_args)
def run_synth(args: argparse.Namespace) -> str:
    from distraction.synth import write_clip

    args.video.parent.mkdir(parents=True, exist_ok=True)
    args.ground_truth.parent.mkdir(parents=True, exist_ok=True)
    write_clip(
        args.video,
        args.ground_truth,
        subject_index=args.subject,
        condition=args.condition,
        duration_s=args.duration,
        fps=args.fps,
        width=args.width,
        height=args.height,
        seed=args.seed,
    )
    return (
        f"synth: wrote {args.video} ({args.condition}, subject {args.subject}, {args.duration:g} s)"
    )


def _dataset_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--format", required=True, help="dataset format: generic, ubfc, pure, mmse, synth"
    )
    p.add_argument("--root", type=Path, required=True, help="dataset root folder")
    p.add_argument("--dataset", default="dataset", help="dataset name used in outputs")


def _find_recording(args: argparse.Namespace):
    from distraction.datasets import get_loader

    loader = get_loader(
        "generic" if args.format == "synth" else args.format, args.dataset, args.root
    )
    return loader, loader.recording(args.recording)


def _prepare_args(p: argparse.ArgumentParser) -> None:
    _dataset_args(p)
    p.add_argument("--recording", required=True, help="recording id, e.g. s01/clean")
    p.add_argument("--store", type=Path, required=True, help="the video's Zarr store")
    p.add_argument("--crop", choices=["centre", "face"], default="centre")
    p.add_argument("--chunk-frames", type=int, default=256)
    p.add_argument(
        "--threads",
        type=int,
        default=2,
        help="decoding threads (2 or more: in parallel blocks where the codec allows seeking, "
        "else one thread decodes while another crops)",
    )
    _record_failures_arg(p)


@command("prepare", "decode one video into its Zarr store (CAN inputs, frames, ground truth)")(
    _prepare_args
)
def run_prepare(args: argparse.Namespace) -> str:
    from distraction.prepare import prepare_recording

    loader, rec = _find_recording(args)
    summary = prepare_recording(
        loader,
        rec,
        args.store,
        crop=args.crop,
        chunk_frames=args.chunk_frames,
        provenance={"format": args.format, "crop_requested": args.crop},
        threads=args.threads,
    )
    rate = summary["frames"] / max(summary["seconds"], 1e-9)
    return (
        f"prepare {args.dataset}/{rec.recording_id}: {summary['frames']} frames at "
        f"{summary['fps']:g} fps, ground truth {summary['ground_truth'] or 'none'}, "
        f"{summary['seconds']:.1f} s ({rate:.0f} frames/s)"
    )


def _band(text: str) -> tuple[float, float]:
    low, high = (float(v) for v in text.split(","))
    return (low, high)


def _record_failures_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--record-failures",
        action="store_true",
        help="on bad input, record the reason in the store (so later stages and the report "
        "carry it) and exit 0 instead of failing",
    )


def _task_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", type=Path, required=True, help="the video's Zarr store")
    p.add_argument("--task", choices=["hr", "br"], required=True)


def _settings(args: argparse.Namespace):
    from distraction.stages import task_settings

    return task_settings(
        args.task,
        band=_band(args.band) if getattr(args, "band", None) else None,
        detrend_lambda=getattr(args, "detrend_lambda", None),
        window_s=getattr(args, "window_s", None),
        fs_out=getattr(args, "fs_out", None),
    )


def _batch_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--batch-size", type=int, default=256)


def _mask_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--inverse-mask", choices=["binary", "continuous"], default="binary")
    p.add_argument("--threshold", type=float, default=0.1)


def _corruption_options(p: argparse.ArgumentParser) -> None:
    _mask_options(p)
    p.add_argument("--band", help="pass band in Hz, 'low,high' (task default if omitted)")
    p.add_argument("--detrend-lambda", type=float, help="smoothness-priors lambda")
    p.add_argument(
        "--fs-out", type=float, help="rate of the conditioned signals, Hz (task default: 30 / 5)"
    )


def _window_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--window", type=int, default=60)
    p.add_argument("--stride", type=int, default=30)
    p.add_argument(
        "--cancel-corruption",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="before the LSTM, remove from the CAN signal what the corruption traces explain "
        "linearly (default: on for hr, off for br); train and run a denoiser the same way",
    )


def _cancel(args: argparse.Namespace) -> bool:
    """The ``--cancel-corruption`` setting, or the task's default."""
    from distraction.stages import cancels

    return cancels(args.task, args.cancel_corruption)


def _denoise_options(p: argparse.ArgumentParser) -> None:
    _window_options(p)
    p.add_argument("--overlap", choices=["taper", "overwrite"], default="taper")


def _engine_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--engine",
        choices=["auto", "keras", "litert"],
        default="auto",
        help="keras: TensorFlow (the GPU when present); litert: LiteRT on CPU, from the "
        "exported .tflite (starts in 0.1 s instead of 3-4 s); auto (default): litert when "
        "the exported models are given and no GPU is visible, else keras",
    )


def _engine(args: argparse.Namespace, *exported: Path | None) -> tuple[bool, str]:
    """Whether this run uses LiteRT, and the device it runs on, for the job's log line.

    TensorFlow is configured (and so imported) only for the keras engine.
    """
    from distraction.litert import resolve_engine

    engine = resolve_engine(args.engine, exported=all(path is not None for path in exported))
    if engine == "keras":
        from distraction.models import configure_devices

        return False, f"{configure_devices(seed=None, deterministic=True)} (keras)"
    return True, "CPU (litert)"


# The three network stages, called by their own subcommands and together by `infer`.
def _can_stage(args: argparse.Namespace, model: Path, litert: Path | None = None) -> dict:
    from distraction.stages import infer_can

    return infer_can(args.store, model, args.task, batch_size=args.batch_size, litert_path=litert)


def _corruption_stage(args: argparse.Namespace) -> dict:
    from distraction.stages import estimate_corruption

    return estimate_corruption(
        args.store,
        args.task,
        _settings(args),
        inverse_mode=args.inverse_mask,
        threshold=args.threshold,
        fs_out=args.fs_out,
    )


def _denoise_stage(args: argparse.Namespace, model: Path, litert: Path | None = None) -> dict:
    from distraction.stages import denoise

    return denoise(
        args.store,
        args.task,
        model,
        window=args.window,
        stride=args.stride,
        overlap=args.overlap,
        batch_size=args.batch_size,
        cancel=_cancel(args),
        litert_path=litert,
    )


def _infer_args(p: argparse.ArgumentParser) -> None:
    _task_args(p)
    _record_failures_arg(p)
    p.add_argument("--model", type=Path, required=True, help="CAN .keras file")
    p.add_argument("--litert", type=Path, help="the CAN exported by export-litert (.tflite)")
    _engine_option(p)
    _batch_option(p)


@command("infer-can", "run the CAN: signal and attention masks into the store")(_infer_args)
def run_infer_can(args: argparse.Namespace) -> str:
    litert, device = _engine(args, args.litert)
    summary = _can_stage(args, args.model, args.litert if litert else None)
    return f"infer-can {args.store} ({args.task}): {summary['frames']} frames on {device}"


def _corruption_args(p: argparse.ArgumentParser) -> None:
    _task_args(p)
    _record_failures_arg(p)
    _corruption_options(p)


@command("corruption", "inverse masks, corruption traces and conditioned signals")(_corruption_args)
def run_corruption(args: argparse.Namespace) -> str:
    summary = _corruption_stage(args)
    return (
        f"corruption {args.store} ({args.task}): {summary['frames']} frames -> "
        f"{summary['samples_out']} samples"
    )


def _denoise_args(p: argparse.ArgumentParser) -> None:
    _task_args(p)
    _record_failures_arg(p)
    p.add_argument("--model", type=Path, required=True, help="LSTM .keras file")
    p.add_argument("--litert", type=Path, help="the LSTM exported by export-litert (.tflite)")
    _engine_option(p)
    _denoise_options(p)
    _batch_option(p)


@command("denoise", "LSTM denoising of the CAN signal with the corruption traces")(_denoise_args)
def run_denoise(args: argparse.Namespace) -> str:
    litert, device = _engine(args, args.litert)
    summary = _denoise_stage(args, args.model, args.litert if litert else None)
    return f"denoise {args.store} ({args.task}): {summary['windows']} windows on {device}"


def _infer_all_args(p: argparse.ArgumentParser) -> None:
    _task_args(p)
    _record_failures_arg(p)
    p.add_argument("--can-model", type=Path, required=True, help="CAN .keras file")
    p.add_argument("--lstm-model", type=Path, required=True, help="LSTM .keras file")
    p.add_argument("--can-litert", type=Path, help="the CAN exported by export-litert")
    p.add_argument("--lstm-litert", type=Path, help="the LSTM exported by export-litert")
    _engine_option(p)
    _batch_option(p)
    _corruption_options(p)
    _denoise_options(p)


@command(
    "infer",
    "infer-can, corruption and denoise of one video in one process (what the workflow runs)",
)(_infer_all_args)
def run_infer(args: argparse.Namespace) -> str:
    # One process for the three network stages: the network runtime starts once per video
    # (TensorFlow's start is most of a short video's wall time: benchmarks/bench_pipeline.py).
    litert, device = _engine(args, args.can_litert, args.lstm_litert)
    can_litert, lstm_litert = (args.can_litert, args.lstm_litert) if litert else (None, None)
    stages: list[tuple[str, Callable[[], dict]]] = [
        ("infer-can", lambda: _can_stage(args, args.can_model, can_litert)),
        ("corruption", lambda: _corruption_stage(args)),
        ("denoise", lambda: _denoise_stage(args, args.lstm_model, lstm_litert)),
    ]
    summaries: dict[str, dict] = {}
    for stage, run in stages:
        try:
            summaries[stage] = run()
        except InputError as exc:
            if not args.record_failures:
                raise
            # Later stages see the recorded failure and record it in their groups too.
            _record_failure(args, exc, stage=stage)
            log.warning("%s FAILED, recorded in %s: %s", stage, args.store, exc)
            summaries[stage] = {"failed": str(exc)}
    failed = next((s for s in summaries.values() if "failed" in s), None)
    if failed is not None:
        return f"infer {args.store} ({args.task}): failed: {failed['failed']}"
    return (
        f"infer {args.store} ({args.task}): {summaries['infer-can']['frames']} frames on "
        f"{device} -> {summaries['corruption']['samples_out']} samples, "
        f"{summaries['denoise']['windows']} denoiser windows"
    )


def _evaluate_args(p: argparse.ArgumentParser) -> None:
    _task_args(p)
    p.add_argument("--output", type=Path, required=True, help="per-window CSV")
    p.add_argument(
        "--status", type=Path, help="one-row CSV: ok, skipped or failed, with the reason"
    )
    p.add_argument("--band", help="pass band in Hz, 'low,high'")
    p.add_argument("--detrend-lambda", type=float)
    p.add_argument("--window-s", type=float, help="evaluation window in seconds")
    p.add_argument("--methods", default="can,cancelled,denoised,green,ica,chrom,pos")
    p.add_argument("--seed", type=int, default=0)


@command("evaluate", "per-window rates, SNR and waveform error of every method")(_evaluate_args)
def run_evaluate(args: argparse.Namespace) -> str:
    import pandas as pd

    from distraction.report import FAILURE_COLUMNS, write_csv
    from distraction.stages import evaluate

    table, status = evaluate(
        args.store, args.task, _settings(args), args.methods.split(","), seed=args.seed
    )
    write_csv(table, args.output)
    if args.status is not None:
        write_csv(pd.DataFrame([status], columns=FAILURE_COLUMNS), args.status)
    return f"evaluate {args.store} ({args.task}): {len(table)} rows, {status['status']}"


def _aggregate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--inputs", type=Path, nargs="*", default=[], help="per-video evaluation CSVs")
    p.add_argument(
        "--statuses", type=Path, nargs="*", default=[], help="per-video status CSVs (from evaluate)"
    )
    p.add_argument("--outdir", type=Path, required=True)


@command("aggregate", "per-window, per-video and summary CSVs plus plots")(_aggregate_args)
def run_aggregate(args: argparse.Namespace) -> str:
    from distraction.report import aggregate

    summary = aggregate(args.inputs, args.outdir, statuses=args.statuses)
    return f"aggregate: {summary['videos']} videos, {summary['windows']} windows -> {args.outdir}"


def _figures_args(p: argparse.ArgumentParser) -> None:
    _task_args(p)
    p.add_argument(
        "--triptych", type=Path, required=True, help="frame / attention / inverse mask PNG"
    )
    p.add_argument("--waveforms", type=Path, required=True, help="CAN vs denoised vs truth PNG")


@command("figures", "example figures of one video: mask triptych and waveforms")(_figures_args)
def run_figures(args: argparse.Namespace) -> str:
    from distraction.figures import video_figures

    video_figures(args.store, args.task, args.triptych, args.waveforms)
    return f"figures {args.store} ({args.task}): {args.triptych}, {args.waveforms}"


def _train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--stores", type=Path, nargs="+", required=True, help="training videos' Zarr stores"
    )
    p.add_argument("--task", choices=["hr", "br"], required=True)
    p.add_argument("--output", type=Path, required=True, help="model file (.keras)")
    p.add_argument(
        "--curves",
        type=Path,
        required=True,
        help="learning curves CSV (a PNG is written beside it)",
    )
    p.add_argument("--sidecar", type=Path, required=True, help="provenance JSON")
    p.add_argument(
        "--folds",
        type=int,
        default=4,
        help="subject-wise CV folds before the final model (<2: none)",
    )
    p.add_argument("--validation-fraction", type=float, default=0.2)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--patience", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--band", help="pass band in Hz, 'low,high'")
    p.add_argument("--detrend-lambda", type=float)


def _train_settings(args: argparse.Namespace) -> dict:
    keys = (
        "task",
        "folds",
        "validation_fraction",
        "epochs",
        "batch_size",
        "learning_rate",
        "patience",
        "seed",
        "band",
        "detrend_lambda",
        "window",
        "stride",
        "cancel_corruption",
        "can_model",
        "inverse_mask",
        "threshold",
        "fs_out",
        "select_by",
        "window_s",
    )
    values = {key: getattr(args, key) for key in keys if hasattr(args, key)}
    return {key: str(v) if isinstance(v, Path) else v for key, v in values.items()}


def _train(args: argparse.Namespace, kind: str, examples: list, fit) -> str:
    from distraction.models import configure_devices
    from distraction.train_io import train_from_stores

    configure_devices(seed=args.seed, deterministic=True)
    provenance = train_from_stores(
        kind,
        examples,
        fit,
        task=args.task,
        out_model=args.output,
        curves_csv=args.curves,
        curves_png=args.curves.with_suffix(".png"),
        sidecar=args.sidecar,
        folds=args.folds,
        validation_fraction=args.validation_fraction,
        seed=args.seed,
        settings=_train_settings(args),
    )
    cv = provenance["metrics"]["cv_mean_test_pearson_r"]
    cv_text = f", CV test r {cv:.3f}" if cv is not None else ""
    return (
        f"{kind} {args.task}: {len(examples)} recordings, "
        f"{provenance['metrics']['epochs']} epochs, "
        f"val loss {provenance['metrics']['final_val_loss']}{cv_text} -> {args.output}"
    )


def _train_can_args(p: argparse.ArgumentParser) -> None:
    _train_args(p)
    p.add_argument(
        "--select-by",
        choices=["loss", "rate"],
        default="loss",
        help="which epoch early stopping keeps: the lowest validation loss, or the lowest "
        "mean validation rate error (per minute, over --window-s windows; logged as "
        "val_rate_mae)",
    )
    p.add_argument(
        "--window-s", type=float, help="rate window in s for --select-by rate (task default)"
    )


@command("train-can", "train the CAN from prepared stores (subject-wise CV, then a final model)")(
    _train_can_args
)
def run_train_can(args: argparse.Namespace) -> str:
    from distraction.train_io import can_example
    from distraction.training import RateSelection, train_can

    settings = _settings(args)
    examples = [can_example(store, settings) for store in args.stores]

    def fit(x, y, val, label, val_examples):
        selection = None
        if args.select_by == "rate" and val_examples:
            selection = RateSelection(
                lengths=[e.target.size for e in val_examples],
                fs=[e.fs for e in val_examples],
                band=settings.band,
                detrend_lambda=settings.detrend_lambda,
                window_s=settings.window_s,
            )
        return train_can(
            x[0],
            x[1],
            y,
            task=args.task,
            val=None if val is None else (val[0][0], val[0][1], val[1]),
            epochs=args.epochs,
            batch_size=args.batch_size,
            learning_rate=args.learning_rate,
            patience=args.patience,
            seed=args.seed,
            progress=True,
            selection=selection,
        )

    return _train(args, "can", examples, fit)


def _train_lstm_args(p: argparse.ArgumentParser) -> None:
    _train_args(p)
    _window_options(p)
    p.add_argument(
        "--can-model",
        type=Path,
        help="run this CAN on the stores' prepared groups and compute the corruption traces "
        "in memory (the workflow's way); without it, read stored corruption_<task> groups",
    )
    _mask_options(p)
    p.add_argument(
        "--fs-out", type=float, help="rate of the conditioned signals, Hz (task default: 30 / 5)"
    )


@command("train-lstm", "train the LSTM denoiser on CAN signals and corruption traces")(
    _train_lstm_args
)
def run_train_lstm(args: argparse.Namespace) -> str:
    from distraction.train_io import lstm_example, lstm_example_from_can
    from distraction.training import train_lstm

    settings = _settings(args)
    args.cancel_corruption = _cancel(args)  # recorded, resolved, in the sidecar
    args.fs_out = settings.fs_out
    if args.can_model is None:
        examples = [
            lstm_example(store, settings, args.window, args.stride, cancel=args.cancel_corruption)
            for store in args.stores
        ]
    else:
        from distraction.models import load_model

        can = load_model(args.can_model)
        examples = [
            lstm_example_from_can(
                store,
                can,
                settings,
                args.window,
                args.stride,
                inverse_mode=args.inverse_mask,
                threshold=args.threshold,
                fs_out=args.fs_out,
                cancel=args.cancel_corruption,
            )
            for store in args.stores
        ]

    def fit(x, y, val, label, val_examples):
        return train_lstm(
            x[0],
            y,
            task=args.task,
            val=None if val is None else (val[0][0], val[1]),
            epochs=args.epochs,
            batch_size=args.batch_size,
            learning_rate=args.learning_rate,
            patience=args.patience,
            seed=args.seed,
            progress=True,
        )

    return _train(args, "lstm", examples, fit)


def _import_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--h5", type=Path, required=True, help="the authors' Keras 2 HDF5 weights")
    p.add_argument("--kind", choices=["hr_lstm", "br_lstm", "br_can", "hr_can"], required=True)
    p.add_argument("--output", type=Path, required=True, help="model file to write (.keras)")


@command("import-weights", "read the authors' Keras 2 weights by layer name into a .keras model")(
    _import_args
)
def run_import_weights(args: argparse.Namespace) -> str:
    from distraction.models import save_model
    from distraction.weights_import import import_weights

    model = import_weights(args.h5, args.kind)
    save_model(model, args.output)
    params = model.count_params()
    return f"import-weights {args.h5} ({args.kind}): {params} parameters -> {args.output}"


def _export_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", type=Path, required=True, help="a CAN or LSTM .keras file")
    p.add_argument("--output", type=Path, required=True, help="LiteRT model to write (.tflite)")


@command(
    "export-litert",
    "convert a .keras CAN or LSTM for the litert engine (.tflite plus a .tflite.json sidecar)",
)(_export_args)
def run_export_litert(args: argparse.Namespace) -> str:
    from distraction.litert import export_litert

    meta = export_litert(args.model, args.output)
    return f"export-litert {args.model} ({meta['kind']}) -> {args.output}"


def _reference_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sample", type=Path, required=True, help="the authors' mmse_hr_sample folder")
    p.add_argument("--hr-lstm", type=Path, help="the authors' hr_lstm.h5, to add its row")
    p.add_argument("--output", type=Path, required=True, help="reference table CSV")


@command("reference", "evaluate the authors' MMSE-HR sample exactly as the reference did")(
    _reference_args
)
def run_reference(args: argparse.Namespace) -> str:
    import pandas as pd

    from distraction.reference import (
        evaluate_reference,
        evaluate_windowed_prediction,
        load_reference_inputs,
    )
    from distraction.report import write_csv

    table = evaluate_reference(args.sample)
    if args.hr_lstm is not None:
        from distraction.weights_import import import_weights

        model = import_weights(args.hr_lstm, "hr_lstm")
        windows = np.asarray(model.predict(load_reference_inputs(args.sample).xtest, verbose=0))
        row = evaluate_windowed_prediction(args.sample, windows, label="imported hr_lstm.h5")
        table = pd.concat([table, row])
    table.index.name = "signal"
    write_csv(table.reset_index(), args.output)
    lines = "; ".join(
        f"{name}: {row.rate_bpm:.4f} bpm, SNR {row.snr_db:.4f} dB, WMAE {row.waveform_mae:.4f}"
        for name, row in table.iterrows()
    )
    return f"reference {args.sample}: {lines}"


def _validate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="check the config and every dataset it names")
    p.add_argument("--format", help="dataset format (instead of --config)")
    p.add_argument("--root", type=Path, help="dataset root (instead of --config)")
    p.add_argument("--dataset", default="dataset")
    p.add_argument(
        "--min-duration",
        type=float,
        default=None,
        help="shortest usable video in seconds (default: the evaluation window)",
    )
    p.add_argument("--output", type=Path, help="CSV of every recording's problems")


@command("validate", "check a config and whole datasets up front; report every problem at once")(
    _validate_args
)
def run_validate(args: argparse.Namespace) -> str:
    import pandas as pd

    from distraction.config import load_config
    from distraction.datasets import get_loader
    from distraction.report import write_csv
    from distraction.validation import check_recording

    if args.config is not None:
        config = load_config(args.config)
        task_windows = {
            "hr": [config["evaluation"]["hr_window_s"]],
            "br": [config["evaluation"]["br_window_s"]],
        }
        windows = task_windows.get(config["task"], task_windows["hr"] + task_windows["br"])
        datasets = [
            (name, spec["format"], Path(spec["root"]))
            for name, spec in config["datasets"].items()
            if spec["format"] != "synth"
        ]
        for name, _, root in datasets:
            if not root.is_dir():
                raise InputError(f"{root}: dataset root of '{name}' does not exist")
        min_duration = args.min_duration if args.min_duration is not None else min(windows)
    elif args.format and args.root:
        datasets = [(args.dataset, args.format, args.root)]
        min_duration = args.min_duration or 0.0
    else:
        raise InputError("validate: give --config, or --format and --root")
    rows = []
    checked = 0
    for name, fmt, root in datasets:
        loader = get_loader("generic" if fmt == "synth" else fmt, name, root)
        for recording in loader.list_recordings():
            checked += 1
            for problem in check_recording(loader, recording, min_duration_s=min_duration):
                print(problem, file=sys.stderr)
                rows.append(
                    {
                        "dataset": name,
                        "recording": recording.recording_id,
                        "path": str(problem.path),
                        "problem": problem.message,
                    }
                )
    if args.output is not None:
        write_csv(
            pd.DataFrame(rows, columns=["dataset", "recording", "path", "problem"]), args.output
        )
    if rows:
        bad = len({(r["dataset"], r["recording"]) for r in rows})
        raise InputError(
            f"validate: {len(rows)} problems in {bad} of {checked} recordings (listed above)"
        )
    return f"validate: {checked} recordings, no problems"


_OUTPUT_GROUP = {
    "prepare": "prepared",
    "infer-can": "can",
    "corruption": "corruption",
    "denoise": "denoised",
}


def _record_failure(args: argparse.Namespace, exc: InputError, stage: str | None = None) -> None:
    """Write the failure record in place of the stage's output group."""
    from distraction.store import open_group, write_failed_group

    stage = stage or args.command
    group = _OUTPUT_GROUP[stage]
    if stage == "prepare":
        identity = {"dataset": args.dataset, "recording": args.recording}
    else:
        group = f"{group}_{args.task}"
        attrs = open_group(args.store, "prepared").attrs
        identity = {key: attrs[key] for key in ("dataset", "recording", "subject") if key in attrs}
    write_failed_group(args.store, group, {"failed": str(exc), "failed_stage": stage, **identity})


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one subparser per registered stage."""
    parser = argparse.ArgumentParser(prog="distraction", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (run, add_arguments, help_text) in _COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        add_arguments(p)
        p.set_defaults(run=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``distraction`` console script."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    started = time.perf_counter()
    try:
        summary = args.run(args)
    except InputError as exc:
        if getattr(args, "record_failures", False):
            _record_failure(args, exc)
            log.warning("%s FAILED, recorded in %s: %s", args.command, args.store, exc)
            return 0
        # One line naming the file and the problem; no traceback for user errors.
        print(f"distraction {args.command}: error: {exc}", file=sys.stderr)
        return 2
    log.info("%s [%.1f s]", summary, time.perf_counter() - started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
