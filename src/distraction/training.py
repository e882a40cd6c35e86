"""Training of the CAN and the LSTM denoiser on in-memory arrays.

Everything here is pure with respect to the file system: arrays go in, a trained model
and its per-epoch history come out. Splits are subject-wise so that no person is both trained and
tested on; training is seeded and uses op determinism so the same inputs and seed
give the same weights.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from distraction.errors import InputError
from distraction.keras_import import keras
from distraction.metrics import periodogram_rate
from distraction.models import MASK_LAYERS, build_can, build_lstm, configure_devices
from distraction.signals import condition_signal
from distraction.windows import window_starts

__all__ = [
    "RateSelection",
    "derivative_target",
    "make_lstm_windows",
    "split_validation",
    "subject_kfold",
    "train_can",
    "train_lstm",
    "validation_rate_error",
]

Task = Literal["hr", "br"]
Progress = bool | Callable[[int, dict[str, float]], None]


# --------------------------------------------------------------------------- splits


def _subject_array(subjects: Sequence[str]) -> np.ndarray:
    arr = np.asarray([str(s) for s in subjects], dtype=object)
    if arr.size == 0:
        raise InputError("subjects: empty list of recordings")
    return arr


def subject_kfold(
    subjects: Sequence[str], k: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Subject-wise k-fold split of a list of recordings.

    Parameters
    ----------
    subjects
        Subject id of each recording (several recordings may share a subject).
    k
        Number of folds (2 ≤ k ≤ number of distinct subjects).
    seed
        Seed of the shuffle of the subjects.

    Returns
    -------
    list of (train_idx, test_idx)
        Sorted integer indices into ``subjects``. No subject appears in both parts of a
        fold, and every recording is in exactly one test part.
    """
    arr = _subject_array(subjects)
    unique = np.unique(arr)
    if not 2 <= k <= unique.size:
        raise InputError(f"subjects: k={k} folds need 2 ≤ k ≤ {unique.size} distinct subjects")
    order = np.random.default_rng(seed).permutation(unique.size)
    groups = np.array_split(unique[order], k)
    folds = []
    for group in groups:
        in_test = np.isin(arr, group)
        folds.append((np.flatnonzero(~in_test), np.flatnonzero(in_test)))
    return folds


