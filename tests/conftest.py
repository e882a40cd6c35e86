"""Shared fixtures: paths to the repository and to the authors' reference material."""

from __future__ import annotations

import os
from pathlib import Path

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
