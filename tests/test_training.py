"""Tests of the subject-wise splits and the CAN/LSTM training loops (tiny data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from distraction.errors import InputError
from distraction.train import _kept_epoch, save_learning_curves
from distraction.training import (
    RateSelection,
    derivative_target,
    make_lstm_windows,
    split_validation,
    subject_kfold,
    train_can,
    train_lstm,
    validation_rate_error,
)

SUBJECTS = ["s1", "s1", "s2", "s3", "s3", "s3", "s4", "s5", "s6", "s6", "s7"]


@pytest.mark.parametrize("k", [2, 3, 7])
def test_subject_kfold_properties(k: int) -> None:
    folds = subject_kfold(SUBJECTS, k, seed=4)
    assert len(folds) == k
    subjects = np.array(SUBJECTS)
    tested = np.concatenate([test for _, test in folds])
    assert sorted(tested.tolist()) == list(range(len(SUBJECTS)))  # each tested once
    for train, test in folds:
        assert len(test) > 0
        assert not set(subjects[train]) & set(subjects[test])
        assert sorted([*train, *test]) == list(range(len(SUBJECTS)))
    assert [t.tolist() for _, t in subject_kfold(SUBJECTS, k, 4)] == [t.tolist() for _, t in folds]


def test_subject_kfold_rejects_too_many_folds() -> None:
    with pytest.raises(InputError):
        subject_kfold(SUBJECTS, 8, seed=0)
    with pytest.raises(InputError):
        subject_kfold(SUBJECTS, 1, seed=0)


def test_split_validation_is_subject_wise() -> None:
    train, val = split_validation(SUBJECTS, 0.3, seed=1)
    subjects = np.array(SUBJECTS)
    assert len(set(subjects[val])) == 2  # round(0.3 · 7)
    assert not set(subjects[train]) & set(subjects[val])
    assert sorted([*train, *val]) == list(range(len(SUBJECTS)))
    with pytest.raises(InputError):
        split_validation(["a", "a"], 0.2, seed=0)


def test_derivative_target_and_windows() -> None:
    wave = np.array([0.0, 1.0, 3.0, 6.0])  # diffs 1, 2, 3: mean 2, std sqrt(2/3)
    np.testing.assert_allclose(derivative_target(wave), np.array([-1.0, 0.0, 1.0]) / np.sqrt(2 / 3))
    features = np.arange(130 * 4, dtype=float).reshape(130, 4)
    target = np.arange(130, dtype=float)
    x, y = make_lstm_windows(features, target, window=60, stride=30)
    assert x.shape == (3, 60, 4) and y.shape == (3, 60, 1)  # starts 0, 30, 60
    np.testing.assert_array_equal(y[2, :, 0], np.arange(60, 120))
    np.testing.assert_array_equal(x[1, 0], features[30])
    with pytest.raises(InputError):
        make_lstm_windows(features[:50], target[:50], window=60, stride=30)


def _denoising_data(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Clean pulse; the 4th channel is pulse + corruption, channels 0-2 see the corruption."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 30.0
    freq = 1.2 + 0.1 * np.sin(2 * np.pi * t / 40)
    clean = np.sin(2 * np.pi * np.cumsum(freq) / 30.0)
    corruption = np.sin(2 * np.pi * 0.45 * t + 1.0) + 0.8 * np.sin(2 * np.pi * 2.3 * t)
    corruption /= np.abs(corruption).max()
    traces = [gain * corruption + 0.05 * rng.normal(size=n) for gain in (1.0, 0.7, 0.4)]
    signal = (clean + 1.5 * corruption) / 2.5
    return np.column_stack([*traces, signal]), clean


def test_lstm_learns_to_remove_corruption(capsys: pytest.CaptureFixture[str]) -> None:
    x, y = make_lstm_windows(*_denoising_data(0, 3000), window=60, stride=10)
    x_test, y_test = make_lstm_windows(*_denoising_data(1, 900), window=60, stride=30)
    model, history = train_lstm(
        x, y, task="hr", epochs=15, batch_size=32, learning_rate=3e-3, patience=5,
        seed=0, units=32, progress=True,
    )  # fmt: skip
    assert list(history.columns) == ["epoch", "loss"]
    progress_lines = capsys.readouterr().err.splitlines()
    assert [line.split()[:3] for line in progress_lines][-1] == ["hr_lstm", "epoch", "15/15"]
    assert history["loss"].iloc[-1] < 0.5 * history["loss"].iloc[0]
    predicted = np.asarray(model(x_test, training=False)).ravel()
    r_model = np.corrcoef(predicted, y_test.ravel())[0, 1]
    r_input = np.corrcoef(x_test[..., 3].ravel(), y_test.ravel())[0, 1]
    assert r_input < 0.75  # the corruption is substantial…
    assert r_model > 0.8  # …and the denoiser removes it


def _can_data(seed: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frames whose motion channel carries the target inside a 'skin' patch."""
    rng = np.random.default_rng(seed)
    target = np.sin(2 * np.pi * 1.2 * np.arange(n) / 30.0 + rng.uniform(0, 6))
    skin = np.zeros((36, 36, 3), np.float32)
    skin[8:28, 10:26] = 1.0
    appearance = skin[None] + 0.1 * rng.normal(size=(n, 36, 36, 3))
    motion = target[:, None, None, None] * skin[None] + 0.5 * rng.normal(size=(n, 36, 36, 3))
    return motion.astype(np.float32), appearance.astype(np.float32), target


