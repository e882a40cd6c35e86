"""Typed settings of one task, built from a validated configuration.

The configuration schema (``config.schema.yaml``, shipped with the package) is the one home
of every default. A stage receives the configuration sections it reads (the workflow
passes them as JSON with ``--settings``; without them the schema's defaults apply) and
reads its settings from the objects built here, never from literals of its own. Adding a
setting therefore touches the schema, this module and the function that uses it.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from distraction import metrics
from distraction.config import default_config, validate_config
from distraction.errors import ConfigError

__all__ = [
    "TASKS",
    "PrepareSettings",
    "TaskSettings",
    "TrainingSettings",
    "config_from_json",
    "merged_config",
    "prepare_settings",
    "task_settings",
    "training_settings",
]

Task = Literal["hr", "br"]
TASKS: tuple[Task, ...] = ("hr", "br")

#: What each task measures: the ground-truth waveform and rate variables, and the bands
#: and tolerance of its SNR. Properties of the measurement, not settings.
_MEASURES: dict[str, dict[str, Any]] = {
    "hr": {
        "waveform": "ppg",
        "rate": "hr",
        "snr_band": metrics.HR_SNR_BAND,
        "tolerance_hz": metrics.HR_TOLERANCE_HZ,
    },
    "br": {
        "waveform": "resp",
        "rate": "br",
        "snr_band": metrics.BR_SNR_BAND,
        "tolerance_hz": metrics.BR_TOLERANCE_HZ,
    },
}


@dataclass(frozen=True)
class TaskSettings:
    """Everything the per-video chain and its evaluation need to know about one task.

    Attributes
    ----------
    task
        ``"hr"`` or ``"br"``.
    band
        Pass band of the conditioning and the rate search, Hz (``conditioning.<task>_band``).
    detrend_lambda
        Smoothness-priors lambda (``conditioning.<task>_detrend_lambda``).
    fs_out
        Rate of the conditioned signals, Hz (``conditioning.<task>_fs_out``).
    inverse_mask, threshold, trace_regions
        Inverse-mask mode, binary threshold and the regions of the cancellation's traces
        (``corruption.*``).
    denoise_window, denoise_stride, overlap
        The denoiser's windows in samples and their reassembly (``denoise.*``).
    cancel_corruption
        Whether the denoising stage cancels what the traces explain first
        (``denoise.cancel_corruption.<task>``).
    denoise_output, select_window_s
        What the denoising stage returns and the windows of its selection
        (``denoise.output.<task>``, ``denoise.select_window_s.<task>``).
    window_s, stride_s
        Length of the sliding evaluation windows and the step between their starts
        (``evaluation.<task>_window_s``, ``evaluation.<task>_stride_s``).
    methods, baseline_region
        Evaluated methods and the pixels the colour baselines average.
    timeline_window_s, timeline_step_s
        The per-video rate series' sliding windows, s (``timeline.<task>_window_s``,
        ``timeline.<task>_step_s``); distinct from the evaluation windows.
    min_quality_db
        Quality index (dB) a timeline window needs to be given a rate
        (``timeline.<task>_min_quality_db``).
    min_pulse_db
        How strongly (dB) the denoiser's input must show a timeline window's rate for the
        window to be given it (``timeline.<task>_min_pulse_db``).
    hrv
        Whether HRV is measured at all (``timeline.hrv``).
    hrv_min_quality_db
        Median quality index (dB) the denoised pulse needs for HRV
        (``timeline.hrv_min_quality_db``).
    seed
        Seed of everything random (``seed``; FastICA in the evaluation).
    """

    task: Task
    band: tuple[float, float]
    detrend_lambda: float
    fs_out: float
    inverse_mask: Literal["binary", "continuous"]
    threshold: float
    trace_regions: Literal["halves", "whole"]
    denoise_window: int
    denoise_stride: int
    overlap: Literal["taper", "overwrite"]
    cancel_corruption: bool
    denoise_output: Literal["select", "lstm", "cancelled"]
    select_window_s: float
    window_s: float
    stride_s: float
    methods: tuple[str, ...]
    baseline_region: Literal["stable_skin", "per_frame_skin"]
    seed: int
    timeline_window_s: float
    timeline_step_s: float
    min_quality_db: float
    min_pulse_db: float
    hrv: bool
    hrv_min_quality_db: float

    @property
    def waveform(self) -> str:
        """Ground-truth waveform variable of the prepared group (``ppg`` or ``resp``)."""
        return _MEASURES[self.task]["waveform"]

    @property
    def rate(self) -> str:
        """Ground-truth rate variable (``hr`` or ``br``)."""
        return _MEASURES[self.task]["rate"]

    @property
    def snr_band(self) -> tuple[float, float]:
        """Total band of the SNR, Hz."""
        return _MEASURES[self.task]["snr_band"]

    @property
    def tolerance_hz(self) -> float:
        """Half-width of the SNR's signal bands, Hz."""
        return _MEASURES[self.task]["tolerance_hz"]


