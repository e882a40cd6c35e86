"""Import the authors' trained Keras 2 networks (HDF5) into the Keras 3 models.

The HDF5 files also store the Keras 2 model config, but the CAN's config holds
``Lambda`` layers serialised as Python 2 bytecode, so it is never deserialised: the
architecture is rebuilt by :mod:`distraction.models` and the weights are copied
layer by layer, by name, from ``model_weights/<layer>/.../<weight>:0``.

Keras 2 and Keras 3 store LSTM weights the same way (kernel, recurrent_kernel, one
bias; gates ordered i, f, c, o), which the hr_lstm probe test checks numerically.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import h5py
import numpy as np

from distraction.errors import InputError
from distraction.keras_import import keras
from distraction.models import build_can, build_lstm

__all__ = ["KINDS", "import_weights"]

Kind = Literal["hr_lstm", "br_lstm", "br_can", "hr_can"]
KINDS: tuple[str, ...] = ("hr_lstm", "br_lstm", "br_can", "hr_can")


def _decode(value: bytes | str) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _file_weights(group: h5py.Group) -> dict[tuple[str, str], np.ndarray]:
    """Datasets of one layer group keyed by (direction, weight name).

    direction is ``"forward"`` / ``"backward"`` inside a Bidirectional wrapper, else "".
    """
    found: dict[tuple[str, str], np.ndarray] = {}

    def visit(name: str, obj: object) -> None:
        if isinstance(obj, h5py.Dataset):
            parts = name.split("/")
            weight = parts[-1].split(":")[0]
            direction = ""
            for part in parts[:-1]:
                if part.startswith("forward_"):
                    direction = "forward"
                elif part.startswith("backward_"):
                    direction = "backward"
            found[(direction, weight)] = np.asarray(obj[()])

    group.visititems(visit)
    return found


def _model_variables(layer: keras.layers.Layer) -> dict[tuple[str, str], keras.Variable]:
    """Variables of one Keras 3 layer keyed like :func:`_file_weights`."""
    keyed: dict[tuple[str, str], keras.Variable] = {}
    prefix = layer.name + "/"
    for var in layer.weights:
        inner = var.path[len(prefix) :] if var.path.startswith(prefix) else var.path
        first = inner.split("/")[0]
        direction = ""
        if isinstance(layer, keras.layers.Bidirectional):
            direction = "forward" if first.startswith("forward_") else "backward"
        keyed[(direction, var.name)] = var
    return keyed


#: The window of the authors' denoisers (their input is (60, 4)).
AUTHORS_WINDOW = 60


def _build(kind: str) -> keras.Model:
    if kind == "hr_lstm":
        return build_lstm("hr", window=AUTHORS_WINDOW)
    if kind == "br_lstm":
        return build_lstm("br", window=AUTHORS_WINDOW)
    if kind == "hr_can":
        return build_can("hr")
    return build_can("br")


def _layer_groups(path: Path, root: h5py.Group, model: keras.Model, kind: str) -> dict[str, str]:
    """Map each weighted model layer to the file's layer group holding its weights.

    By name first. The LSTM denoisers are plain stacks, so when the file numbers its
    layers differently (``lstm_5`` instead of ``lstm_1``) the weighted layers are
    matched in order instead.
    """
    names = [_decode(n) for n in root.attrs.get("layer_names", list(root.keys()))]
    weighted_file = [n for n in names if n in root and len(_file_weights(root[n])) > 0]
    weighted_model = [layer.name for layer in model.layers if layer.weights]
    if all(name in weighted_file for name in weighted_model):
        return {name: name for name in weighted_model}
    if kind.endswith("_lstm") and len(weighted_file) == len(weighted_model):
        return dict(zip(weighted_model, weighted_file, strict=True))
    missing = [name for name in weighted_model if name not in weighted_file]
    raise InputError(f"{path}: missing layer(s) {', '.join(missing)} for {kind}")


def import_weights(h5_path: Path, kind: Kind) -> keras.Model:
    """Build the network for ``kind`` and load the authors' Keras 2 weights into it.

    Parameters
    ----------
    h5_path
        Keras 2 HDF5 file (``hr_lstm.h5``, ``br_lstm.h5``, ``br_can.h5``, …).
    kind
        Which network the file holds: ``"hr_lstm"``, ``"br_lstm"``, ``"br_can"`` or
        ``"hr_can"``.

    Returns
    -------
    keras.Model
        The rebuilt Keras 3 model with the file's weights.

    Raises
    ------
    InputError
        Unreadable file, missing layer or weight, or a shape mismatch.
    """
    path = Path(h5_path)
    if kind not in KINDS:
        raise InputError(f"{path}: unknown network kind {kind!r} (expected one of {KINDS})")
    if not path.is_file():
        raise InputError(f"{path}: weights file not found")
    model = _build(kind)
    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        raise InputError(f"{path}: not a readable HDF5 file ({exc})") from exc
    with handle:
        root = handle["model_weights"] if "model_weights" in handle else handle
        mapping = _layer_groups(path, root, model, kind)
        for layer in model.layers:
            if not layer.weights:
                continue
            group_name = mapping[layer.name]
            stored = _file_weights(root[group_name])
            targets = _model_variables(layer)
            for key, var in targets.items():
                label = "/".join(k for k in (group_name, *key) if k)
                if key not in stored:
                    raise InputError(f"{path}: missing weight {label}")
                value = stored[key]
                if tuple(value.shape) != tuple(var.shape):
                    raise InputError(
                        f"{path}: shape mismatch for {label}: file {tuple(value.shape)}, "
                        f"model {tuple(var.shape)}"
                    )
                var.assign(value.astype(np.float32))
            extra = sorted(set(stored) - set(targets))
            if extra:
                names = ", ".join("/".join(k for k in e if k) for e in extra)
                raise InputError(f"{path}: unexpected weight(s) in {group_name}: {names}")
    return model


def import_weights_job(h5_path: Path, kind: Kind, output: Path) -> str:
    """The ``import-weights`` job: the authors' weights into a ``.keras`` file."""
    from distraction.models import save_model

    model = import_weights(h5_path, kind)
    save_model(model, output)
    return f"import-weights {h5_path} ({kind}): {model.count_params()} parameters -> {output}"