def test_can_training_reduces_loss_and_is_deterministic() -> None:
    motion, appearance, target = _can_data(0, 200)
    val = _can_data(1, 60)
    lines: list[tuple[int, dict[str, float]]] = []
    kwargs = {"task": "br", "val": val, "epochs": 2, "batch_size": 32, "learning_rate": 1e-3,
              "patience": 3, "seed": 7}  # fmt: skip
    model, history = train_can(
        motion, appearance, target, progress=lambda e, logs: lines.append((e, logs)), **kwargs
    )
    assert list(history.columns) == ["epoch", "loss", "val_loss"]
    assert [e for e, _ in lines] == [1, 2]
    assert history["loss"].iloc[-1] < history["loss"].iloc[0]
    # Predicting 0 gives an MSE of ≈ 0.5 (the variance of a unit sinusoid).
    assert history["val_loss"].min() < 0.1
    again, history2 = train_can(motion, appearance, target, progress=False, **kwargs)
    for a, b in zip(model.get_weights(), again.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    pd.testing.assert_frame_equal(history, history2)


def test_a_skin_loss_puts_the_first_gate_on_skin() -> None:
    from distraction.models import MASK_LAYERS, can_with_masks

    motion, appearance, target = _can_data(0, 96)
    # The skin patch of _can_data on the first gate's 34×34 grid (a 3×3 valid convolution
    # shifts it by one pixel): rows 8-27, columns 10-25 become 7-26 and 9-24.
    cover = np.zeros((34, 34), np.float32)
    cover[7:27, 9:25] = 1.0
    skin = np.broadcast_to(cover, (motion.shape[0], 34, 34))
    kwargs = {"task": "hr", "epochs": 3, "batch_size": 16, "seed": 3, "progress": False}
    model, history = train_can(
        motion, appearance, target, skin=skin, skin_attention_weight=5.0, **kwargs
    )
    # The plain CAN comes back (one output; the gate is still a layer of it).
    assert len(model.outputs) == 1 and model.get_layer(MASK_LAYERS[0])
    assert {"signal_loss", "attention_loss"} <= set(history.columns)
    assert history["attention_loss"].iloc[-1] < history["attention_loss"].iloc[0]
    _, gate, _ = can_with_masks(model).predict([motion[:8], appearance[:8]], verbose=0)
    gate = gate[..., 0].mean(axis=0)
    assert gate[cover == 1].mean() > 1.5 * gate[cover == 0].mean()
    with pytest.raises(ValueError, match="skin"):
        train_can(motion, appearance, target, skin_attention_weight=1.0, **kwargs)
    with pytest.raises(ValueError, match="skin cover"):
        train_can(
            motion, appearance, target, skin=skin[:, :30, :30], skin_attention_weight=1.0, **kwargs
        )


def _pulse_derivative(bpm: float, seconds: float, fs: float = 30.0) -> np.ndarray:
    t = np.arange(round(seconds * fs) + 1) / fs
    return np.diff(np.sin(2 * np.pi * bpm / 60.0 * t))


def test_validation_rate_error_weighs_recordings_equally() -> None:
    # Recording 1 (40 s: windows 0-30 s and 10-40 s) is right; recording 2 (30 s, one
    # window) reads 90 instead of 72 bpm. Mean of per-recording errors: (0 + 18) / 2 = 9;
    # a mean over the three windows would be 6.
    target = np.concatenate([_pulse_derivative(72, 40), _pulse_derivative(72, 30)])
    predicted = np.concatenate([_pulse_derivative(72, 40), _pulse_derivative(90, 30)])
    selection = RateSelection(
        lengths=[1200, 900], fs=[30.0, 30.0], band=(0.7, 2.5), detrend_lambda=50, window_s=30
    )
    assert validation_rate_error(predicted, target, selection) == pytest.approx(9.0, abs=0.01)
    assert validation_rate_error(target, target, selection) == pytest.approx(0.0, abs=0.01)
    # A 25-fps recording is conditioned at its own rate: 20 s of 60 bpm against 75 bpm.
    at_25 = RateSelection(lengths=[500], fs=[25.0], band=(0.7, 2.5), detrend_lambda=50, window_s=30)
    assert validation_rate_error(
        _pulse_derivative(75, 20, 25.0), _pulse_derivative(60, 20, 25.0), at_25
    ) == pytest.approx(15.0, abs=0.01)
    with pytest.raises(ValueError, match="selection"):
        validation_rate_error(predicted[:-1], target[:-1], selection)


def test_kept_epoch_follows_the_monitored_metric() -> None:
    history = pd.DataFrame(
        {
            "epoch": [1, 2, 3, 4],
            "loss": [0.9, 0.8, 0.7, 0.6],
            "val_loss": [0.95, 0.94, 0.93, 0.96],
            "val_rate_mae": [3.0, 1.5, 2.0, 1.5],
        }
    )
    # The rate error decides (first of the tied epochs 2 and 4), not the lower loss of 3.
    assert _kept_epoch(history) == {
        "kept_epoch": 2,
        "selected_by": "val_rate_mae",
        "final_val_loss": 0.94,
        "final_val_rate_mae": 1.5,
    }
    by_loss = _kept_epoch(history.drop(columns="val_rate_mae"))
    assert by_loss == {"kept_epoch": 3, "selected_by": "val_loss", "final_val_loss": 0.93}
    assert _kept_epoch(history[["epoch", "loss"]]) == {"final_val_loss": None}


def test_can_training_keeps_the_epoch_of_the_best_validation_rates() -> None:
    motion, appearance, target = _can_data(0, 200)
    val = _can_data(1, 300)
    selection = RateSelection(
        lengths=[150, 150], fs=[30.0, 30.0], band=(0.7, 2.5), detrend_lambda=50, window_s=5
    )
    model, history = train_can(
        motion, appearance, target, task="br", val=val, epochs=3, batch_size=32, patience=3,
        seed=7, progress=False, selection=selection,
    )  # fmt: skip
    assert list(history.columns) == ["epoch", "loss", "val_loss", "val_rate_mae"]
    predicted = model.predict([val[0], val[1]], verbose=0)
    assert validation_rate_error(predicted, val[2], selection) == pytest.approx(
        history["val_rate_mae"].min()
    )
    # The weights kept are those of the first epoch with the best rates (here every epoch
    # reads the rate right), not those of the best validation loss.
    kept = int(history["val_rate_mae"].idxmin())
    assert history["val_loss"][kept] > 2 * history["val_loss"].min()
    mse = float(np.mean((predicted.ravel() - val[2]) ** 2))
    assert mse == pytest.approx(history["val_loss"][kept], rel=1e-3)


def test_training_rejects_bad_arrays() -> None:
    motion, appearance, target = _can_data(0, 10)
    with pytest.raises(ValueError, match="target"):
        train_can(motion, appearance, target[:5], task="br", epochs=1, progress=False)
    with pytest.raises(ValueError, match="Y"):
        train_lstm(np.zeros((2, 60, 4)), np.zeros((2, 50, 1)), task="hr", epochs=1)


def test_save_learning_curves(tmp_path: Path) -> None:
    history = pd.DataFrame(
        {"epoch": [1, 2, 3], "loss": [1.0, 0.5, 0.25], "val_loss": [1.2, 0.7, 0.6]}
    )
    csv, png = tmp_path / "curves" / "h.csv", tmp_path / "curves" / "h.png"
    save_learning_curves(history, csv, png)
    pd.testing.assert_frame_equal(pd.read_csv(csv), history)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in csv.parent.iterdir()) == ["h.csv", "h.png"]