def split_validation(
    subjects: Sequence[str], fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Hold out a fraction of the subjects for early stopping.

    Returns
    -------
    (train_idx, val_idx)
        Sorted indices into ``subjects``; ``round(fraction · n_subjects)`` subjects (at
        least one, and at least one left for training) are held out whole.
    """
    arr = _subject_array(subjects)
    unique = np.unique(arr)
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction: must be in (0, 1), got {fraction}")
    if unique.size < 2:
        raise InputError("subjects: a validation split needs at least 2 distinct subjects")
    n_val = min(max(round(fraction * unique.size), 1), unique.size - 1)
    chosen = np.random.default_rng(seed).permutation(unique)[:n_val]
    in_val = np.isin(arr, chosen)
    return np.flatnonzero(~in_val), np.flatnonzero(in_val)


# --------------------------------------------------------------------------- targets


def derivative_target(waveform: np.ndarray) -> np.ndarray:
    """CAN training target: first difference of a waveform divided by its std.

    Returns ``(T - 1,)``, aligned with frame differences ``frame[t+1] - frame[t]``.
    """
    wave = np.asarray(waveform, dtype=np.float64)
    if wave.ndim != 1 or wave.size < 3:
        raise ValueError(f"waveform: expected a 1-D array of ≥ 3 samples, got {wave.shape}")
    diff = np.diff(wave)
    std = diff.std()
    if not np.isfinite(std) or std == 0:
        raise InputError("waveform: constant or non-finite, cannot standardise")
    return (diff - diff.mean()) / std


def make_lstm_windows(
    features: np.ndarray,
    target: np.ndarray,
    *,
    window: int,
    stride: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Cut aligned sliding windows for the LSTM denoiser.

    Parameters
    ----------
    features
        ``(T, C)`` inputs (C = 4: R, G, B corruption traces and CAN signal).
    target
        ``(T,)`` clean waveform.
    window, stride
        Window length and step in samples (paper: 60 and 30 at 30 fps).

    Returns
    -------
    X : np.ndarray
        ``(n, window, C)`` float32, windows starting at 0, stride, 2·stride, …
        (only complete windows).
    Y : np.ndarray
        ``(n, window, 1)`` float32.
    """
    feats = np.asarray(features)
    targ = np.asarray(target)
    if feats.ndim != 2:
        raise ValueError(f"features: expected (T, C), got {feats.shape}")
    if targ.shape != (feats.shape[0],):
        raise ValueError(f"target: expected ({feats.shape[0]},), got {targ.shape}")
    if window < 1 or stride < 1:
        raise ValueError(f"window/stride: must be positive, got {window}, {stride}")
    if feats.shape[0] < window:
        raise InputError(f"features: {feats.shape[0]} samples, shorter than window {window}")
    starts = np.arange(0, feats.shape[0] - window + 1, stride)
    idx = starts[:, None] + np.arange(window)[None, :]
    return feats[idx].astype(np.float32), targ[idx][..., None].astype(np.float32)


# --------------------------------------------------------------------------- epoch selection


@dataclass(frozen=True)
class RateSelection:
    """Keep the CAN epoch whose validation *rates* are best, not its validation loss.

    The loss (MSE of the standardised pulse derivative) can barely move between epochs
    (±1 %) while the rates read from the same outputs differ by several bpm, so this
    chooses the epoch on what users measure. It needs enough validation recordings of
    each condition to be a better guide than the loss (see the weights README).

    Attributes
    ----------
    lengths
        Frames of each validation recording, in the order they are concatenated.
    fs
        Frame rate of each validation recording (Hz).
    band
        Pass band (Hz) of the conditioning and of the rate search.
    detrend_lambda
        Smoothness-priors lambda of the conditioning.
    window_s
        Evaluation window (s); a recording shorter than one window is one window.
    """

    lengths: Sequence[int]
    fs: Sequence[float]
    band: tuple[float, float]
    detrend_lambda: float
    window_s: float


_SELECTION_FS = 30.0


def _window_rates(signal: np.ndarray, window: int, band: tuple[float, float]) -> np.ndarray:
    length = min(window, signal.size)
    starts = window_starts(signal.size, length, length)
    return np.array([periodogram_rate(signal[s : s + length], _SELECTION_FS, band) for s in starts])


def validation_rate_error(
    predicted: np.ndarray, target: np.ndarray, selection: RateSelection
) -> float:
    """Mean absolute rate difference (per minute) between a CAN's output and its target.

    Each recording's predicted and target derivatives go through the same conditioning
    as inference (integrate, detrend, band-pass, 30 Hz); the rate of each
    non-overlapping window is the periodogram peak in the band. The result is the mean
    over recordings of their mean window error, so every validation recording (and so
    every condition) weighs the same, whatever its length.

    Parameters
    ----------
    predicted, target
        ``(T,)`` concatenated derivatives of all validation recordings.
    selection
        Their lengths, frame rates and the conditioning settings.

    Returns
    -------
    float
    """
    pred = np.asarray(predicted, dtype=np.float32).reshape(-1)
    true = np.asarray(target, dtype=np.float32).reshape(-1)
    lengths = [int(n) for n in selection.lengths]
    if pred.shape != true.shape or sum(lengths) != true.size:
        raise ValueError(
            f"selection: {pred.size} predictions, {true.size} targets, "
            f"{sum(lengths)} frames in the validation recordings"
        )
    window = round(selection.window_s * _SELECTION_FS)
    errors = []
    for start, n, fs in zip(np.cumsum([0, *lengths[:-1]]), lengths, selection.fs, strict=True):
        rates = []
        for x in (pred[start : start + n], true[start : start + n]):
            conditioned = condition_signal(
                x,
                float(fs),
                band=selection.band,
                lam=selection.detrend_lambda,
                fs_out=_SELECTION_FS,
                integrate=True,
            )
            rates.append(_window_rates(conditioned, window, selection.band))
        errors.append(float(np.mean(np.abs(rates[0] - rates[1]))))
    return float(np.mean(errors))


class _ValidationRate(keras.callbacks.Callback):
    """Adds ``val_loss`` and ``val_rate_mae`` to the epoch logs (before early stopping reads
    them), from one prediction of the validation set, so Keras need not evaluate it too."""

    def __init__(self, x: list[np.ndarray], y: np.ndarray, selection: RateSelection) -> None:
        super().__init__()
        self.x = x
        self.y = y
        self.selection = selection

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        predicted = np.asarray(self.model.predict(self.x, batch_size=256, verbose=0))
        if logs is not None:
            errors = predicted.reshape(self.y.shape) - self.y
            logs["val_loss"] = float(np.mean(np.square(errors, dtype=np.float64)))
            logs["val_rate_mae"] = validation_rate_error(predicted, self.y, self.selection)


# --------------------------------------------------------------------------- training


class _EpochProgress(keras.callbacks.Callback):
    """One line per epoch (or a user callback) instead of Keras' progress bars."""

    def __init__(self, epochs: int, report: Progress, label: str) -> None:
        super().__init__()
        self.epochs = epochs
        self.report = report
        self.label = label
        self.started = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        values = {k: float(v) for k, v in (logs or {}).items()}
        if callable(self.report):
            self.report(epoch + 1, values)
            return
        parts = " ".join(f"{k}={v:.5g}" for k, v in values.items())
        seconds = time.perf_counter() - self.started
        print(
            f"{self.label} epoch {epoch + 1}/{self.epochs} {parts} ({seconds:.1f} s)",
            file=sys.stderr,
            flush=True,
        )


def _check_positive(**values: float) -> None:
    for name, value in values.items():
        if not value > 0:
            raise ValueError(f"{name}: must be positive, got {value}")


def _fit(
    model: keras.Model,
    x: Any,
    y: np.ndarray,
    val: tuple[Any, np.ndarray] | None,
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    patience: int,
    progress: Progress,
    label: str,
    selection: RateSelection | None = None,
    loss: Any = "mse",
    loss_weights: Any = None,
    monitor: str = "val_loss",
) -> pd.DataFrame:
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss=loss,
        loss_weights=loss_weights,
    )
    callbacks: list[keras.callbacks.Callback] = []
    if val is not None:
        if selection is not None:
            callbacks.append(_ValidationRate(val[0], val[1], selection))
            monitor = "val_rate_mae"
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor=monitor, mode="min", patience=patience, restore_best_weights=True
            )
        )
    if progress:
        callbacks.append(_EpochProgress(epochs, progress, label))
    history = model.fit(
        x,
        y,
        # With a rate selection its callback computes the validation loss as well.
        validation_data=None if selection is not None else val,
        epochs=epochs,
        batch_size=batch_size,
        shuffle=True,
        callbacks=callbacks,
        verbose=0,
    )
    frame = pd.DataFrame({k: np.asarray(v, dtype=np.float64) for k, v in history.history.items()})
    frame.insert(0, "epoch", np.arange(1, len(frame) + 1))
    return frame


