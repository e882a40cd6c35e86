"""Shared fixtures: paths to the repository and to the authors' reference material."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO.parent / "shared" / "reference"


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """The authors' published sample and weights; tests skip cleanly when absent."""
    if not (REFERENCE / "README.md").exists():
        pytest.skip(f"reference material not found at {REFERENCE}")
    return REFERENCE


def prepared_clip(
    root: Path, subject: str, condition: str, *, dataset: str = "clips", **clip: Any
) -> Path:
    """Render one synthetic clip as a generic dataset under ``root`` and prepare it.

    ``clip`` goes to :func:`distraction.synth.write_clip` (subject_index, duration_s, width,
    height, seed, ...), except ``chunk_frames`` for the preparation. Returns the store
    ``root / "store.zarr"``.
    """
    from distraction.datasets import get_loader
    from distraction.prepare import prepare_recording
    from distraction.synth import write_clip

    chunk_frames = clip.pop("chunk_frames", 256)
    (root / subject).mkdir(parents=True, exist_ok=True)
    base = root / subject / condition
    write_clip(base.with_suffix(".avi"), base.with_suffix(".csv"), condition=condition, **clip)
    loader = get_loader("generic", dataset, root)
    (recording,) = loader.list_recordings()
    store = root / "store.zarr"
    prepare_recording(loader, recording, store, crop="centre", chunk_frames=chunk_frames)
    return store


@pytest.fixture(scope="session")
def prepared_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A prepared 12-s synthetic flicker clip (96x72) for the network-stage tests, which
    copy it before writing to it."""
    return prepared_clip(
        tmp_path_factory.mktemp("clips"),
        "s01",
        "flicker",
        subject_index=7,
        duration_s=12.0,
        width=96,
        height=72,
        seed=3,
    )
