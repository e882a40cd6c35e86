"""What the machine offers, found without importing anything heavy (standard library only,
so that the workflow can ask while Snakemake parses it)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

__all__ = ["gpu_visible", "tensorflow_installed"]


def gpu_visible() -> bool:
    """Whether an NVIDIA GPU is visible to this process, without starting TensorFlow.

    ``CUDA_VISIBLE_DEVICES`` set to an empty string or ``-1`` hides every GPU (as it does
    for TensorFlow); otherwise a GPU is visible when the NVIDIA driver lists one.
    """
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return False
    gpus = Path("/proc/driver/nvidia/gpus")
    return gpus.is_dir() and any(gpus.iterdir())


def tensorflow_installed() -> bool:
    """Whether TensorFlow (the train or gpu extra) is installed, without importing it."""
    try:
        return importlib.util.find_spec("tensorflow") is not None
    except (ImportError, ValueError):
        return False