def _can_arrays(
    motion: np.ndarray, appearance: np.ndarray, target: np.ndarray, name: str
) -> tuple[list[np.ndarray], np.ndarray]:
    m = np.asarray(motion, dtype=np.float32)
    a = np.asarray(appearance, dtype=np.float32)
    t = np.asarray(target, dtype=np.float32).reshape(-1)
    if m.ndim != 4 or m.shape[-1] != 3 or m.shape[1] != m.shape[2]:
        raise ValueError(f"{name} motion: expected (T, S, S, 3), got {m.shape}")
    if a.shape != m.shape:
        raise ValueError(f"{name} appearance: shape {a.shape} differs from motion {m.shape}")
    if t.shape[0] != m.shape[0] or np.asarray(target).size != m.shape[0]:
        raise ValueError(f"{name} target: {np.asarray(target).shape} for {m.shape[0]} frames")
    if not (np.isfinite(m).all() and np.isfinite(a).all() and np.isfinite(t).all()):
        raise InputError(f"{name}: non-finite values in the training arrays")
    return [m, a], t[:, None]


def _skin_arrays(skin: np.ndarray, frames: int, size: int, name: str) -> np.ndarray:
    cover = np.asarray(skin, dtype=np.float32)
    if cover.shape != (frames, size, size):
        raise ValueError(f"{name} skin cover: expected {(frames, size, size)}, got {cover.shape}")
    if not (np.isfinite(cover).all() and cover.min() >= 0 and cover.max() <= 1):
        raise InputError(f"{name}: skin cover outside [0, 1]")
    return cover[..., None]


