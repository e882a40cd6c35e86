"""Where each dataset format keeps its recordings: the recording ids of a dataset folder.

The workflow lists every dataset's recordings while Snakemake parses it, before any job
runs and possibly outside the project's environment (a rule's ``conda:`` environment
installs the package, Snakemake need not). So this module imports the standard library
only, and ``workflow/rules/common.smk`` imports it by putting ``src/`` on ``sys.path``.
The ids are those of :mod:`distraction.datasets` (``tests/test_layouts.py`` checks each
format against its loader); the loaders read the recordings themselves.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

__all__ = ["LAYOUTS", "VIDEO_EXTENSIONS", "LayoutError", "recording_ids", "unusable_entries"]

#: Video files of the ``generic`` format.
VIDEO_EXTENSIONS: tuple[str, ...] = (".avi", ".mp4", ".mkv", ".mov")
UBFC_VIDEO = "vid.avi"
PURE_ID = re.compile(r"^(\d+)-(\d+)$")
PURE_FRAME = re.compile(r"^Image(\d+)\.png$", re.IGNORECASE)
#: MMSE-HR's frame folders (the physiology folders beside them are the loader's business).
MMSE_FRAME_FOLDERS: tuple[str, ...] = ("first 10 subjects 2D", "T10_T11_30Subjects")
JPG: tuple[str, ...] = (".jpg", ".jpeg")


class LayoutError(ValueError):
    """A dataset folder that cannot be listed; the message is ``"<path>: <problem>"``."""


def _children(folder: Path) -> list[Path]:
    try:
        return [p for p in folder.iterdir() if not p.name.startswith(".")]
    except OSError as exc:
        raise LayoutError(f"{folder}: cannot list folder ({exc.strerror or exc})") from exc


def _natural_key(text: str) -> tuple:
    """Sort key that orders ``subject2`` before ``subject10`` (as the loaders sort)."""
    parts = re.split(r"(\d+)", text)
    return (tuple(int(p) if i % 2 else p.casefold() for i, p in enumerate(parts)), text)


def _generic(root: Path) -> list[str]:
    return [
        f"{subject.name}/{video.stem}"
        for subject in _children(root)
        if subject.is_dir()
        for video in _children(subject)
        if video.suffix.lower() in VIDEO_EXTENSIONS and video.is_file()
    ]


def _ubfc(root: Path) -> list[str]:
    return [s.name for s in _children(root) if s.is_dir() and (s / UBFC_VIDEO).is_file()]


def _has_pure_frames(folder: Path) -> bool:
    return folder.is_dir() and any(
        PURE_FRAME.match(p.name) and p.is_file() for p in _children(folder)
    )


def _pure(root: Path) -> list[str]:
    return [
        folder.name
        for folder in _children(root)
        if PURE_ID.match(folder.name)
        and folder.is_dir()
        and (_has_pure_frames(folder / folder.name) or _has_pure_frames(folder))
    ]


def _mmse(root: Path) -> list[str]:
    groups = [root / name for name in MMSE_FRAME_FOLDERS if (root / name).is_dir()] or [root]
    return [
        f"{subject.name}/{task.name}"
        for group in groups
        for subject in _children(group)
        if subject.is_dir()
        for task in _children(subject)
        if task.is_dir() and any(p.suffix.lower() in JPG and p.is_file() for p in _children(task))
    ]


def _folder(root: Path) -> list[str]:
    """Every video under the root at any depth (hidden files and folders skipped)."""
    ids = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            video = Path(folder) / name
            if not name.startswith(".") and video.suffix.lower() in VIDEO_EXTENSIONS:
                ids.append(video.relative_to(root).with_suffix("").as_posix())
    return ids


#: Recording ids of a dataset root, per format.
LAYOUTS: dict[str, Callable[[Path], list[str]]] = {
    "generic": _generic,
    "folder": _folder,
    "ubfc": _ubfc,
    "pure": _pure,
    "mmse": _mmse,
}


def recording_ids(fmt: str, root: Path | str) -> list[str]:
    """The recording ids of a dataset, sorted naturally, as its loader lists them.

    Raises
    ------
    KeyError
        A format this module does not know (the caller may ask its loader instead).
    LayoutError
        Missing root, no recordings, or a duplicate id.
    """
    scan = LAYOUTS[str(fmt).strip().lower()]
    root = Path(root)
    if not root.is_dir():
        problem = "is not a folder" if root.exists() else "not found"
        raise LayoutError(f"{root}: dataset root {problem}")
    ids = scan(root)
    if not ids:
        raise LayoutError(f"{root}: no recordings found for dataset format {fmt!r}")
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise LayoutError(f"{root}: duplicate recording id {duplicates[0]!r}")
    return sorted(ids, key=_natural_key)


def unusable_entries(fmt: str, root: Path | str) -> list[tuple[str, Path, str]]:
    """The entries of a dataset folder that look like recordings but cannot be read, which
    the listing leaves out: a dangling symbolic link where a video would be (``generic``;
    the ``folder`` layout lists one, and its preparation fails naming it), a symbolic link
    to a folder (``folder``, whose walk does not follow links, so that a link cannot make it
    loop or leave the root). Other formats: none.

    Returns
    -------
    list of (recording id, path, problem)
        The id the entry would have, the entry, and why it is left out.
    """
    fmt, root = str(fmt).strip().lower(), Path(root)
    found: list[tuple[str, Path, str]] = []
    if not root.is_dir():
        return found

    def dangling(path: Path) -> bool:
        return path.is_symlink() and not path.exists()

    def link_problem(path: Path) -> str:
        try:
            return f"symbolic link to {os.readlink(path)}, which does not exist"
        except OSError:
            return "symbolic link to nothing"

    if fmt == "generic":
        for subject in _children(root):
            if not subject.is_dir():
                continue
            for video in _children(subject):
                if video.suffix.lower() in VIDEO_EXTENSIONS and dangling(video):
                    found.append((f"{subject.name}/{video.stem}", video, link_problem(video)))
    elif fmt == "folder":
        for folder, dirs, _files in os.walk(root):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            here = Path(folder)
            for name in sorted(dirs):
                if (here / name).is_symlink():
                    found.append(
                        (
                            (here / name).relative_to(root).as_posix(),
                            here / name,
                            "symbolic link to a folder, which the folder layout does not "
                            "follow: link the videos, or move the folder under the root",
                        )
                    )
    return found
