"""Tests of the import of the authors' Keras 2 HDF5 weights."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest
import scipy.io

from distraction.engines import predict_can
from distraction.errors import InputError
from distraction.models import (
    AttentionMaskNorm,
    build_can,
    build_lstm,
    load_model,
    save_model,
)
from distraction.weights_import import import_weights


@pytest.fixture(scope="module")
def weights_dir(reference_dir: Path) -> Path:
    path = reference_dir / "weights"
    if not (path / "hr_lstm.h5").exists():
        pytest.skip(f"authors' weights not found in {path}")
    return path


def _activation(name: str):
    """The Keras 2 activations an LSTM stack may name, in NumPy."""
    functions = {
        "tanh": np.tanh,
        "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
        "hard_sigmoid": lambda z: np.clip(0.2 * z + 0.5, 0.0, 1.0),  # Keras 2 definition
        "linear": lambda z: z,
    }
    if name not in functions:
        raise AssertionError(f"activation {name!r} not implemented in the NumPy pass")
    return functions[name]


def _lstm_layer(x: np.ndarray, weights: dict[str, np.ndarray], config: dict) -> np.ndarray:
    """Keras LSTM (gates i, f, c, o), zero initial state; (B, T, F) -> (B, [T,] U)."""
    kernel, recurrent, bias = weights["kernel"], weights["recurrent_kernel"], weights["bias"]
    act = _activation(config["activation"])
    rec_act = _activation(config["recurrent_activation"])
    units = recurrent.shape[0]
    h = np.zeros((x.shape[0], units))
    c = np.zeros((x.shape[0], units))
    outputs = []
    for t in range(x.shape[1]):
        z = x[:, t] @ kernel + h @ recurrent + bias
        i, f, g, o = (z[:, k * units : (k + 1) * units] for k in range(4))
        c = rec_act(f) * c + rec_act(i) * act(g)
        h = rec_act(o) * act(c)
        outputs.append(h)
    return np.stack(outputs, axis=1) if config["return_sequences"] else h


def numpy_hr_lstm(h5_path: Path, x: np.ndarray) -> np.ndarray:
    """Forward pass of the authors' hr_lstm in float64 NumPy, straight from the HDF5 file.

    The layer stack and activations come from the file's ``model_config`` attribute,
    read as JSON text (never deserialised as a model); the weights from
    ``model_weights/<layer>/<layer>/<weight>:0``.
    """
    with h5py.File(h5_path, "r") as f:
        raw = f.attrs["model_config"]
        config = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
        weights = {
            name: {
                key.split(":")[0]: np.asarray(value[()], dtype=np.float64)
                for key, value in f[f"model_weights/{name}/{name}"].items()
            }
            for name in f["model_weights"]
            if name in f[f"model_weights/{name}"]
        }
    layers = config["config"]["layers"] if isinstance(config["config"], dict) else config["config"]
    y = np.asarray(x, dtype=np.float64)
    for layer in layers:
        kind, cfg = layer["class_name"], layer["config"]
        if kind == "LSTM":
            y = _lstm_layer(y, weights[cfg["name"]], cfg)
        elif kind == "RepeatVector":
            y = np.repeat(y[:, None, :], cfg["n"], axis=1)
        elif kind == "TimeDistributed" and layer["config"]["layer"]["class_name"] == "Dense":
            dense = weights[cfg["name"]]
            y = _activation(cfg["layer"]["config"]["activation"])(
                y @ dense["kernel"] + dense["bias"]
            )
        elif kind != "InputLayer":
            raise AssertionError(f"layer {kind} not implemented in the NumPy pass")
    return y


# Max |Keras float32 - NumPy float64| allowed on the real sample: measured 2.0e-6, while
# scaling any one weight array by 1.01 moves the output by >= 2.3e-4 (the dense bias).
LSTM_TOLERANCE = 2e-5


@pytest.fixture(scope="module")
def sample_xtest(reference_dir: Path) -> np.ndarray:
    path = reference_dir / "mmse_hr_sample" / "lstm_input.mat"
    if not path.is_file():
        pytest.skip(f"reference sample input not found at {path}")
    x = scipy.io.loadmat(path)["Xtest"].astype(np.float32)
    assert x.shape == (33, 60, 4)
    return x


def test_hr_lstm_matches_numpy_pass_on_real_input(weights_dir: Path, sample_xtest) -> None:
    # Unlike the all-zero probe, the real input exercises lstm_1's input kernel.
    assert np.abs(sample_xtest).max() > 0.5
    model = import_weights(weights_dir / "hr_lstm.h5", "hr_lstm")
    got = np.asarray(model(sample_xtest, training=False), dtype=np.float64)
    expected = numpy_hr_lstm(weights_dir / "hr_lstm.h5", sample_xtest)
    assert got.shape == expected.shape == (33, 60, 1)
    assert np.ptp(expected) > 0.1
    assert np.abs(got - expected).max() < LSTM_TOLERANCE


def test_numpy_pass_detects_one_percent_change_of_any_weight(
    weights_dir: Path, sample_xtest
) -> None:
    model = import_weights(weights_dir / "hr_lstm.h5", "hr_lstm")
    expected = numpy_hr_lstm(weights_dir / "hr_lstm.h5", sample_xtest)
    assert len(model.weights) == 8  # 2 x (kernel, recurrent kernel, bias) + dense (2)
    for var in model.weights:
        original = var.numpy()
        var.assign(original * 1.01)
        try:
            got = np.asarray(model(sample_xtest, training=False), dtype=np.float64)
        finally:
            var.assign(original)
        assert np.abs(got - expected).max() > LSTM_TOLERANCE, var.path


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
    signal, mask1, mask2 = predict_can(model, motion, appearance, 8)
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
        predict_can(model, motion, appearance, 8),
        predict_can(load_model(path), motion, appearance, 8),
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
    source = build_lstm("hr", window=60)
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