def train_can(
    motion: np.ndarray,
    appearance: np.ndarray,
    target: np.ndarray,
    *,
    task: Task,
    val: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    epochs: int = 30,
    batch_size: int = 32,
    learning_rate: float = 1e-3,
    patience: int = 5,
    seed: int = 0,
    progress: Progress = True,
    selection: RateSelection | None = None,
    skin: np.ndarray | None = None,
    val_skin: np.ndarray | None = None,
    skin_attention_weight: float = 0.0,
) -> tuple[keras.Model, pd.DataFrame]:
    """Train a CAN (MSE, Adam) on frame pairs.

    Parameters
    ----------
    motion, appearance
        ``(T, S, S, 3)`` network inputs.
    target
        ``(T,)`` standardised derivative of the ground-truth waveform
        (see :func:`derivative_target`).
    task
        ``"hr"`` or ``"br"`` (size of the dense layer).
    val
        ``(motion, appearance, target)`` of held-out subjects; enables early stopping
        on ``val_loss`` with the best weights restored.
    epochs, batch_size, learning_rate, patience, seed
        Training settings; ``seed`` seeds initialisation, shuffling and dropout.
    progress
        ``True`` prints one line per epoch to stderr; a callable receives
        ``(epoch, logs)`` instead; ``False`` is silent.
    selection
        With ``val``: early stopping keeps the epoch of the lowest validation rate
        error (:func:`validation_rate_error`, logged as ``val_rate_mae``) instead of
        the lowest ``val_loss``.
    skin, val_skin
        ``(T, S - 2, S - 2)`` fraction of each pixel of the first attention gate's grid
        covered by skin (:func:`distraction.masks.skin_cover`), for the training and the
        validation frames; needed when ``skin_attention_weight`` is positive.
    skin_attention_weight
        Weight of an auxiliary loss (binary cross-entropy of the first gate's sigmoid
        against the skin cover) added to the signal's MSE: the gate is told where the
        skin is instead of having to find it from the pulse alone, so its inverse
        selects the background the corruption traces need. 0 trains DeepPhys' way.
        Early stopping then watches the signal's loss alone (``val_signal_loss``).

    Returns
    -------
    (model, history)
        The trained model (the plain CAN, whatever the losses) and a DataFrame with
        columns ``epoch``, ``loss`` and ``val_loss`` (when ``val`` is given), and
        ``val_rate_mae`` (with ``selection``); with the skin loss also ``signal_loss``
        and ``attention_loss`` (and their ``val_`` twins).
    """
    _check_positive(epochs=epochs, batch_size=batch_size, learning_rate=learning_rate)
    if not skin_attention_weight >= 0:
        raise ValueError(f"skin_attention_weight: must be ≥ 0, got {skin_attention_weight}")
    x, y = _can_arrays(motion, appearance, target, "train")
    val_data = None if val is None else _can_arrays(*val, "val")
    configure_devices(seed)
    model = build_can(task, size=x[0].shape[1])
    trainer, y_fit, val_fit = model, y, val_data
    fit_options: dict[str, Any] = {"selection": None if val is None else selection}
    if skin_attention_weight > 0:
        if selection is not None:
            raise ValueError("selection: epochs are chosen by the signal's loss with a skin loss")
        grid = x[0].shape[1] - 2
        if skin is None or (val_data is not None and val_skin is None):
            raise ValueError("skin, val_skin: a skin cover is needed for skin_attention_weight > 0")
        # The same layers with the first gate as a second output: what is trained is the CAN.
        trainer = keras.Model(
            model.inputs,
            {"signal": model.outputs[0], "attention": model.get_layer(MASK_LAYERS[0]).output},
            name=f"{model.name}_skin",
        )
        y_fit = {"signal": y, "attention": _skin_arrays(skin, y.shape[0], grid, "train")}
        if val_data is not None:
            val_y = val_data[1]
            val_cover = _skin_arrays(val_skin, val_y.shape[0], grid, "val")
            val_fit = (val_data[0], {"signal": val_y, "attention": val_cover})
        fit_options = {
            "loss": {"signal": "mse", "attention": "binary_crossentropy"},
            "loss_weights": {"signal": 1.0, "attention": float(skin_attention_weight)},
            "monitor": "val_signal_loss",
        }
    history = _fit(
        trainer,
        x,
        y_fit,
        val_fit,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        patience=patience,
        progress=progress,
        label=f"{task}_can",
        **fit_options,
    )
    return model, history