@dataclass(frozen=True)
class PrepareSettings:
    """How a video is decoded into its store (``prepare.*``)."""

    crop: Literal["auto", "track", "face", "centre"]
    chunk_frames: int
    detect_every: int
    flow_every: int
    face_scale: float
    track_smoothing_s: float
    crop_tolerance: float

    def crop_for(self, fmt: str, *, photographed: bool = False) -> str:
        """The crop of a dataset format: ``auto`` is ``centre`` for drawn synthetic faces
        (drawn near the frame's centre) and ``track`` for recordings and for synthetic
        clips of photographed people (placed anywhere in the frame)."""
        if self.crop != "auto":
            return self.crop
        return "centre" if fmt == "synth" and not photographed else "track"


def prepare_settings(config: Mapping[str, Any] | None = None, **overrides: Any) -> PrepareSettings:
    """The preparation settings from a validated configuration (default: the schema's)."""
    keys = {name: ("prepare", name) for name in PrepareSettings.__dataclass_fields__}
    c = _with_overrides(merged_config() if config is None else config, keys, overrides)["prepare"]
    values: dict[str, Any] = {
        "crop": c["crop"],
        "chunk_frames": int(c["chunk_frames"]),
        "detect_every": int(c["detect_every"]),
        "flow_every": int(c["flow_every"]),
        "face_scale": float(c["face_scale"]),
        "track_smoothing_s": float(c["track_smoothing_s"]),
        "crop_tolerance": float(c["crop_tolerance"]),
    }
    return PrepareSettings(**values)


@dataclass(frozen=True)
class TrainingSettings:
    """Training settings of one task's networks (``training.*`` and ``seed``)."""

    folds: int
    validation_fraction: float
    can_epochs: int
    lstm_epochs: int
    batch_size: int
    learning_rate: float
    patience: int
    can_select_by: Literal["loss", "rate"]
    can_skin_attention_weight: float
    seed: int


