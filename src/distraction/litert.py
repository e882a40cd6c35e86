"""Run the networks with LiteRT (TensorFlow Lite) instead of TensorFlow, on CPU.

A per-video inference job that imports TensorFlow spends most of its wall time starting it
(3-4 s on a 2-core machine, against about 1 s of CAN work for a 1-minute video). LiteRT's
interpreter starts in 0.1 s, runs the same float32 graph with XNNPACK, and matches Keras
to about 1e-6 (``tests/test_litert.py``).

The ``.keras`` file stays the model: :func:`export_litert` converts it (with TensorFlow,
once per model) into a ``.tflite`` flatbuffer plus a JSON sidecar that records the source
file's SHA-256, so a run can check that the two belong together. A ``.tflite`` holds only
builtin operators and weights, no code; only files this module exported are loaded.

Engines: ``keras`` (TensorFlow; the GPU when present), ``litert`` (CPU), ``auto`` (LiteRT
unless a GPU is visible and TensorFlow installed: :func:`resolve_engine`).
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from distraction.atomic import write_bytes, write_text
from distraction.errors import InputError
from distraction.files import file_sha256
from distraction.hardware import gpu_visible, tensorflow_installed

__all__ = [
    "ENGINES",
    "LiteRTModel",
    "export_litert",
    "gpu_visible",
    "load_litert",
    "resolve_engine",
    "sidecar_path",
    "tensorflow_installed",
]

Engine = Literal["auto", "keras", "litert"]
ENGINES: tuple[str, ...] = ("auto", "keras", "litert")
#: The LSTM is exported for one window per call: LiteRT's builtin LSTM kernels need a
#: static batch, and one window takes about 1.5 ms.
LSTM_BATCH = 1
#: Threads of an interpreter unless a job says otherwise (a lone video's two cores).
THREADS = 2


def sidecar_path(path: Path) -> Path:
    """The JSON file beside an exported model: ``model.tflite`` → ``model.tflite.json``."""
    return path.with_name(path.name + ".json")


def export_litert(model_path: Path, output: Path) -> dict[str, Any]:
    """Convert a ``.keras`` CAN or LSTM into a LiteRT flatbuffer and its JSON sidecar.

    A CAN is exported with its gate outputs (signal, gate-1 and gate-2 masks, as
    :func:`distraction.engines.predict_can` returns them) and any batch size; an LSTM with
    a batch of one window. Both files are written to temporary names, then renamed; the
    conversion is deterministic (same model, same bytes).

    Returns
    -------
    dict
        The sidecar: ``kind`` (``"can"`` or ``"lstm"``), ``source``, ``source_sha256``,
        ``inputs`` and ``outputs`` (names and shapes, batch as -1 when free).
    """
    from distraction.keras_import import keras, tf
    from distraction.models import MASK_LAYERS, can_with_masks, load_model

    model_path, output = Path(model_path), Path(output)
    if output.suffix != ".tflite":
        raise InputError(f"{output}: exported models must end in .tflite")
    model = load_model(model_path)
    names = {layer.name for layer in model.layers}
    if set(MASK_LAYERS) <= names:
        kind, net = "can", can_with_masks(model)
        size = model.inputs[0].shape[1]
        spec = tf.TensorSpec((None, size, size, 3), tf.float32)
        signature: list[Any] = [[spec, spec]]
    elif len(model.inputs) == 1 and len(model.inputs[0].shape) == 3:
        kind, net = "lstm", model
        signature = [tf.TensorSpec((LSTM_BATCH, *model.inputs[0].shape[1:]), tf.float32)]
    else:
        raise InputError(f"{model_path}: neither a CAN nor an LSTM denoiser")
    with tempfile.TemporaryDirectory() as scratch:
        flat = Path(scratch) / "model.tflite"
        try:
            net.export(str(flat), format="litert", input_signature=signature, verbose=False)
        except Exception as exc:  # the converter raises many types; report one line
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise InputError(f"{model_path}: LiteRT conversion failed ({message})") from exc
        data = flat.read_bytes()
    runtime = load_litert(data, name=str(output))
    sidecar = {
        "kind": kind,
        "source": model_path.name,
        "source_sha256": file_sha256(model_path),
        "keras_version": keras.__version__,
        "tensorflow_version": tf.__version__,
        "inputs": runtime.input_shapes,
        "outputs": runtime.output_shapes,
    }
    write_bytes(output, data)
    write_text(sidecar_path(output), json.dumps(sidecar, indent=2) + "\n")
    return sidecar


@dataclass
class LiteRTModel:
    """A loaded LiteRT model: one interpreter, inputs and outputs in signature order."""

    name: str
    interpreter: Any
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    #: Input shapes the interpreter's tensors are allocated for.
    shapes: list[tuple[int, ...]] = field(default_factory=list)

    @property
    def input_shapes(self) -> list[list[int]]:
        return [[int(v) for v in d["shape_signature"]] for d in self.inputs]

    @property
    def output_shapes(self) -> list[list[int]]:
        return [[int(v) for v in d["shape_signature"]] for d in self.outputs]

    def run(self, *arrays: np.ndarray) -> list[np.ndarray]:
        """One call on float32 inputs (in signature order); outputs in signature order."""
        it = self.interpreter
        shapes = [tuple(array.shape) for array in arrays]
        if shapes != self.shapes:
            # Only the batch may change (strict): the rest of each shape is the network's.
            try:
                for detail, shape in zip(self.inputs, shapes, strict=True):
                    it.resize_tensor_input(detail["index"], list(shape), strict=True)
                it.allocate_tensors()
            except (ValueError, RuntimeError) as exc:
                raise ValueError(f"{self.name}: inputs of shapes {shapes} do not fit") from exc
            self.shapes = shapes
        for detail, array in zip(self.inputs, arrays, strict=True):
            it.set_tensor(detail["index"], np.ascontiguousarray(array, dtype=np.float32))
        it.invoke()
        return [it.get_tensor(detail["index"]) for detail in self.outputs]


def load_litert(
    source: Path | bytes, *, name: str | None = None, threads: int = THREADS
) -> LiteRTModel:
    """Open an exported ``.tflite`` (path or bytes) with LiteRT's interpreter on CPU.

    Inputs and outputs are put in the order of the exported signature (for a CAN:
    motion, appearance → signal, gate-1 mask, gate-2 mask).
    """
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise InputError("the litert engine needs the ai-edge-litert package") from exc
    label = name or (str(source) if isinstance(source, Path) else "<bytes>")
    if isinstance(source, Path) and not source.is_file():
        raise InputError(f"{source}: LiteRT model file not found")
    try:
        if isinstance(source, Path):
            interpreter = Interpreter(model_path=str(source), num_threads=threads)
        else:
            interpreter = Interpreter(model_content=source, num_threads=threads)
        signature = interpreter.get_signature_list()["serving_default"]
        # Two short-lived runners: a runner kept alive holds views into the interpreter's
        # tensors, and allocate_tensors() then refuses to run.
        runner_inputs = interpreter.get_signature_runner("serving_default").get_input_details()
        runner_outputs = interpreter.get_signature_runner("serving_default").get_output_details()
        interpreter.allocate_tensors()
    except Exception as exc:  # the interpreter raises ValueError/RuntimeError/KeyError
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(
            f"{label}: not a LiteRT model exported by distraction ({message})"
        ) from exc
    inputs = [runner_inputs[key] for key in signature["inputs"]]
    outputs = [runner_outputs[key] for key in signature["outputs"]]
    shapes = [tuple(int(v) for v in detail["shape"]) for detail in inputs]
    return LiteRTModel(label, interpreter, inputs, outputs, shapes)


def read_sidecar(
    path: Path, *, kind: str, source: Path | None = None, source_sha256: str | None = None
) -> dict[str, Any]:
    """Read and check an exported model's sidecar.

    Raises :class:`InputError` when it is missing, is not of ``kind``, or (with ``source``)
    was exported from another file than ``source`` (by content, not by name; pass
    ``source_sha256`` when the caller has already hashed ``source``).
    """
    side = sidecar_path(Path(path))
    try:
        meta = json.loads(side.read_text())
    except FileNotFoundError:
        raise InputError(
            f"{side}: missing; export the model with 'distraction export-litert'"
        ) from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{side}: unreadable ({exc})") from exc
    if meta.get("kind") != kind:
        raise InputError(f"{path}: exported from a {meta.get('kind')!r} model, expected {kind!r}")
    if source is not None and meta.get("source_sha256") != (
        source_sha256 or file_sha256(Path(source))
    ):
        raise InputError(
            f"{path}: exported from another model than {source}; export it again "
            "('distraction export-litert')"
        )
    return meta


def resolve_engine(engine: str, *, exported: bool) -> Literal["keras", "litert"]:
    """The engine a network stage runs on.

    ``auto`` is LiteRT when exported models are given, unless a GPU is visible and
    TensorFlow is installed to use it; else Keras. ``litert`` without exported models is an
    error.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine: expected one of {ENGINES}, got {engine!r}")
    if engine == "litert" and not exported:
        raise InputError(
            "engine litert: no exported .tflite model given (--can-litert/--lstm-litert)"
        )
    if engine == "auto":
        on_gpu = gpu_visible() and tensorflow_installed()
        return "litert" if exported and not on_gpu else "keras"
    return engine  # type: ignore[return-value]