def _lstm_arrays(x: np.ndarray, y: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    xa = np.asarray(x, dtype=np.float32)
    ya = np.asarray(y, dtype=np.float32)
    if xa.ndim != 3:
        raise ValueError(f"{name} X: expected (n, window, channels), got {xa.shape}")
    if ya.ndim == 2:
        ya = ya[..., None]
    if ya.shape != (*xa.shape[:2], 1):
        raise ValueError(f"{name} Y: expected {(*xa.shape[:2], 1)}, got {ya.shape}")
    if not (np.isfinite(xa).all() and np.isfinite(ya).all()):
        raise InputError(f"{name}: non-finite values in the training arrays")
    return xa, ya


def train_lstm(
    X: np.ndarray,
    Y: np.ndarray,
    *,
    task: Task,
    val: tuple[np.ndarray, np.ndarray] | None = None,
    epochs: int = 100,
    batch_size: int = 32,
    learning_rate: float = 1e-3,
    patience: int = 10,
    seed: int = 0,
    units: int = 128,
    progress: Progress = True,
) -> tuple[keras.Model, pd.DataFrame]:
    """Train the LSTM denoiser (MSE, Adam) on windows from :func:`make_lstm_windows`.

    Parameters
    ----------
    X, Y
        ``(n, window, channels)`` inputs and ``(n, window, 1)`` clean targets in [-1, 1].
    val
        ``(X, Y)`` of held-out subjects; enables early stopping (best weights restored).
    units
        LSTM width (128 in the paper).

    Other parameters and the return value are as in :func:`train_can`.
    """
    _check_positive(epochs=epochs, batch_size=batch_size, learning_rate=learning_rate)
    xa, ya = _lstm_arrays(X, Y, "train")
    val_data = None if val is None else _lstm_arrays(*val, "val")
    configure_devices(seed)
    model = build_lstm(task, window=xa.shape[1], channels=xa.shape[2], units=units)
    history = _fit(
        model,
        xa,
        ya,
        val_data,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        patience=patience,
        progress=progress,
        label=f"{task}_lstm",
    )
    return model, history