def _merge(base: dict[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def _with_overrides(
    config: Mapping[str, Any], keys: Mapping[str, tuple[str, ...]], overrides: Mapping[str, Any]
) -> Mapping[str, Any]:
    """``config`` with ``overrides`` (settings fields; ``None`` ones ignored: options not
    given) written at their ``keys`` and validated again, so a command-line option meets
    the schema's bounds and the cross-field checks as the configuration file does."""
    unknown = set(overrides) - set(keys)
    if unknown:
        raise ValueError(f"overrides: unknown settings {sorted(unknown)}")
    given = {name: value for name, value in overrides.items() if value is not None}
    if not given:
        return config
    changed = copy.deepcopy(dict(config))
    for name, value in given.items():
        *parents, leaf = keys[name]
        node = changed
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = list(value) if isinstance(value, tuple) else value
    return validate_config(changed, source="command line", check_datasets=False)


def merged_config(sections: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The schema's defaults with ``sections`` (a partial configuration) laid over them.

    Raises
    ------
    ConfigError
        When the result does not validate (a wrong key, type or value), naming the key.
    """
    config = default_config()
    if sections:
        _merge(config, {k: v for k, v in sections.items() if k != "datasets"})
    return validate_config(config, source="settings", check_datasets=False)


def config_from_json(text: str | None) -> dict[str, Any]:
    """A full configuration from the JSON sections that ``--settings`` carries."""
    if not text:
        return merged_config()
    try:
        sections = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--settings: not valid JSON ({exc.msg})") from None
    if not isinstance(sections, dict):
        raise ConfigError("--settings: expected a JSON object of configuration sections")
    return merged_config(sections)


def task_settings(
    task: Task, config: Mapping[str, Any] | None = None, **overrides: Any
) -> TaskSettings:
    """A task's settings from a validated configuration (default: the schema's defaults).

    Parameters
    ----------
    task
        ``"hr"`` or ``"br"``.
    config
        A configuration as :func:`distraction.config.validate_config` returns it.
    **overrides
        Fields of :class:`TaskSettings` to replace; ``None`` values are ignored, so command
        line options that were not given leave the configuration's values.
    """
    if task not in TASKS:
        raise ValueError(f"task: expected 'hr' or 'br', got {task!r}")
    keys = {
        "band": ("conditioning", f"{task}_band"),
        "detrend_lambda": ("conditioning", f"{task}_detrend_lambda"),
        "fs_out": ("conditioning", f"{task}_fs_out"),
        "inverse_mask": ("corruption", "inverse_mask"),
        "threshold": ("corruption", "threshold"),
        "trace_regions": ("corruption", "regions"),
        "denoise_window": ("denoise", "window"),
        "denoise_stride": ("denoise", "stride"),
        "overlap": ("denoise", "overlap"),
        "cancel_corruption": ("denoise", "cancel_corruption", task),
        "denoise_output": ("denoise", "output", task),
        "select_window_s": ("denoise", "select_window_s", task),
        "window_s": ("evaluation", f"{task}_window_s"),
        "stride_s": ("evaluation", f"{task}_stride_s"),
        "methods": ("evaluation", "methods"),
        "baseline_region": ("evaluation", "baseline_region"),
        "seed": ("seed",),
        "timeline_window_s": ("timeline", f"{task}_window_s"),
        "timeline_step_s": ("timeline", f"{task}_step_s"),
        "min_quality_db": ("timeline", f"{task}_min_quality_db"),
        "min_pulse_db": ("timeline", f"{task}_min_pulse_db"),
        "hrv": ("timeline", "hrv"),
        "hrv_min_quality_db": ("timeline", "hrv_min_quality_db"),
    }
    c = _with_overrides(merged_config() if config is None else config, keys, overrides)
    conditioning, corruption, denoise = c["conditioning"], c["corruption"], c["denoise"]
    values: dict[str, Any] = {
        "task": task,
        "band": tuple(float(v) for v in conditioning[f"{task}_band"]),
        "detrend_lambda": float(conditioning[f"{task}_detrend_lambda"]),
        "fs_out": float(conditioning[f"{task}_fs_out"]),
        "inverse_mask": corruption["inverse_mask"],
        "threshold": float(corruption["threshold"]),
        "trace_regions": corruption["regions"],
        "denoise_window": int(denoise["window"]),
        "denoise_stride": int(denoise["stride"]),
        "overlap": denoise["overlap"],
        "cancel_corruption": bool(denoise["cancel_corruption"][task]),
        "denoise_output": denoise["output"][task],
        "select_window_s": float(denoise["select_window_s"][task]),
        "window_s": float(c["evaluation"][f"{task}_window_s"]),
        "stride_s": float(c["evaluation"][f"{task}_stride_s"]),
        "methods": tuple(c["evaluation"]["methods"]),
        "baseline_region": c["evaluation"]["baseline_region"],
        "seed": int(c["seed"]),
        "timeline_window_s": float(c["timeline"][f"{task}_window_s"]),
        "timeline_step_s": float(c["timeline"][f"{task}_step_s"]),
        "min_quality_db": float(c["timeline"][f"{task}_min_quality_db"]),
        "min_pulse_db": float(c["timeline"][f"{task}_min_pulse_db"]),
        "hrv": bool(c["timeline"]["hrv"]),
        "hrv_min_quality_db": float(c["timeline"]["hrv_min_quality_db"]),
    }
    return TaskSettings(**values)


def training_settings(
    task: Task, config: Mapping[str, Any] | None = None, **overrides: Any
) -> TrainingSettings:
    """A task's training settings from a validated configuration (default: the schema's)."""
    keys = {
        name: ("training", name)
        for name in (
            "folds",
            "validation_fraction",
            "can_epochs",
            "lstm_epochs",
            "batch_size",
            "learning_rate",
            "patience",
        )
    }
    keys.update(
        can_select_by=("training", "can_select_by", task),
        can_skin_attention_weight=("training", "can_skin_attention_weight", task),
        seed=("seed",),
    )
    c = _with_overrides(merged_config() if config is None else config, keys, overrides)
    training = c["training"]
    values: dict[str, Any] = {
        "folds": int(training["folds"]),
        "validation_fraction": float(training["validation_fraction"]),
        "can_epochs": int(training["can_epochs"]),
        "lstm_epochs": int(training["lstm_epochs"]),
        "batch_size": int(training["batch_size"]),
        "learning_rate": float(training["learning_rate"]),
        "patience": int(training["patience"]),
        "can_select_by": training["can_select_by"][task],
        "can_skin_attention_weight": float(training["can_skin_attention_weight"][task]),
        "seed": int(c["seed"]),
    }
    return TrainingSettings(**values)
