"""Training from Zarr stores: data loading, subject-wise cross-validation, model files
with a JSON provenance sidecar and learning curves. The learning itself lives in
:mod:`distraction.training`.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from distraction import __version__
from distraction.config import config_hash
from distraction.errors import InputError
from distraction.signals import condition_signal
from distraction.stages import TaskSettings
from distraction.store import open_group

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Example:
    """One recording's training arrays."""

    name: str  # dataset/recording
    subject: str  # dataset-qualified, so equal ids in two datasets stay distinct
    inputs: tuple[np.ndarray, ...]
    target: np.ndarray
    fs: float = 30.0  # sampling rate of inputs and target (frames/s for the CAN)


def _identity(store: Path) -> tuple[str, str]:
    prepared = open_group(store, "prepared")
    dataset = prepared.attrs.get("dataset", "")
    return (
        f"{dataset}/{prepared.attrs.get('recording', store.name)}",
        f"{dataset}:{prepared.attrs.get('subject', '')}",
    )


def _bridge_gaps(values: np.ndarray, store: Path, name: str) -> np.ndarray:
    """Ground truth with its NaN samples (outside the sensor's span) interpolated over."""
    valid = np.isfinite(values)
    if valid.sum() < 3:
        raise InputError(f"{store}: ground truth '{name}' has no valid samples")
    return np.interp(np.arange(values.size), np.flatnonzero(valid), values[valid])


def can_example(store: Path, settings: TaskSettings) -> Example:
    """CAN inputs and the standardised derivative of the true waveform of one store."""
    from distraction.training import derivative_target

    prepared = open_group(store, "prepared")
    if settings.waveform not in prepared:
        raise InputError(
            f"{store}: no '{settings.waveform}' ground truth to train the {settings.task} CAN on"
        )
    wave = _bridge_gaps(prepared[settings.waveform].values, store, settings.waveform)
    # motion[t] is frame t -> t+1; the last prepared frame has no following truth sample.
    target = derivative_target(wave)
    n = target.size
    name, subject = _identity(store)
    return Example(
        name,
        subject,
        (prepared["motion"][:n].values, prepared["appearance"][:n].values),
        target.astype(np.float32),
        float(prepared.attrs["fps"]),
    )


def _lstm_windows(
    store: Path,
    features: np.ndarray,
    truth: np.ndarray,
    fs_out: float,
    settings: TaskSettings,
    window: int,
    stride: int,
) -> Example:
    from distraction.training import make_lstm_windows

    truth = _bridge_gaps(truth, store, settings.waveform)
    target = condition_signal(
        truth,
        fs_out,
        band=settings.band,
        lam=settings.detrend_lambda,
        fs_out=fs_out,
        integrate=False,
    )
    x, y = make_lstm_windows(features, target, window=window, stride=stride)
    name, subject = _identity(store)
    return Example(name, subject, (x,), y)


def _missing_truth(store: Path, settings: TaskSettings) -> InputError:
    return InputError(
        f"{store}: no '{settings.waveform}' ground truth to train the {settings.task} denoiser on"
    )


def lstm_example(
    store: Path,
    settings: TaskSettings,
    window: int,
    stride: int,
    *,
    cancel: bool | None = None,
) -> Example:
    """Denoiser windows of one store: [R, G, B traces, CAN] against the conditioned truth.

    Reads the stored ``corruption_<task>`` group (written by ``distraction corruption``).
    ``cancel`` as in :func:`distraction.stages.denoiser_features` (default: the task's).
    """
    from distraction.stages import cancels, denoiser_features

    corruption = open_group(store, f"corruption_{settings.task}")
    truth_name = f"truth_{settings.waveform}"
    if truth_name not in corruption:
        raise _missing_truth(store, settings)
    features, _ = denoiser_features(
        corruption["can_conditioned"].values,
        corruption["traces_conditioned"].values,
        cancel=cancels(settings.task, cancel),
    )
    return _lstm_windows(
        store,
        features,
        corruption[truth_name].values,
        float(corruption.attrs["fs_out"]),
        settings,
        window,
        stride,
    )


def lstm_example_from_can(
    store: Path,
    can_model: Any,
    settings: TaskSettings,
    window: int,
    stride: int,
    *,
    inverse_mode: str = "binary",
    threshold: float = 0.1,
    fs_out: float | None = None,
    batch_size: int = 256,
    cancel: bool | None = None,
) -> Example:
    """Denoiser windows of one store, with the CAN run here on its prepared group.

    The same computation as ``infer-can`` followed by ``corruption`` (identical
    arrays), kept in memory: the denoiser is trained on a freshly trained CAN's
    outputs without writing them to the store, where the inference workflow's
    results live. ``cancel`` as in :func:`distraction.stages.denoiser_features` (default:
    the task's).
    """
    from distraction.masks import corruption_traces, inverse_masks
    from distraction.models import predict_can
    from distraction.preprocess import resample_series
    from distraction.stages import _output_time, cancels, conditioned_features, denoiser_features

    fs_out = fs_out or settings.fs_out
    prepared = open_group(store, "prepared")
    if settings.waveform not in prepared:
        raise _missing_truth(store, settings)
    signal, mask1, _ = predict_can(
        can_model,
        prepared["motion"].values,
        prepared["appearance"].values,
        batch_size=batch_size,
    )
    inverse = inverse_masks(mask1, mode=inverse_mode, threshold=threshold)
    traces = corruption_traces(prepared["frames"].values, inverse)
    fps = float(prepared.attrs["fps"])
    can_conditioned, traces_conditioned = conditioned_features(
        signal, traces, fps, settings, fs_out=fs_out
    )
    times = prepared["time"].values
    time_out = _output_time(float(times[0]), len(can_conditioned), fs_out)
    truth = resample_series(times, prepared[settings.waveform].values, time_out)
    features, _ = denoiser_features(
        can_conditioned, traces_conditioned, cancel=cancels(settings.task, cancel)
    )
    return _lstm_windows(store, features, truth, fs_out, settings, window, stride)


