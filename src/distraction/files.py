"""Small file helpers beside :mod:`distraction.atomic`: a file's SHA-256 and the CSV writer.

Every table the package writes goes through :func:`write_csv` (atomic, fixed float format,
so the same numbers always give byte-identical files); every provenance hash of a model
or a photo through :func:`file_sha256`. Standard library only: pandas is the caller's.
"""

from __future__ import annotations

import hashlib
import os
from typing import TYPE_CHECKING

from distraction.atomic import atomic_path

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FLOAT_FORMAT", "file_sha256", "write_csv"]

# Fixed float formatting so the same numbers always give byte-identical CSVs.
FLOAT_FORMAT = "%.6f"


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file (hex), read in 1 MiB blocks: the provenance of a model or photo."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_csv(frame: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write a table as CSV atomically (:func:`distraction.atomic.atomic_path`), without
    the index and with floats as :data:`FLOAT_FORMAT`."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, float_format=FLOAT_FORMAT)
