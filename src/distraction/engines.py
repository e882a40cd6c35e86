"""The two runtimes of the networks behind one interface.

``keras`` runs a ``.keras`` model on TensorFlow (the GPU when present); ``litert`` runs the
same network exported once to LiteRT (:mod:`distraction.litert`) on CPU, without starting
TensorFlow. Both are wrapped as a :class:`Network`, and the input checks and batching of
:func:`predict_can` and :func:`predict_lstm` are written once for both. The engine is
chosen once per job (:func:`load_network`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from distraction.files import file_sha256
from distraction.litert import LSTM_BATCH, THREADS, LiteRTModel

__all__ = [
    "KerasNetwork",
    "LiteRTNetwork",
    "Network",
    "as_network",
    "load_network",
    "predict_can",
    "predict_lstm",
    "select_engine",
]

EngineName = Literal["keras", "litert"]


class Network(Protocol):
    """A loaded CAN or LSTM on one engine."""

    engine: EngineName
    provenance: dict[str, Any]

    def input_shapes(self) -> list[tuple[int, ...]]:
        """Each input's shape without the batch axis."""
        ...

    def mask_sizes(self) -> tuple[int, int]:
        """Sides of the CAN's gate-1 and gate-2 masks."""
        ...

    def can_batch(
        self, motion: np.ndarray, appearance: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One CAN call: signal ``(B,)``, gate-1 ``(B, S1, S1)``, gate-2 ``(B, S2, S2)``."""
        ...

    def lstm_batch(self, windows: np.ndarray) -> np.ndarray:
        """One LSTM call on ``(B, window, channels)`` float32: ``(B, window)``."""
        ...


@dataclass
class KerasNetwork:
    """A Keras model (TensorFlow)."""

    model: Any
    provenance: dict[str, Any] = field(default_factory=dict)
    engine: EngineName = "keras"

    def input_shapes(self) -> list[tuple[int, ...]]:
        return [tuple(int(v) for v in x.shape[1:]) for x in self.model.inputs]

    def mask_sizes(self) -> tuple[int, int]:
        side = self.model.inputs[0].shape[1] - 2
        return side, side // 2 - 2

    def can_batch(
        self, motion: np.ndarray, appearance: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        from distraction.models import can_predict_function, tf

        fn = can_predict_function(self.model)
        y, g1, g2 = fn(tf.convert_to_tensor(motion), tf.convert_to_tensor(appearance))
        return y.numpy()[:, 0], g1.numpy()[..., 0], g2.numpy()[..., 0]

    def lstm_batch(self, windows: np.ndarray) -> np.ndarray:
        return np.asarray(self.model(windows, training=False))[..., 0]


@dataclass
class LiteRTNetwork:
    """A network exported to LiteRT (CPU)."""

    model: LiteRTModel
    provenance: dict[str, Any] = field(default_factory=dict)
    engine: EngineName = "litert"

    def input_shapes(self) -> list[tuple[int, ...]]:
        return [tuple(shape[1:]) for shape in self.model.input_shapes]

    def mask_sizes(self) -> tuple[int, int]:
        return self.model.output_shapes[1][1], self.model.output_shapes[2][1]

    def can_batch(
        self, motion: np.ndarray, appearance: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        y, g1, g2 = self.model.run(motion, appearance)
        return y[:, 0].copy(), g1[..., 0].copy(), g2[..., 0].copy()

    def lstm_batch(self, windows: np.ndarray) -> np.ndarray:
        # The exported LSTM takes LSTM_BATCH windows per call (a static batch).
        out = np.empty(windows.shape[:2], dtype=np.float32)
        for i in range(0, len(windows), LSTM_BATCH):
            out[i : i + LSTM_BATCH] = self.model.run(windows[i : i + LSTM_BATCH])[0][..., 0]
        return out


def as_network(model: Any) -> Network:
    """Wrap a Keras model or a loaded LiteRT model (a :class:`Network` is returned as is)."""
    if isinstance(model, KerasNetwork | LiteRTNetwork):
        return model
    if isinstance(model, LiteRTModel):
        return LiteRTNetwork(model)
    return KerasNetwork(model)


def load_network(
    model_path: Path, litert_path: Path | None, kind: str, *, threads: int = THREADS
) -> Network:
    """Load a network on the engine chosen for the job.

    Parameters
    ----------
    model_path
        The ``.keras`` file (the model of record, hashed into the provenance).
    litert_path
        Its LiteRT export, to run on LiteRT; ``None`` runs the ``.keras`` file on TensorFlow.
    kind
        ``"can"`` or ``"lstm"``: the export's sidecar must say the same, and name this model.
    threads
        Threads of the LiteRT interpreter (TensorFlow keeps its own pools).

    Returns
    -------
    Network
        With ``provenance``: the model file and its SHA-256, the engine, and for LiteRT the
        exported file and its SHA-256.
    """
    model_path = Path(model_path)
    provenance: dict[str, Any] = {"model": str(model_path), "model_sha256": file_sha256(model_path)}
    if litert_path is None:
        from distraction.models import load_model

        return KerasNetwork(load_model(model_path), {**provenance, "engine": "keras"})
    from distraction.litert import load_litert, read_sidecar

    litert_path = Path(litert_path)
    read_sidecar(
        litert_path, kind=kind, source=model_path, source_sha256=provenance["model_sha256"]
    )
    provenance |= {
        "engine": "litert",
        "litert_model": str(litert_path),
        "litert_model_sha256": file_sha256(litert_path),
    }
    return LiteRTNetwork(load_litert(litert_path, threads=threads), provenance)


def _check_batch_size(batch_size: int) -> None:
    if batch_size < 1:
        raise ValueError(f"batch_size: must be positive, got {batch_size}")


def predict_can(
    network: Any, motion: np.ndarray, appearance: np.ndarray, batch_size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run a CAN over a clip and collect its signal and attention masks.

    Parameters
    ----------
    network
        A :class:`Network`, a Keras CAN or a loaded LiteRT CAN (see :func:`as_network`).
    motion, appearance
        ``(T, S, S, 3)`` network inputs (any float dtype; cast to float32).
    batch_size
        Frames per forward pass.

    Returns
    -------
    signal : np.ndarray
        ``(T,)`` float64 CAN output (the waveform derivative).
    mask1, mask2 : np.ndarray
        ``(T, 34, 34)`` and ``(T, 15, 15)`` float32 gate outputs before normalisation
        (sizes for 36×36 input).
    """
    net = as_network(network)
    motion = np.asarray(motion, dtype=np.float32)
    appearance = np.asarray(appearance, dtype=np.float32)
    expected = net.input_shapes()[0]
    for label, arr in (("motion", motion), ("appearance", appearance)):
        if arr.ndim != 4 or arr.shape[1:] != expected:
            raise ValueError(
                f"{label}: expected shape (T, {expected[0]}, {expected[1]}, 3), got {arr.shape}"
            )
    if motion.shape[0] != appearance.shape[0]:
        raise ValueError(
            f"appearance: {appearance.shape[0]} frames but motion has {motion.shape[0]}"
        )
    _check_batch_size(batch_size)
    signals, masks1, masks2 = [], [], []
    for start in range(0, motion.shape[0], batch_size):
        stop = start + batch_size
        y, g1, g2 = net.can_batch(motion[start:stop], appearance[start:stop])
        signals.append(y)
        masks1.append(g1)
        masks2.append(g2)
    if not signals:
        s1, s2 = net.mask_sizes()
        return np.zeros(0), np.zeros((0, s1, s1), np.float32), np.zeros((0, s2, s2), np.float32)
    return (
        np.concatenate(signals).astype(np.float64),
        np.concatenate(masks1).astype(np.float32),
        np.concatenate(masks2).astype(np.float32),
    )


def predict_lstm(network: Any, windows: np.ndarray, batch_size: int) -> np.ndarray:
    """Run a denoiser over ``(N, window, channels)`` windows; returns ``(N, window)`` float32."""
    net = as_network(network)
    windows = np.asarray(windows, dtype=np.float32)
    expected = net.input_shapes()[0]
    if windows.ndim != 3 or windows.shape[1:] != expected:
        raise ValueError(
            f"windows: expected shape (N, {expected[0]}, {expected[1]}), got {windows.shape}"
        )
    _check_batch_size(batch_size)
    if len(windows) == 0:
        return np.zeros(windows.shape[:2], np.float32)
    return np.concatenate(
        [net.lstm_batch(windows[i : i + batch_size]) for i in range(0, len(windows), batch_size)]
    )


def select_engine(engine: str, *exported: Path | None) -> tuple[bool, str]:
    """Choose the engine of a job once: whether it runs on LiteRT, and the device, for its log.

    ``auto`` is LiteRT when every network's export is given, unless a GPU is visible and
    TensorFlow installed
    (:func:`distraction.litert.resolve_engine`). TensorFlow is configured, and so imported,
    only for the keras engine.
    """
    from distraction.litert import resolve_engine

    chosen = resolve_engine(engine, exported=all(path is not None for path in exported))
    if chosen == "keras":
        from distraction.models import configure_devices

        return False, f"{configure_devices(seed=None, deterministic=True)} (keras)"
    return True, "CPU (litert)"
