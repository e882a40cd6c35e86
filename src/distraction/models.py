"""Keras networks of the inverse-attention method: the CAN and the LSTM denoiser.

The CAN (convolutional attention network, DeepPhys) maps a normalised frame
difference ("motion") and a normalised frame ("appearance") to the derivative of
the physiological waveform. Its two soft-attention gates, computed on the appearance
branch, are what the inverse masks are derived from. The LSTM denoiser maps 60-sample
windows of [R, G, B corruption traces, CAN signal] to the denoised waveform.

Layer names follow the authors' Keras 2 HDF5 files so that
:func:`distraction.weights_import.import_weights` can load their weights by name.
"""

from __future__ import annotations

import os
import weakref
from pathlib import Path
from typing import Any, Literal

from distraction.atomic import atomic_path
from distraction.errors import InputError
from distraction.keras_import import keras, tf

__all__ = [
    "MASK_LAYERS",
    "AttentionMaskNorm",
    "build_can",
    "build_lstm",
    "can_predict_function",
    "can_with_masks",
    "configure_devices",
    "load_model",
    "save_model",
]

Task = Literal["hr", "br"]

#: Names of the two attention gates (1×1 conv + sigmoid) in the CAN, as in br_can.h5.
MASK_LAYERS: tuple[str, str] = ("conv2d_5", "conv2d_10")

# Names of the LSTM layers in the authors' files (hr_lstm.h5 / br_lstm.h5).
_LSTM_NAMES: dict[str, tuple[str, str, str, str]] = {
    "hr": ("lstm_1", "repeat_vector_1", "lstm_2", "time_distributed_1"),
    "br": ("lstm_21", "repeat_vector_11", "bidirectional_11", "time_distributed_11"),
}


@keras.saving.register_keras_serializable(package="distraction")
class AttentionMaskNorm(keras.layers.Layer):
    """Normalise a soft-attention mask per sample: ``mask / sum(mask) · H · W / 2``.

    This is DeepPhys' ``Attention_mask`` (a ``Lambda`` in the authors' Keras 2 model):
    it rescales the sigmoid gate so its spatial L1 norm is ``H·W/2`` and so the
    multiplication with the motion features keeps their overall magnitude.
    """

    def call(self, inputs: Any) -> Any:
        total = keras.ops.sum(inputs, axis=(1, 2), keepdims=True)
        height, width = inputs.shape[1], inputs.shape[2]
        return inputs / total * (height * width * 0.5)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return input_shape


def _check_task(task: str) -> None:
    if task not in ("hr", "br"):
        raise ValueError(f"task: expected 'hr' or 'br', got {task!r}")


def build_can(
    task: Task,
    *,
    size: int = 36,
    dropout: float = 0.25,
    dense_dropout: float = 0.5,
) -> keras.Model:
    """Build the convolutional attention network (DeepPhys) for one task.

    Parameters
    ----------
    task
        ``"hr"`` (dense layer of 128 units) or ``"br"`` (32 units, as in br_can.h5).
    size
        Side of the square input frames (36 in the paper).
    dropout
        Dropout rate after each average pooling (DeepPhys: 0.25).
    dense_dropout
        Dropout rate after the hidden dense layer (DeepPhys: 0.5).

    Returns
    -------
    keras.Model
        Inputs ``[motion (size, size, 3), appearance (size, size, 3)]`` named
        ``input_1`` / ``input_2``; output ``(1,)`` linear: the waveform derivative.
        The attention gates are the layers named in :data:`MASK_LAYERS`.
    """
    _check_task(task)
    if size < 8:
        raise ValueError(f"size: CAN input side must be at least 8, got {size}")
    layers = keras.layers
    motion = keras.Input((size, size, 3), name="input_1")
    appearance = keras.Input((size, size, 3), name="input_2")

    def conv(filters: int, padding: str, name: str) -> keras.layers.Layer:
        return layers.Conv2D(filters, 3, padding=padding, activation="tanh", name=name)

    def gate(name: str) -> keras.layers.Layer:
        return layers.Conv2D(1, 1, padding="same", activation="sigmoid", name=name)

    # Stage 1: two 3×3 convolutions per branch, first gate from the appearance branch.
    d = conv(32, "same", "conv2d_1")(motion)
    d = conv(32, "valid", "conv2d_2")(d)
    r = conv(32, "same", "conv2d_3")(appearance)
    r = conv(32, "valid", "conv2d_4")(r)
    g1 = gate(MASK_LAYERS[0])(r)
    g1 = AttentionMaskNorm(name="lambda_1")(g1)
    d = layers.Multiply(name="multiply_1")([d, g1])
    d = layers.AveragePooling2D(2, name="average_pooling2d_1")(d)
    d = layers.Dropout(dropout, name="dropout_1")(d)
    r = layers.AveragePooling2D(2, name="average_pooling2d_2")(r)
    r = layers.Dropout(dropout, name="dropout_2")(r)

    # Stage 2: same pattern with 64 filters and the second gate.
    d = conv(64, "same", "conv2d_6")(d)
    d = conv(64, "valid", "conv2d_7")(d)
    r = conv(64, "same", "conv2d_8")(r)
    r = conv(64, "valid", "conv2d_9")(r)
    g2 = gate(MASK_LAYERS[1])(r)
    g2 = AttentionMaskNorm(name="lambda_2")(g2)
    d = layers.Multiply(name="multiply_2")([d, g2])
    d = layers.AveragePooling2D(2, name="average_pooling2d_3")(d)
    d = layers.Dropout(dropout, name="dropout_3")(d)

    d = layers.Flatten(name="flatten_1")(d)
    d = layers.Dense(128 if task == "hr" else 32, activation="tanh", name="dense_1")(d)
    d = layers.Dropout(dense_dropout, name="dropout_4")(d)
    out = layers.Dense(1, name="dense_2")(d)
    return keras.Model([motion, appearance], out, name=f"{task}_can")