def _stack(examples: Sequence[Example]) -> tuple[list[np.ndarray], np.ndarray]:
    inputs = [
        np.concatenate([e.inputs[i] for e in examples]) for i in range(len(examples[0].inputs))
    ]
    return inputs, np.concatenate([e.target for e in examples])


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.ravel(a), np.ravel(b)
    if a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def _kept_epoch(history: pd.DataFrame) -> dict[str, Any]:
    """The epoch early stopping restored (lowest monitored value, first on ties) and its
    validation metrics."""
    if "val_loss" not in history:
        return {"final_val_loss": None}
    monitored = "val_rate_mae" if "val_rate_mae" in history else "val_loss"
    row = history.loc[history[monitored].idxmin()]
    kept = {"kept_epoch": int(row["epoch"]), "selected_by": monitored}
    kept["final_val_loss"] = float(row["val_loss"])
    if monitored == "val_rate_mae":
        kept["final_val_rate_mae"] = float(row["val_rate_mae"])
    return kept


def _write_json(data: dict[str, Any], path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def train_from_stores(
    kind: str,
    examples: Sequence[Example],
    fit: Callable[..., Any],
    *,
    task: str,
    out_model: Path,
    curves_csv: Path,
    curves_png: Path,
    sidecar: Path,
    folds: int,
    validation_fraction: float,
    seed: int,
    settings: dict[str, Any],
) -> dict[str, Any]:
    """Subject-wise k-fold cross-validation, then a final model on every subject.

    Each fold (and the final model) holds out whole subjects for early stopping. The
    sidecar records the config hash, the recordings used and every metric.
    """
    from distraction.models import save_model
    from distraction.training import save_learning_curves, split_validation, subject_kfold

    if not examples:
        raise InputError(f"{out_model}: no training recordings")
    subjects = [e.subject for e in examples]

    def run(train_idx: np.ndarray, label: str) -> tuple[Any, Any, list[str], list[str]]:
        train_subjects = [subjects[i] for i in train_idx]
        if len(set(train_subjects)) >= 2:
            fit_idx, val_idx = split_validation(train_subjects, validation_fraction, seed)
        else:
            # A fold left with one subject trains for all epochs, without early stopping.
            fit_idx, val_idx = np.arange(len(train_idx)), np.arange(0)
        fit_examples = [examples[train_idx[i]] for i in fit_idx]
        val_examples = [examples[train_idx[i]] for i in val_idx]
        x, y = _stack(fit_examples)
        val = _stack(val_examples) if val_examples else None
        log.info(
            "%s %s %s: %d training, %d validation recordings",
            kind,
            task,
            label,
            len(fit_examples),
            len(val_examples),
        )
        model, history = fit(x, y, val, label, val_examples)
        return model, history, [e.name for e in fit_examples], [e.name for e in val_examples]

    fold_metrics = []
    if folds >= 2:
        for k, (train_idx, test_idx) in enumerate(subject_kfold(subjects, folds, seed)):
            model, history, _, _ = run(train_idx, f"fold {k + 1}/{folds}")
            tx, ty = _stack([examples[i] for i in test_idx])
            predicted = np.asarray(
                model.predict(tx if len(tx) > 1 else tx[0], batch_size=256, verbose=0)
            )
            fold_metrics.append(
                {
                    "fold": k + 1,
                    "test_recordings": [examples[i].name for i in test_idx],
                    "test_mse": float(np.mean((predicted.reshape(ty.shape) - ty) ** 2)),
                    "test_pearson_r": _pearson(predicted, ty),
                    "epochs": len(history),
                }
            )
    model, history, fit_names, val_names = run(np.arange(len(examples)), "final")
    save_model(model, out_model)
    save_learning_curves(history, curves_csv, curves_png)
    provenance = {
        "kind": kind,
        "task": task,
        "distraction_version": __version__,
        "config_hash": config_hash(settings),
        "settings": settings,
        "seed": seed,
        "training_recordings": fit_names,
        "validation_recordings": val_names,
        "metrics": {
            **_kept_epoch(history),
            "epochs": len(history),
            "cross_validation": fold_metrics,
            "cv_mean_test_pearson_r": float(np.mean([m["test_pearson_r"] for m in fold_metrics]))
            if fold_metrics
            else None,
        },
    }
    _write_json(provenance, sidecar)
    return provenance
