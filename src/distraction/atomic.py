"""Atomic file writes: write to a temporary file beside the target, then rename it.

A killed job never leaves a partial file under its final name, and readers see either the
old file or the whole new one. Every file the package writes goes through here (Zarr
groups use the same idea for folders: :class:`distraction.store.GroupWriter`).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path", "write_bytes", "write_text"]

#: Permissions of written files: mkstemp's 0600 would hide shared results from other users.
FILE_MODE = 0o644


@contextmanager
def atomic_path(final: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary path to write ``final`` to; renamed to ``final`` when the block succeeds.

    The temporary file lies in the same folder (so the rename is atomic) and keeps the
    suffix (so writers that choose a format by extension, such as encoders and Keras, work).
    Its name is short and bounded, so any legal final name fits the file system's limit. On
    error it is removed and the final path is left as it was. The folder is created.

    Parameters
    ----------
    final
        The file to produce.

    Yields
    ------
    Path
        The temporary path (an empty file exists there).
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".tmp-", suffix=final.suffix, dir=final.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        os.chmod(tmp, FILE_MODE)
        yield tmp
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