def can_with_masks(model: keras.Model) -> keras.Model:
    """Wrap a CAN so it also returns its two attention masks.

    Returns
    -------
    keras.Model
        Same inputs; outputs ``[signal (1,), mask1 (34, 34, 1), mask2 (15, 15, 1)]``
        (sizes for 36×36 input). The masks are the gate sigmoids *before*
        :class:`AttentionMaskNorm`, like the reference's ``attention_mask.mat``.
    """
    try:
        gates = [model.get_layer(name).output for name in MASK_LAYERS]
    except ValueError as exc:
        raise ValueError(f"{model.name}: not a CAN (no layers {MASK_LAYERS})") from exc
    return keras.Model(model.inputs, [model.outputs[0], *gates], name=f"{model.name}_masks")


# One compiled inference function per CAN, reused across calls.
_PREDICT_FNS: weakref.WeakKeyDictionary[keras.Model, Any] = weakref.WeakKeyDictionary()


def can_predict_function(model: keras.Model) -> Any:
    """A compiled ``(motion, appearance) -> [signal, mask1, mask2]`` function of a CAN,
    made once per model (see :func:`can_with_masks`); run it through
    :func:`distraction.engines.predict_can`, which checks the inputs and batches them."""
    fn = _PREDICT_FNS.get(model)
    if fn is None:
        wrapped = can_with_masks(model)
        size = model.inputs[0].shape[1]
        spec = tf.TensorSpec((None, size, size, 3), tf.float32)

        @tf.function(input_signature=[spec, spec], jit_compile=False)
        def fn(motion: tf.Tensor, appearance: tf.Tensor) -> list[tf.Tensor]:
            return wrapped([motion, appearance], training=False)

        _PREDICT_FNS[model] = fn
    return fn


def build_lstm(
    task: Task,
    *,
    window: int,
    channels: int = 4,
    units: int = 128,
) -> keras.Model:
    """Build the LSTM encoder–decoder denoiser.

    ``LSTM(units) → RepeatVector(window) → LSTM(units, sequences) →
    TimeDistributed(Dense(1, tanh))``; for ``"br"`` the second LSTM is
    ``Bidirectional`` (concatenated). Layer names follow hr_lstm.h5 / br_lstm.h5.

    Returns
    -------
    keras.Model
        Input ``(window, channels)``, output ``(window, 1)`` in [-1, 1].
    """
    _check_task(task)
    if window < 1 or channels < 1 or units < 1:
        raise ValueError(
            f"build_lstm: window, channels and units must be positive, "
            f"got {window}, {channels}, {units}"
        )
    layers = keras.layers
    enc_name, rep_name, dec_name, out_name = _LSTM_NAMES[task]
    inputs = keras.Input((window, channels), name="input")
    x = layers.LSTM(units, name=enc_name)(inputs)
    x = layers.RepeatVector(window, name=rep_name)(x)
    if task == "br":
        x = layers.Bidirectional(
            layers.LSTM(units, return_sequences=True), merge_mode="concat", name=dec_name
        )(x)
    else:
        x = layers.LSTM(units, return_sequences=True, name=dec_name)(x)
    outputs = layers.TimeDistributed(layers.Dense(1, activation="tanh"), name=out_name)(x)
    return keras.Model(inputs, outputs, name=f"{task}_lstm")


def load_model(path: str | os.PathLike[str]) -> keras.Model:
    """Load a ``.keras`` model with ``safe_mode=True`` (no arbitrary code)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: model file not found")
    try:
        return keras.models.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # keras raises many types; report one line
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"{path}: cannot load model ({message})") from exc


def save_model(model: keras.Model, path: str | os.PathLike[str]) -> Path:
    """Save a model as ``.keras`` atomically (:func:`distraction.atomic.atomic_path`).

    Returns the destination path.
    """
    path = Path(path)
    if path.suffix != ".keras":
        raise InputError(f"{path}: model files must end in .keras")
    if getattr(model, "optimizer", None) is not None:
        # Ship weights only: the optimizer state would triple the file for no use at inference.
        trained = model
        model = keras.Model.from_config(trained.get_config())
        model.set_weights(trained.get_weights())
    with atomic_path(path) as tmp:
        model.save(tmp)
    return path


def configure_devices(seed: int | None = 0, *, deterministic: bool = True) -> str:
    """Pick the device and make TensorFlow deterministic.

    Uses the GPU (with memory growth) when TensorFlow sees one, otherwise the CPU.
    With ``seed`` set, seeds Python, NumPy and TensorFlow; with ``deterministic``,
    enables op determinism (same seed, same data → same weights).

    Returns
    -------
    str
        ``"GPU"`` or ``"CPU"``.
    """
    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:
            pass  # already initialised: growth can no longer be changed
    if seed is not None:
        keras.utils.set_random_seed(int(seed))
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    return "GPU" if gpus else "CPU"
