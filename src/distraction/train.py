"""The training jobs: the CAN and the LSTM denoiser of one task, from Zarr stores.

Data loading (through :mod:`distraction.chain`, as at inference), subject-wise
cross-validation, model files with a JSON provenance sidecar and learning curves. The
learning itself lives in :mod:`distraction.training`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from distraction import __version__, chain
from distraction.atomic import atomic_path, write_text
from distraction.config import config_hash
from distraction.errors import InputError
from distraction.settings import TaskSettings, TrainingSettings
from distraction.signals import condition_signal
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
    # The CAN's first-gate grid's skin cover at rest (rendered clips; the crop follows the face).
    skin: np.ndarray | None = None


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


def skin_map_of(store: Path) -> Path:
    """The rendered skin map beside a store's source video (``<stem>.skin.png``, written by
    ``distraction synth``)."""
    source = open_group(store, "prepared").attrs.get("source", "")
    path = Path(source).with_name(f"{Path(source).stem}.skin.png")
    if not source or not path.is_file():
        raise InputError(
            f"{store}: no skin map {path} beside its video; a skin attention loss needs "
            "rendered clips (distraction synth)"
        )
    return path


def rendered_skin_cover(store: Path) -> np.ndarray:
    """The skin cover (:func:`distraction.masks.skin_cover`) of a rendered store's first crop
    on the CAN's first-gate grid (the crop follows the face): its skin map
    (:func:`skin_map_of`) cropped and resized as the frames were."""
    import cv2

    from distraction.masks import skin_cover

    prepared = open_group(store, "prepared")
    path = skin_map_of(store)
    skin = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if skin is None:
        raise InputError(f"{path}: cannot read the skin map")
    if "crop_box_xy_side" in prepared.attrs:
        box = tuple(int(v) for v in prepared.attrs["crop_box_xy_side"])
    else:
        box = tuple(int(v) for v in prepared["crop_box"].values[0])
    return skin_cover(skin, box, prepared.sizes["y36"] - 2)


def can_example(store: Path, settings: TaskSettings, *, skin: bool = False) -> Example:
    """CAN inputs and the standardised derivative of the true waveform of one store; with
    ``skin``, also its skin cover (:func:`skin_map_of`)."""
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
        rendered_skin_cover(store) if skin else None,
    )


def _lstm_windows(
    store: Path, features: np.ndarray, truth: np.ndarray, fs_out: float, settings: TaskSettings
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
    x, y = make_lstm_windows(
        features, target, window=settings.denoise_window, stride=settings.denoise_stride
    )
    name, subject = _identity(store)
    return Example(name, subject, (x,), y)


def _missing_truth(store: Path, settings: TaskSettings) -> InputError:
    return InputError(
        f"{store}: no '{settings.waveform}' ground truth to train the {settings.task} denoiser on"
    )


def lstm_example(store: Path, settings: TaskSettings) -> Example:
    """Denoiser windows of one store: [R, G, B traces, CAN] against the conditioned truth.

    Reads the stored ``corruption_<task>`` group (written by ``distraction corruption``);
    the features are :func:`distraction.chain.denoiser_features` of it.
    """
    corruption = open_group(store, f"corruption_{settings.task}")
    truth_name = f"truth_{settings.waveform}"
    if truth_name not in corruption:
        raise _missing_truth(store, settings)
    features, _ = chain.denoiser_features(
        corruption["can_conditioned"].values,
        corruption["traces_conditioned"].values,
        cancel=settings.cancel_corruption,
        regions_conditioned=chain.stored_regions(corruption),
    )
    return _lstm_windows(
        store, features, corruption[truth_name].values, float(corruption.attrs["fs_out"]), settings
    )


def can_chain(
    prepared: Any,
    can_model: Any,
    settings: TaskSettings,
    *,
    truth: Sequence[str] = (),
    batch_size: int = 256,
) -> tuple[np.ndarray, chain.Conditioned, np.ndarray]:
    """A CAN run on a store's ``prepared`` group and the chain after it, in memory.

    The chain of ``infer-can`` followed by ``corruption`` (the same functions on the same
    arrays): inverse attention, corruption traces, conditioning (with the ``truth`` series
    named) and the denoiser's features, with the cancellation where ``settings`` asks for it.

    Returns
    -------
    (mask1, conditioned, features)
        The first gate's masks ``(T, 34, 34)``, the :class:`distraction.chain.Conditioned`
        signals and the ``(M, C)`` denoiser features (the last column the CAN signal,
        cancelled or not).
    """
    from distraction.engines import predict_can

    signal, mask1, _ = predict_can(
        can_model, prepared["motion"].values, prepared["appearance"].values, batch_size
    )
    frames = prepared["frames"].values
    inverse, traces = chain.inverse_attention_traces(frames, mask1, settings)
    conditioned = chain.condition(
        signal,
        traces,
        prepared["time"].values,
        float(prepared.attrs["fps"]),
        settings,
        truth={name: prepared[name].values for name in truth},
        regions=chain.region_traces(frames, inverse, settings),
    )
    features, _ = chain.denoiser_features(
        conditioned.can,
        conditioned.traces,
        cancel=settings.cancel_corruption,
        regions_conditioned=conditioned.regions,
    )
    return mask1, conditioned, features


def lstm_example_from_can(
    store: Path, can_model: Any, settings: TaskSettings, *, batch_size: int = 256
) -> Example:
    """Denoiser windows of one store, with the CAN run here on its prepared group.

    The chain of ``infer-can`` followed by ``corruption`` (the same functions on the same
    arrays), kept in memory: the denoiser is trained on a freshly trained CAN's outputs
    without writing them to the store, where the inference workflow's results live.
    """
    prepared = open_group(store, "prepared")
    if settings.waveform not in prepared:
        raise _missing_truth(store, settings)
    _, conditioned, features = can_chain(
        prepared, can_model, settings, truth=(settings.waveform,), batch_size=batch_size
    )
    return _lstm_windows(
        store, features, conditioned.truth[settings.waveform], settings.fs_out, settings
    )


def save_learning_curves(
    history: pd.DataFrame, csv_path: str | os.PathLike[str], png_path: str | os.PathLike[str]
) -> None:
    """Write the per-epoch history as CSV and a loss-curve PNG (log scale), atomically."""
    from distraction.figures import plot_learning_curves

    if "loss" not in history:
        raise ValueError(f"{csv_path}: history has no 'loss' column")
    with atomic_path(csv_path) as tmp:
        history.to_csv(tmp, index=False)
    plot_learning_curves(history, png_path)


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
    monitored = next(
        name for name in ("val_rate_mae", "val_signal_loss", "val_loss") if name in history
    )
    row = history.loc[history[monitored].idxmin()]
    kept = {"kept_epoch": int(row["epoch"]), "selected_by": monitored}
    kept["final_val_loss"] = float(row["val_loss"])
    if monitored == "val_signal_loss":
        kept["final_val_signal_loss"] = float(row["val_signal_loss"])
    if monitored == "val_rate_mae":
        kept["final_val_rate_mae"] = float(row["val_rate_mae"])
    return kept


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
    from distraction.training import split_validation, subject_kfold

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
        model, history = fit(x, y, val, label, fit_examples, val_examples)
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
    write_text(sidecar, json.dumps(provenance, indent=2, sort_keys=True) + "\n")
    return provenance


def _recorded_settings(
    settings: TaskSettings, training: TrainingSettings, kind: str, **extra: Any
) -> dict[str, Any]:
    """The settings a sidecar records (hashed into its ``config_hash``)."""
    return {
        "kind": kind,
        **{k: list(v) if isinstance(v, tuple) else v for k, v in vars(settings).items()},
        **dataclasses.asdict(training),
        **{k: str(v) if isinstance(v, Path) else v for k, v in extra.items()},
    }


def _summary(kind: str, task: str, n: int, provenance: dict[str, Any], output: Path) -> str:
    metrics = provenance["metrics"]
    cv = metrics["cv_mean_test_pearson_r"]
    cv_text = f", CV test r {cv:.3f}" if cv is not None else ""
    return (
        f"{kind} {task}: {n} recordings, {metrics['epochs']} epochs, "
        f"val loss {metrics['final_val_loss']}{cv_text} -> {output}"
    )


def train_can_job(
    stores: Sequence[Path],
    settings: TaskSettings,
    training: TrainingSettings,
    *,
    output: Path,
    curves: Path,
    sidecar: Path,
) -> str:
    """Train a task's CAN from prepared stores (subject-wise CV, then a final model).

    Early stopping keeps the epoch of the lowest validation loss (the signal's, with a skin
    attention loss: ``training.can_skin_attention_weight``), or of the lowest mean
    validation rate error with ``training.can_select_by == "rate"``. Returns the job's
    one-line summary.
    """
    from distraction.models import configure_devices
    from distraction.training import RateSelection, train_can

    configure_devices(seed=training.seed, deterministic=True)
    weight = training.can_skin_attention_weight
    examples = [can_example(store, settings, skin=weight > 0) for store in stores]

    def skin_frames(chosen: Sequence[Example]) -> np.ndarray | None:
        if weight == 0 or not chosen:
            return None
        return np.concatenate(
            [np.broadcast_to(e.skin, (e.target.size, *e.skin.shape)) for e in chosen]
        )

    def fit(x, y, val, label, fit_examples, val_examples):
        selection = None
        if training.can_select_by == "rate" and val_examples:
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
            task=settings.task,
            val=None if val is None else (val[0][0], val[0][1], val[1]),
            epochs=training.can_epochs,
            batch_size=training.batch_size,
            learning_rate=training.learning_rate,
            patience=training.patience,
            seed=training.seed,
            progress=True,
            selection=selection,
            skin=skin_frames(fit_examples),
            val_skin=skin_frames(val_examples),
            skin_attention_weight=weight,
        )

    provenance = train_from_stores(
        "can",
        examples,
        fit,
        task=settings.task,
        out_model=output,
        curves_csv=curves,
        curves_png=curves.with_suffix(".png"),
        sidecar=sidecar,
        folds=training.folds,
        validation_fraction=training.validation_fraction,
        seed=training.seed,
        settings=_recorded_settings(settings, training, "can"),
    )
    return _summary("can", settings.task, len(examples), provenance, output)


def train_lstm_job(
    stores: Sequence[Path],
    settings: TaskSettings,
    training: TrainingSettings,
    *,
    output: Path,
    curves: Path,
    sidecar: Path,
    can_model: Path | None = None,
) -> str:
    """Train a task's LSTM denoiser on CAN signals and corruption traces.

    With ``can_model`` the CAN runs on the stores' prepared groups and the chain is computed
    in memory (the workflow's way); without it the stored ``corruption_<task>`` groups are
    read. Returns the job's one-line summary.
    """
    from distraction.models import configure_devices, load_model
    from distraction.training import train_lstm

    configure_devices(seed=training.seed, deterministic=True)
    if can_model is None:
        examples = [lstm_example(store, settings) for store in stores]
    else:
        can = load_model(can_model)
        examples = [lstm_example_from_can(store, can, settings) for store in stores]

    def fit(x, y, val, label, fit_examples, val_examples):
        return train_lstm(
            x[0],
            y,
            task=settings.task,
            val=None if val is None else (val[0][0], val[1]),
            epochs=training.lstm_epochs,
            batch_size=training.batch_size,
            learning_rate=training.learning_rate,
            patience=training.patience,
            seed=training.seed,
            progress=True,
        )

    provenance = train_from_stores(
        "lstm",
        examples,
        fit,
        task=settings.task,
        out_model=output,
        curves_csv=curves,
        curves_png=curves.with_suffix(".png"),
        sidecar=sidecar,
        folds=training.folds,
        validation_fraction=training.validation_fraction,
        seed=training.seed,
        settings=_recorded_settings(settings, training, "lstm", can_model=can_model),
    )
    return _summary("lstm", settings.task, len(examples), provenance, output)
