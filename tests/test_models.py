"""Tests of the Keras CAN and LSTM builders, mask outputs and safe save/load."""

from __future__ import annotations

import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import pytest

from distraction.engines import predict_can
from distraction.errors import InputError
from distraction.models import (
    MASK_LAYERS,
    AttentionMaskNorm,
    build_can,
    build_lstm,
    can_with_masks,
    configure_devices,
    load_model,
    save_model,
)

# Layer names of the authors' br_can.h5 (read once from its HDF5 'layer_names').
BR_CAN_LAYERS = {
    "input_2", "conv2d_3", "input_1", "conv2d_4", "conv2d_1", "conv2d_5", "conv2d_2",
    "lambda_1", "average_pooling2d_2", "multiply_1", "dropout_2", "average_pooling2d_1",
    "conv2d_8", "dropout_1", "conv2d_9", "conv2d_6", "conv2d_10", "conv2d_7", "lambda_2",
    "multiply_2", "average_pooling2d_3", "dropout_3", "flatten_1", "dense_1", "dropout_4",
    "dense_2",
}  # fmt: skip


def _frames(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (
        rng.normal(size=(n, 36, 36, 3)).astype(np.float32),
        rng.normal(size=(n, 36, 36, 3)).astype(np.float32),
    )


def test_can_layer_names_and_shapes() -> None:
    model = build_can("br")
    assert {layer.name for layer in model.layers} == BR_CAN_LAYERS
    assert model.output.shape == (None, 1)
    assert model.get_layer("conv2d_5").output.shape == (None, 34, 34, 1)
    assert model.get_layer("conv2d_10").output.shape == (None, 15, 15, 1)
    assert model.get_layer("dense_1").units == 32
    assert build_can("hr").get_layer("dense_1").units == 128
    assert model.get_layer("dense_1").kernel.shape == (7 * 7 * 64, 32)
    # input_1 feeds the motion branch (conv2d_1), input_2 the appearance branch.
    assert model.inputs[0].name == "input_1" and model.inputs[1].name == "input_2"


def test_attention_mask_norm_hand_values() -> None:
    mask = np.zeros((2, 2, 2, 1), np.float32)
    mask[0, :, :, 0] = [[1.0, 1.0], [1.0, 1.0]]  # sum 4 → each 1/4 · 4 · 0.5 = 0.5
    mask[1, :, :, 0] = [[1.0, 0.0], [0.0, 3.0]]  # sum 4 → 0.5, 0, 0, 1.5
    out = np.asarray(AttentionMaskNorm()(mask))
    np.testing.assert_allclose(out[0, :, :, 0], 0.5)
    np.testing.assert_allclose(out[1, :, :, 0], [[0.5, 0.0], [0.0, 1.5]])


def test_can_with_masks_and_predict_can_agree() -> None:
    keras.utils.set_random_seed(1)
    model = build_can("br")
    motion, appearance = _frames(10, 0)
    signal, mask1, mask2 = predict_can(model, motion, appearance, batch_size=4)
    assert signal.shape == (10,) and mask1.shape == (10, 34, 34) and mask2.shape == (10, 15, 15)
    assert mask1.dtype == np.float32 and mask2.dtype == np.float32
    # Masks are raw sigmoids (in (0, 1)), not the normalised gate.
    assert 0.0 < mask1.min() and mask1.max() < 1.0
    direct = can_with_masks(model)([motion, appearance], training=False)
    np.testing.assert_allclose(signal, np.asarray(direct[0])[:, 0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mask1, np.asarray(direct[1])[..., 0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mask2, np.asarray(direct[2])[..., 0], rtol=1e-5, atol=1e-6)
    assert MASK_LAYERS == ("conv2d_5", "conv2d_10")


def test_predict_can_rejects_bad_shapes() -> None:
    model = build_can("br")
    motion, appearance = _frames(3, 0)
    with pytest.raises(ValueError, match="motion"):
        predict_can(model, motion[:, :30], appearance, 8)
    with pytest.raises(ValueError, match="appearance"):
        predict_can(model, motion, appearance[:2], 8)


@pytest.mark.parametrize(("task", "decoder"), [("hr", "lstm_2"), ("br", "bidirectional_11")])
def test_lstm_structure(task: str, decoder: str) -> None:
    model = build_lstm(task, window=60)
    names = [layer.name for layer in model.layers[1:]]
    assert decoder in names
    assert model.output.shape == (None, 60, 1)
    dense_in = 256 if task == "br" else 128
    assert model.layers[-1].layer.kernel.shape == (dense_in, 1)
    x = np.zeros((2, 60, 4), np.float32)
    assert np.all(np.abs(np.asarray(model(x))) <= 1.0)  # tanh output


def test_save_and_load_safe_mode_identical(tmp_path) -> None:
    keras.utils.set_random_seed(3)
    can = build_can("hr")
    motion, appearance = _frames(5, 1)
    path = save_model(can, tmp_path / "can.keras")
    assert path.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    loaded = keras.models.load_model(path, safe_mode=True)
    assert isinstance(loaded.get_layer("lambda_1"), AttentionMaskNorm)
    expected = predict_can(can, motion, appearance, 8)
    got = predict_can(load_model(path), motion, appearance, 8)
    for a, b in zip(expected, got, strict=True):
        np.testing.assert_array_equal(a, b)

    lstm = build_lstm("br", window=60, units=8)
    x = np.random.default_rng(0).normal(size=(3, 60, 4)).astype(np.float32)
    lstm_path = save_model(lstm, tmp_path / "sub" / "lstm.keras")
    np.testing.assert_array_equal(np.asarray(lstm(x)), np.asarray(load_model(lstm_path)(x)))


def test_save_load_errors(tmp_path) -> None:
    with pytest.raises(InputError, match=r"\.keras"):
        save_model(build_lstm("hr", window=60, units=4), tmp_path / "model.h5")
    with pytest.raises(InputError, match="not found"):
        load_model(tmp_path / "missing.keras")
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"not a zip")
    with pytest.raises(InputError, match=r"bad\.keras"):
        load_model(bad)


def test_configure_devices_reports_device() -> None:
    assert configure_devices(0) in {"CPU", "GPU"}


def test_network_stages_start_without_sklearn_and_matplotlib() -> None:
    # Keras imports both eagerly when installed (1-1.7 s per job); the network stages use
    # neither, and the modules must still import normally afterwards in the same process.
    code = (
        "import sys\n"
        "import distraction.models, distraction.training\n"
        "print(sorted({'sklearn', 'matplotlib'} & set(sys.modules)))\n"
        "from sklearn.decomposition import FastICA\n"
        "import matplotlib.pyplot\n"
        "print('later imports ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.splitlines() == ["[]", "later imports ok"]


def test_hidden_modules_hides_only_modules_not_yet_imported(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from distraction.keras_import import hidden_modules

    (tmp_path / "distraction_probe_module.py").write_text("VALUE = 7\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with hidden_modules(["json", "distraction_probe_module"]):
        import json  # already imported: stays usable

        assert json.dumps(1) == "1"
        with pytest.raises(ImportError):
            import distraction_probe_module
    import distraction_probe_module

    assert distraction_probe_module.VALUE == 7
    del sys.modules["distraction_probe_module"]
