"""Command-line interface: the user commands, and one subcommand per pipeline stage.

Each Snakemake rule is a thin shell call of one of these, so every stage also runs (and is
tested) without Snakemake. This module only parses arguments and calls one job function
per subcommand; every default comes from the configuration schema
(:func:`distraction.config.default_config`).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from distraction.config import default_config
from distraction.errors import InputError, TransientError

log = logging.getLogger("distraction")

Handler = Callable[[argparse.Namespace], str]
_COMMANDS: dict[str, tuple[Handler, Callable[[argparse.ArgumentParser], None], str]] = {}
#: The schema's defaults, read once.
DEFAULTS: dict[str, Any] = default_config()
_SYNTH = DEFAULTS["datasets"]["_"]["synth"]


def command(name: str, help_text: str, add_arguments: Callable[[argparse.ArgumentParser], None]):
    """Register a subcommand: ``add_arguments`` adds its options, the decorated function runs it."""

    def register(run: Handler) -> Handler:
        _COMMANDS[name] = (run, add_arguments, help_text)
        return run

    return register


# --------------------------------------------------------------------------- options


def _band(text: str) -> tuple[float, float]:
    low, high = (float(v) for v in text.split(","))
    return (low, high)


def _settings_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--settings",
        help="JSON object of configuration sections, as in config.yaml (what the workflow "
        "passes); every setting not given takes the schema's default",
    )


def _record_failures_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--record-failures",
        action="store_true",
        help="on any failure of this video (bad input, a bug, a full disk), record a one-line "
        "reason naming the video (so later stages and the report carry it) and exit 0 "
        "instead of failing",
    )


def _task_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", type=Path, required=True, help="the video's Zarr store")
    p.add_argument("--task", choices=["hr", "br"], required=True)
    _settings_option(p)


def _conditioning_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--band", type=_band, help="pass band in Hz, 'low,high' (task default)")
    p.add_argument("--detrend-lambda", type=float, help="smoothness-priors lambda (task default)")
    p.add_argument("--fs-out", type=float, help="rate of the conditioned signals, Hz")


def _mask_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--inverse-mask", choices=["binary", "continuous"])
    p.add_argument("--threshold", type=float, help="binary inverse-mask threshold")


def _denoise_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--window", type=int, dest="denoise_window", help="denoiser window, samples")
    p.add_argument("--stride", type=int, dest="denoise_stride", help="denoiser stride, samples")
    p.add_argument("--overlap", choices=["taper", "overwrite"])
    p.add_argument(
        "--cancel-corruption",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="before the LSTM, remove from the CAN signal what the corruption traces explain "
        "linearly (task default); train and run a denoiser the same way",
    )


def _batch_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--batch-size", type=int, default=DEFAULTS["models"]["batch_size"])


def _engine_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--engine",
        choices=["auto", "keras", "litert"],
        default=DEFAULTS["models"]["engine"],
        help="keras: TensorFlow (the GPU when present); litert: LiteRT on CPU, from the "
        "exported .tflite; auto: litert when the exported models are given and no GPU is "
        "visible, else keras",
    )
    p.add_argument("--threads", type=int, help="threads of the LiteRT interpreter (CPU; default 2)")


#: Options that override a field of :class:`distraction.settings.TaskSettings`.
_TASK_FIELDS = (
    "band",
    "detrend_lambda",
    "fs_out",
    "inverse_mask",
    "threshold",
    "denoise_window",
    "denoise_stride",
    "overlap",
    "cancel_corruption",
    "window_s",
    "stride_s",
    "methods",
    "baseline_region",
    "seed",
)


def task_settings_of(args: argparse.Namespace):
    """The task's settings: ``--settings`` over the schema's defaults, then the options."""
    from distraction.settings import config_from_json, task_settings

    overrides = {name: getattr(args, name, None) for name in _TASK_FIELDS}
    if overrides["methods"] is not None:
        overrides["methods"] = tuple(overrides["methods"].split(","))
    return task_settings(args.task, config_from_json(args.settings), **overrides)


# --------------------------------------------------------------------------- commands


def _synth_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--video", type=Path, required=True, help="output video file (.avi)")
    p.add_argument("--ground-truth", type=Path, required=True, help="output ground-truth CSV")
    p.add_argument("--subject", type=int, required=True, help="subject (identity) index")
    p.add_argument("--condition", required=True, help="corruption preset, e.g. clean or flicker")
    p.add_argument("--duration", type=float, default=_SYNTH["duration_s"], help="seconds")
    p.add_argument("--fps", type=float, default=_SYNTH["fps"])
    p.add_argument("--width", type=int, default=_SYNTH["width"])
    p.add_argument("--height", type=int, default=_SYNTH["height"])
    p.add_argument("--seed", type=int, default=DEFAULTS["seed"])
    p.add_argument(
        "--photo",
        type=Path,
        default=None,
        help="animate this face photo (with a provenance record, see PHOTOS.md) "
        "instead of drawing a cartoon face",
    )
    p.add_argument(
        "--scene",
        choices=("studio", "varied"),
        default=_SYNTH["scene"],
        help="framing of a photo: its own (studio) or a drawn scene per subject (varied)",
    )


@command("synth", "render one synthetic face video with known physiology", _synth_args)
def run_synth(args: argparse.Namespace) -> str:
    from distraction.synth import write_clip
    from distraction.synth.photo import write_photo_clip

    for path in (args.video, args.ground_truth):
        path.parent.mkdir(parents=True, exist_ok=True)
    if args.photo is not None:
        write_photo_clip(
            args.photo,
            args.video,
            args.ground_truth,
            subject_index=args.subject,
            condition=args.condition,
            duration_s=args.duration,
            fps=args.fps,
            width=args.width,
            height=args.height,
            seed=args.seed,
            scene=args.scene,
        )
        return (
            f"synth: wrote {args.video} ({args.condition}, photo {args.photo.name}, "
            f"{args.scene} scene)"
        )
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


def _prepare_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--format", required=True, help="dataset format: generic, folder, ubfc, pure, mmse, synth"
    )
    p.add_argument("--root", type=Path, required=True, help="dataset root folder")
    p.add_argument("--dataset", default="dataset", help="dataset name used in outputs")
    p.add_argument("--recording", required=True, help="recording id, e.g. s01/clean")
    p.add_argument("--store", type=Path, required=True, help="the video's Zarr store")
    _settings_option(p)
    p.add_argument("--crop", choices=["auto", "track", "face", "centre"])
    p.add_argument("--chunk-frames", type=int)
    p.add_argument(
        "--threads",
        type=int,
        help="decoding threads (default 2; 2 or more: in parallel blocks where the codec "
        "allows seeking and the crop is not tracked, else one thread decodes while another "
        "tracks and crops)",
    )
    _record_failures_option(p)


@command(
    "prepare",
    "decode one video into its Zarr store (CAN inputs, frames, ground truth)",
    _prepare_args,
)
def run_prepare(args: argparse.Namespace) -> str:
    from distraction.prepare import DECODE_THREADS, prepare_job
    from distraction.settings import config_from_json, prepare_settings

    settings = prepare_settings(
        config_from_json(args.settings), crop=args.crop, chunk_frames=args.chunk_frames
    )
    return prepare_job(
        args.format,
        args.root,
        args.dataset,
        args.recording,
        args.store,
        settings=settings,
        threads=DECODE_THREADS if args.threads is None else args.threads,
        record_failures=args.record_failures,
    )


def _network_stages(
    args: argparse.Namespace, stages: list[str], *, can=None, lstm=None, can_lt=None, lstm_lt=None
) -> tuple[dict[str, dict], str]:
    """Run network stages with the engine chosen once; returns summaries and the device."""
    from distraction.engines import select_engine
    from distraction.infer import run_stages
    from distraction.litert import THREADS

    exported = [path for path, model in ((can_lt, can), (lstm_lt, lstm)) if model is not None]
    litert, device = select_engine(args.engine, *exported) if (can or lstm) else (False, "CPU")
    summaries = run_stages(
        args.store,
        task_settings_of(args),
        stages,
        can_model=can,
        lstm_model=lstm,
        can_litert=can_lt if litert else None,
        lstm_litert=lstm_lt if litert else None,
        batch_size=getattr(args, "batch_size", DEFAULTS["models"]["batch_size"]),
        threads=THREADS if getattr(args, "threads", None) is None else args.threads,
        record_failures=args.record_failures,
    )
    return summaries, device


def _failed(summaries: dict[str, dict]) -> str | None:
    return next((s["failed"] for s in summaries.values() if "failed" in s), None)


def _infer_can_args(p: argparse.ArgumentParser) -> None:
    _task_options(p)
    _record_failures_option(p)
    p.add_argument("--model", type=Path, required=True, help="CAN .keras file")
    p.add_argument("--litert", type=Path, help="the CAN exported by export-litert (.tflite)")
    _engine_option(p)
    _batch_option(p)


@command("infer-can", "run the CAN: signal and attention masks into the store", _infer_can_args)
def run_infer_can(args: argparse.Namespace) -> str:
    summaries, device = _network_stages(args, ["infer-can"], can=args.model, can_lt=args.litert)
    if reason := _failed(summaries):
        return f"infer-can {args.store} ({args.task}): failed: {reason}"
    frames = summaries["infer-can"]["frames"]
    return f"infer-can {args.store} ({args.task}): {frames} frames on {device}"


def _corruption_args(p: argparse.ArgumentParser) -> None:
    _task_options(p)
    _record_failures_option(p)
    _mask_options(p)
    _conditioning_options(p)


@command("corruption", "inverse masks, corruption traces and conditioned signals", _corruption_args)
def run_corruption(args: argparse.Namespace) -> str:
    summaries, _ = _network_stages(args, ["corruption"])
    if reason := _failed(summaries):
        return f"corruption {args.store} ({args.task}): failed: {reason}"
    summary = summaries["corruption"]
    return (
        f"corruption {args.store} ({args.task}): {summary['frames']} frames -> "
        f"{summary['samples_out']} samples"
    )


def _denoise_args(p: argparse.ArgumentParser) -> None:
    _task_options(p)
    _record_failures_option(p)
    p.add_argument("--model", type=Path, required=True, help="LSTM .keras file")
    p.add_argument("--litert", type=Path, help="the LSTM exported by export-litert (.tflite)")
    _engine_option(p)
    _denoise_options(p)
    _batch_option(p)


@command("denoise", "LSTM denoising of the CAN signal with the corruption traces", _denoise_args)
def run_denoise(args: argparse.Namespace) -> str:
    summaries, device = _network_stages(args, ["denoise"], lstm=args.model, lstm_lt=args.litert)
    if reason := _failed(summaries):
        return f"denoise {args.store} ({args.task}): failed: {reason}"
    return (
        f"denoise {args.store} ({args.task}): {summaries['denoise']['windows']} windows on {device}"
    )


def _infer_args(p: argparse.ArgumentParser) -> None:
    _task_options(p)
    _record_failures_option(p)
    p.add_argument("--can-model", type=Path, required=True, help="CAN .keras file")
    p.add_argument("--lstm-model", type=Path, required=True, help="LSTM .keras file")
    p.add_argument("--can-litert", type=Path, help="the CAN exported by export-litert")
    p.add_argument("--lstm-litert", type=Path, help="the LSTM exported by export-litert")
    _engine_option(p)
    _batch_option(p)
    _mask_options(p)
    _conditioning_options(p)
    _denoise_options(p)


@command(
    "infer",
    "infer-can, corruption and denoise of one video in one process (what the workflow runs)",
    _infer_args,
)
def run_infer(args: argparse.Namespace) -> str:
    # One process for the three network stages: the network runtime starts once per video.
    summaries, device = _network_stages(
        args,
        ["infer-can", "corruption", "denoise"],
        can=args.can_model,
        lstm=args.lstm_model,
        can_lt=args.can_litert,
        lstm_lt=args.lstm_litert,
    )
    if reason := _failed(summaries):
        return f"infer {args.store} ({args.task}): failed: {reason}"
    return (
        f"infer {args.store} ({args.task}): {summaries['infer-can']['frames']} frames on "
        f"{device} -> {summaries['corruption']['samples_out']} samples, "
        f"{summaries['denoise']['windows']} denoiser windows"
    )


def _evaluate_args(p: argparse.ArgumentParser) -> None:
    _task_options(p)
    p.add_argument("--output", type=Path, required=True, help="per-window CSV")
    p.add_argument(
        "--status", type=Path, help="one-row CSV: ok, skipped or failed, with the reason"
    )
    _conditioning_options(p)
    p.add_argument("--window-s", type=float, help="evaluation window in seconds (task default)")
    p.add_argument("--stride-s", type=float, help="step between evaluation windows, s")
    p.add_argument("--methods", help="comma-separated methods (default: the schema's)")
    p.add_argument("--baseline-region", choices=["stable_skin", "per_frame_skin"])
    p.add_argument("--seed", type=int, help="seed of FastICA")
    _record_failures_option(p)


@command("evaluate", "per-window rates, SNR and waveform error of every method", _evaluate_args)
def run_evaluate(args: argparse.Namespace) -> str:
    from distraction.evaluate import run_evaluate as evaluate_job

    table, status = evaluate_job(
        args.store,
        task_settings_of(args),
        args.output,
        args.status,
        record_failures=args.record_failures,
    )
    return f"evaluate {args.store} ({args.task}): {len(table)} rows, {status['status']}"


def _timeline_args(p: argparse.ArgumentParser) -> None:
    _task_options(p)
    p.add_argument("--rates", type=Path, required=True, help="rate and quality per window CSV")
    p.add_argument("--waveforms", type=Path, required=True, help="time, CAN, denoised CSV")
    p.add_argument("--hrv", type=Path, help="HRV CSV (one row; written for HR only)")
    p.add_argument("--figure", type=Path, help="rate over time beside the truth (PNG)")
    _conditioning_options(p)
    _record_failures_option(p)


@command(
    "timeline",
    "rate over time, quality index, HRV and waveforms of one video (no ground truth needed)",
    _timeline_args,
)
def run_timeline(args: argparse.Namespace) -> str:
    from distraction.timeline import timeline_job

    return timeline_job(
        args.store,
        task_settings_of(args),
        rates=args.rates,
        waveforms=args.waveforms,
        hrv=args.hrv,
        figure=args.figure,
        record_failures=args.record_failures,
    )


def _run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", type=Path, metavar="VIDEO_OR_FOLDER")
    p.add_argument(
        "--out",
        type=Path,
        default=Path("distraction-results"),
        help="output folder (not inside the input folder); the same command on it again "
        "resumes an interrupted run",
    )
    p.add_argument("--task", choices=["hr", "br", "both"], default=DEFAULTS["task"])
    p.add_argument("--cores", default="all", help="cores to use: a number or all (default)")
    p.add_argument(
        "--keep-going-on-bad-videos",
        action="store_true",
        help="exit 0 when some videos failed (they are listed in reports/failures.csv); by "
        "default the command then exits with status 2",
    )


@command(
    "run",
    "heart and/or breathing rate of a video or a folder of videos (any depth)",
    _run_args,
)
def run_run(args: argparse.Namespace) -> str:
    from distraction.run import run_job

    return run_job(
        args.source,
        args.out,
        args.task,
        cores=args.cores,
        allow_failed_videos=args.keep_going_on_bad_videos,
    )


def _report_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "results", type=Path, metavar="RESULTS", help="a results folder (distraction run's --out)"
    )


@command("report", "print the estimates table of a finished run again", _report_args)
def run_report(args: argparse.Namespace) -> str:
    from distraction.headline import headline

    reports = args.results / "reports"
    if not (reports / "estimates.csv").is_file():
        raise InputError(
            f"{reports / 'estimates.csv'}: not found (is {args.results} a results folder?)"
        )
    print(headline(reports))
    return f"report {args.results}"


def _aggregate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--inputs", type=Path, nargs="*", default=[], help="per-video evaluation CSVs")
    p.add_argument(
        "--statuses", type=Path, nargs="*", default=[], help="per-video status CSVs (from evaluate)"
    )
    p.add_argument("--outdir", type=Path, required=True)
    _max_failed_option(p)


def _max_failed_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--max-failed-fraction",
        type=float,
        default=DEFAULTS["report"]["max_failed_fraction"],
        help="exit with status 2 (after writing every report) when more than this fraction "
        "of the videos failed",
    )


@command("aggregate", "per-window, per-video and summary CSVs plus plots", _aggregate_args)
def run_aggregate(args: argparse.Namespace) -> str:
    from distraction.report import aggregate_job

    return aggregate_job(
        args.inputs,
        args.outdir,
        statuses=args.statuses,
        max_failed_fraction=args.max_failed_fraction,
    )


def _estimates_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--statuses", type=Path, nargs="*", default=[], help="per-video status CSVs")
    p.add_argument("--rates", type=Path, nargs="*", default=[], help="timeline rates CSVs")
    p.add_argument("--hrv", type=Path, nargs="*", default=[], help="timeline HRV CSVs (HR)")
    p.add_argument("--output", type=Path, required=True, help="estimates.csv to write")


@command(
    "estimates",
    "one row per video and task: median rate and quality, HRV, or why there is none",
    _estimates_args,
)
def run_estimates(args: argparse.Namespace) -> str:
    from distraction.report import estimates_job

    return estimates_job(args.statuses, args.rates, args.hrv, args.output)


def _check_failures_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--statuses", type=Path, nargs="*", default=[], help="per-video status CSVs")
    p.add_argument("--failures", type=Path, required=True, help="the failures.csv they fill")
    p.add_argument("--output", type=Path, required=True, help="one-line verdict when passing")
    _max_failed_option(p)


@command(
    "check-failures",
    "fail when more than --max-failed-fraction of the videos failed (report.max_failed_fraction)",
    _check_failures_args,
)
def run_check_failures(args: argparse.Namespace) -> str:
    from distraction.report import check_failures_job

    return check_failures_job(args.statuses, args.max_failed_fraction, args.failures, args.output)


def _refused_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", required=True)
    p.add_argument("--recording", required=True, help="the recording id it would have")
    p.add_argument("--source", type=Path, required=True, help="the file or link")
    p.add_argument("--problem", required=True, help="why the workflow cannot carry it")
    p.add_argument("--task", choices=["hr", "br"], required=True)
    p.add_argument("--status", type=Path, required=True, help="status CSV (one failed row)")


@command(
    "refused",
    "record a video the workflow cannot carry (its name, a dangling link) as a failed video",
    _refused_args,
)
def run_refused(args: argparse.Namespace) -> str:
    from distraction.validation import refused_job

    return refused_job(
        args.dataset, args.recording, args.source, args.problem, args.task, args.status
    )


def _figures_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", type=Path, required=True, help="the video's Zarr store")
    p.add_argument("--task", choices=["hr", "br"], required=True)
    p.add_argument(
        "--triptych", type=Path, required=True, help="frame / attention / inverse mask PNG"
    )
    p.add_argument("--waveforms", type=Path, required=True, help="CAN vs denoised vs truth PNG")
    _record_failures_option(p)


@command("figures", "example figures of one video: mask triptych and waveforms", _figures_args)
def run_figures(args: argparse.Namespace) -> str:
    from distraction.figures import figures_job

    return figures_job(
        args.store,
        args.task,
        args.triptych,
        args.waveforms,
        record_failures=args.record_failures,
    )


def _train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--stores", type=Path, nargs="+", required=True, help="training videos' Zarr stores"
    )
    p.add_argument("--task", choices=["hr", "br"], required=True)
    _settings_option(p)
    p.add_argument("--output", type=Path, required=True, help="model file (.keras)")
    p.add_argument(
        "--curves",
        type=Path,
        required=True,
        help="learning curves CSV (a PNG is written beside it)",
    )
    p.add_argument("--sidecar", type=Path, required=True, help="provenance JSON")
    p.add_argument("--folds", type=int, help="subject-wise CV folds before the final model")
    p.add_argument("--validation-fraction", type=float)
    p.add_argument("--epochs", type=int, help="training.can_epochs / lstm_epochs")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--learning-rate", type=float)
    p.add_argument("--patience", type=int)
    p.add_argument("--seed", type=int)
    _conditioning_options(p)


def _training_settings_of(args: argparse.Namespace, epochs: str):
    from distraction.settings import config_from_json, training_settings

    overrides = {
        name: getattr(args, name, None)
        for name in (
            "folds",
            "validation_fraction",
            "batch_size",
            "learning_rate",
            "patience",
            "seed",
            "can_select_by",
            "can_skin_attention_weight",
        )
    }
    overrides[epochs] = args.epochs
    return training_settings(args.task, config_from_json(args.settings), **overrides)


def _train_can_args(p: argparse.ArgumentParser) -> None:
    _train_args(p)
    p.add_argument(
        "--select-by",
        dest="can_select_by",
        choices=["loss", "rate"],
        help="which epoch early stopping keeps: the lowest validation loss, or the lowest "
        "mean validation rate error (over --window-s windows; logged as val_rate_mae)",
    )
    p.add_argument("--window-s", type=float, help="rate window in s for --select-by rate")
    p.add_argument(
        "--skin-attention-weight",
        dest="can_skin_attention_weight",
        type=float,
        help="weight of the loss telling the first attention gate where the skin is (needs "
        "rendered clips, whose skin maps lie beside the videos; 0: from the pulse alone)",
    )


@command(
    "train-can",
    "train the CAN from prepared stores (subject-wise CV, then a final model)",
    _train_can_args,
)
def run_train_can(args: argparse.Namespace) -> str:
    from distraction.train import train_can_job

    return train_can_job(
        args.stores,
        task_settings_of(args),
        _training_settings_of(args, "can_epochs"),
        output=args.output,
        curves=args.curves,
        sidecar=args.sidecar,
    )


def _train_lstm_args(p: argparse.ArgumentParser) -> None:
    _train_args(p)
    _denoise_options(p)
    _mask_options(p)
    p.add_argument(
        "--can-model",
        type=Path,
        help="run this CAN on the stores' prepared groups and compute the corruption traces "
        "in memory (the workflow's way); without it, read stored corruption_<task> groups",
    )


@command(
    "train-lstm", "train the LSTM denoiser on CAN signals and corruption traces", _train_lstm_args
)
def run_train_lstm(args: argparse.Namespace) -> str:
    from distraction.train import train_lstm_job

    return train_lstm_job(
        args.stores,
        task_settings_of(args),
        _training_settings_of(args, "lstm_epochs"),
        output=args.output,
        curves=args.curves,
        sidecar=args.sidecar,
        can_model=args.can_model,
    )


def _import_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--h5", type=Path, required=True, help="the authors' Keras 2 HDF5 weights")
    p.add_argument("--kind", choices=["hr_lstm", "br_lstm", "br_can", "hr_can"], required=True)
    p.add_argument("--output", type=Path, required=True, help="model file to write (.keras)")


@command(
    "import-weights",
    "read the authors' Keras 2 weights by layer name into a .keras model",
    _import_args,
)
def run_import_weights(args: argparse.Namespace) -> str:
    from distraction.weights_import import import_weights_job

    return import_weights_job(args.h5, args.kind, args.output)


def _export_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", type=Path, required=True, help="a CAN or LSTM .keras file")
    p.add_argument("--output", type=Path, required=True, help="LiteRT model to write (.tflite)")


@command(
    "export-litert",
    "convert a .keras CAN or LSTM for the litert engine (.tflite plus a .tflite.json sidecar)",
    _export_args,
)
def run_export_litert(args: argparse.Namespace) -> str:
    from distraction.litert import export_litert

    meta = export_litert(args.model, args.output)
    return f"export-litert {args.model} ({meta['kind']}) -> {args.output}"


def _reference_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sample", type=Path, required=True, help="the authors' mmse_hr_sample folder")
    p.add_argument("--hr-lstm", type=Path, help="the authors' hr_lstm.h5, to add its row")
    p.add_argument("--output", type=Path, required=True, help="reference table CSV")


@command(
    "reference",
    "evaluate the authors' MMSE-HR sample exactly as the reference did",
    _reference_args,
)
def run_reference(args: argparse.Namespace) -> str:
    from distraction.reference import reference_job

    return reference_job(args.sample, args.output, hr_lstm=args.hr_lstm)


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


@command(
    "validate",
    "check a config and whole datasets up front; report every problem at once",
    _validate_args,
)
def run_validate(args: argparse.Namespace) -> str:
    from distraction.validation import validate_job

    return validate_job(
        config_path=args.config,
        fmt=args.format,
        root=args.root,
        dataset=args.dataset,
        min_duration_s=args.min_duration,
        output=args.output,
    )


# --------------------------------------------------------------------------- entry point


#: The commands a user runs, listed first by ``--help``; the rest are pipeline stages.
USER_COMMANDS = ("run", "report", "validate", "synth")


def _listing(names: Sequence[str]) -> str:
    width = max(len(n) for n in _COMMANDS)
    return "\n".join(f"  {n.ljust(width)}  {_COMMANDS[n][2]}" for n in names)


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one subparser per registered command; its help lists the
    user commands first and the pipeline stages in a group of their own."""
    stages = [n for n in _COMMANDS if n not in USER_COMMANDS]
    parser = argparse.ArgumentParser(
        prog="distraction",
        usage="distraction [-h] [-v] COMMAND ...",
        description="Heart and breathing rate from face videos.\n\ncommands:\n"
        + _listing(USER_COMMANDS)
        + "\n\npipeline stages (what the workflow's rules call, one video at a time):\n"
        + _listing(stages),
        epilog="Start with: distraction run my_video.mp4 --out results-mine. "
        "`distraction COMMAND -h` describes each command.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    # The commands are listed in the description, in their two groups.
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in [*USER_COMMANDS, *stages]:
        run, add_arguments, help_text = _COMMANDS[name]
        p = sub.add_parser(name, description=help_text)
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
        # One line naming the file and the problem; no traceback for user errors.
        print(f"distraction {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            f"distraction {args.command}: interrupted"
            + ("; the same command resumes the run" if args.command == "run" else ""),
            file=sys.stderr,
        )
        return 130
    except TransientError as exc:
        # A known condition a later run may not meet (a read-only results folder): one
        # line, and a failed job, which the workflow reruns.
        print(f"distraction {args.command}: error: {exc}", file=sys.stderr)
        return 1
    log.info("%s [%.1f s]", summary, time.perf_counter() - started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
