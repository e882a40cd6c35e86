"""Tests of the import of the authors' Keras 2 HDF5 weights."""

from __future__ import annotations

from pathlib import Path

import h5py
import keras
import numpy as np
import pytest
import scipy.io

from distraction.errors import InputError
from distraction.models import (
    AttentionMaskNorm,
    build_can,
    build_lstm,
    load_model,
    predict_can,
    save_model,
)
from distraction.weights_import import import_weights


@pytest.fixture(scope="module")
def weights_dir(reference_dir: Path) -> Path:
    path = reference_dir / "weights"
    if not (path / "hr_lstm.h5").exists():
        pytest.skip(f"authors' weights not found in {path}")
    return path


def _frames(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    # Like the CAN inputs: standardised frame differences and standardised frames.
    return (
        rng.normal(size=(n, 36, 36, 3)).astype(np.float32),
        rng.normal(size=(n, 36, 36, 3)).astype(np.float32),
    )


def test_hr_lstm_reproduces_authors_probe(weights_dir: Path) -> None:
    model = import_weights(weights_dir / "hr_lstm.h5", "hr_lstm")
    x = scipy.io.loadmat(weights_dir / "hr_lstm_probe_input.mat")["Xtest"]
    expected = scipy.io.loadmat(weights_dir / "hr_lstm_probe_output.mat")["predicted"]
    assert x.shape == (32, 60, 4) and expected.shape == (32, 60, 1)
    got = np.asarray(model(x.astype(np.float32), training=False))
    # The probe is not trivial (a wrong gate order gives errors of ~0.8).
    assert np.ptp(expected) > 0.1
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_hr_lstm_weights_equal_file(weights_dir: Path) -> None:
    model = import_weights(weights_dir / "hr_lstm.h5", "hr_lstm")
    with h5py.File(weights_dir / "hr_lstm.h5", "r") as f:
        stored = f["model_weights/lstm_2/lstm_2/recurrent_kernel:0"][()]
        dense = f["model_weights/time_distributed_1/time_distributed_1/kernel:0"][()]
    np.testing.assert_array_equal(model.get_layer("lstm_2").cell.recurrent_kernel.numpy(), stored)
    np.testing.assert_array_equal(model.get_layer("time_distributed_1").layer.kernel.numpy(), dense)


def test_br_lstm_imports_bidirectional(weights_dir: Path) -> None:
    model = import_weights(weights_dir / "br_lstm.h5", "br_lstm")
    layer = model.get_layer("bidirectional_11")
    with h5py.File(weights_dir / "br_lstm.h5", "r") as f:
        group = f["model_weights/bidirectional_11/bidirectional_11"]
        forward = group["forward_lstm_22/kernel:0"][()]
        backward = group["backward_lstm_22/kernel:0"][()]
    assert not np.array_equal(forward, backward)
    np.testing.assert_array_equal(layer.forward_layer.cell.kernel.numpy(), forward)
    np.testing.assert_array_equal(layer.backward_layer.cell.kernel.numpy(), backward)
    x = np.random.default_rng(0).uniform(-1, 1, size=(5, 60, 4)).astype(np.float32)
    y = np.asarray(model(x, training=False))
    assert y.shape == (5, 60, 1) and np.all(np.abs(y) <= 1.0)


def test_br_can_imports_and_predicts(weights_dir: Path) -> None:
    model = import_weights(weights_dir / "br_can.h5", "br_can")
    with h5py.File(weights_dir / "br_can.h5", "r") as f:
        gate = f["model_weights/conv2d_5/conv2d_5/kernel:0"][()]
    np.testing.assert_array_equal(model.get_layer("conv2d_5").kernel.numpy(), gate)
    motion, appearance = _frames(20, 0)
    signal, mask1, mask2 = predict_can(model, motion, appearance, batch_size=8)
    assert signal.shape == (20,) and np.all(np.isfinite(signal)) and np.std(signal) > 0
    assert mask1.shape == (20, 34, 34) and mask2.shape == (20, 15, 15)
    assert mask1.min() >= 0.0 and mask1.max() <= 1.0


def test_imported_can_saved_reloads_identically(weights_dir: Path, tmp_path: Path) -> None:
    model = import_weights(weights_dir / "br_can.h5", "br_can")
    path = save_model(model, tmp_path / "br_can.keras")
    reloaded = keras.models.load_model(path, safe_mode=True)
    assert isinstance(reloaded.get_layer("lambda_2"), AttentionMaskNorm)
    motion, appearance = _frames(6, 1)
    for a, b in zip(
        predict_can(model, motion, appearance),
        predict_can(load_model(path), motion, appearance),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)

    lstm = import_weights(weights_dir / "hr_lstm.h5", "hr_lstm")
    lstm_path = save_model(lstm, tmp_path / "hr_lstm.keras")
    x = np.random.default_rng(2).uniform(-1, 1, size=(4, 60, 4)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(lstm(x)), np.asarray(load_model(lstm_path)(x)))


def _write_h5(path: Path, layers: dict[str, dict[str, np.ndarray]]) -> None:
    with h5py.File(path, "w") as f:
        root = f.create_group("model_weights")
        root.attrs["layer_names"] = [name.encode() for name in layers]
        for name, weights in layers.items():
            group = root.create_group(name).create_group(name)
            for weight, value in weights.items():
                group.create_dataset(f"{weight}:0", data=value)


def _can_layers(model: keras.Model) -> dict[str, dict[str, np.ndarray]]:
    return {
        layer.name: {v.name: v.numpy() for v in layer.weights}
        for layer in model.layers
        if layer.weights
    }


def test_synthetic_file_round_trip_and_errors(tmp_path: Path) -> None:
    # A file written from a known model imports back to the same weights.
    keras.utils.set_random_seed(5)
    source = build_can("hr")
    layers = _can_layers(source)
    good = tmp_path / "hr_can.h5"
    _write_h5(good, layers)
    imported = import_weights(good, "hr_can")
    for a, b in zip(source.get_weights(), imported.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)

    missing = dict(layers)
    del missing["conv2d_10"]
    _write_h5(tmp_path / "missing.h5", missing)
    with pytest.raises(InputError, match=r"missing\.h5: missing layer\(s\) conv2d_10"):
        import_weights(tmp_path / "missing.h5", "hr_can")

    # br_can expects dense_1 of 32 units: the hr file does not fit.
    with pytest.raises(InputError, match=r"hr_can\.h5: shape mismatch for dense_1"):
        import_weights(good, "br_can")

    with pytest.raises(InputError, match="not found"):
        import_weights(tmp_path / "absent.h5", "br_can")
    with pytest.raises(InputError, match="unknown network kind"):
        import_weights(good, "xx_can")  # type: ignore[arg-type]


def test_lstm_with_other_layer_numbers_matches_in_order(tmp_path: Path) -> None:
    keras.utils.set_random_seed(6)
    source = build_lstm("hr")
    renamed = {
        {"lstm_1": "lstm_7", "lstm_2": "lstm_8", "time_distributed_1": "time_distributed_4"}[
            name
        ]: weights
        for name, weights in _can_layers(source).items()
    }
    _write_h5(tmp_path / "other.h5", renamed)
    imported = import_weights(tmp_path / "other.h5", "hr_lstm")
    for a, b in zip(source.get_weights(), imported.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
