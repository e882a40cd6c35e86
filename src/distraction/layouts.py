"""Where each dataset format keeps its recordings: the one listing of a dataset folder.

Every listing of recordings goes through here: the workflow's (while Snakemake parses
the Snakefile, before any job runs and possibly outside the project's environment: a
rule's ``conda:`` environment installs the package, Snakemake need not), ``distraction
run``'s, ``validate``'s and the loaders' (:mod:`distraction.datasets`, which only read the
files listed here). So this module imports the standard library only, and
``workflow/rules/common.smk`` imports it by putting ``src/`` on ``sys.path``.

The formats and their sources are described in :mod:`distraction.datasets`; in short::

    generic  <root>/<subject>/<task>.<avi|mp4|mkv|mov> [+ <task>.csv]
    folder   <root>/**/<name>.<avi|mp4|mkv|mov> at any depth [+ <name>.csv]
    ubfc     <root>/<subject>/vid.avi + ground_truth.txt
    pure     <root>/<NN-MM>/<NN-MM>/Image<ns>.png + <NN-MM>.json (or the flat layout)
    mmse     <root>/first 10 subjects 2D/<F013>/<T1>/*.jpg (+ physiology text files)

Hidden files and folders (a leading ``.``) are never recordings.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from distraction.errors import InputError

__all__ = [
    "DESCRIPTIONS",
    "FORMATS",
    "MMSE_GROUPS",
    "MMSE_PHYSIOLOGY_FILES",
    "VIDEO_EXTENSIONS",
    "LayoutError",
    "Recording",
    "Refused",
    "dataset_listing",
    "find_recording",
    "folder_recording",
    "list_recordings",
    "mmse_frame_files",
    "mmse_physiology_files",
    "natural_key",
    "no_recordings_message",
    "pure_frame_files",
    "recording_ids",
    "synth_recording_ids",
    "unusable_entries",
    "visible_children",
]

#: Video files of the ``generic`` and ``folder`` formats (compared case-insensitively).
VIDEO_EXTENSIONS: tuple[str, ...] = (".avi", ".mp4", ".mkv", ".mov")
#: The formats listed here (``synth`` datasets are written by the workflow in the generic
#: layout, and listed from their configuration).
FORMATS: tuple[str, ...] = ("generic", "folder", "ubfc", "pure", "mmse")
#: The layout each format understands, one short line each (shown when none is found).
DESCRIPTIONS: dict[str, str] = {
    "generic": "<root>/<subject>/<task>.<avi|mp4|mkv|mov> [+ <task>.csv]",
    "folder": "<root>/**/<name>.<avi|mp4|mkv|mov> at any depth [+ <name>.csv]",
    "ubfc": "<root>/<subject>/vid.avi + ground_truth.txt",
    "pure": "<root>/<NN-MM>/<NN-MM>/Image<ns>.png + <NN-MM>.json",
    "mmse": "<root>/first 10 subjects 2D/<F013>/<T1>/*.jpg (+ physiology text files)",
}
UBFC_VIDEO = "vid.avi"
UBFC_GROUND_TRUTH = "ground_truth.txt"
PURE_ID = re.compile(r"^(\d+)-(\d+)$")
PURE_FRAME = re.compile(r"^Image(\d+)\.png$", re.IGNORECASE)
#: MMSE-HR's frame folders, each with its physiology folder.
MMSE_GROUPS: tuple[tuple[str, str], ...] = (
    ("first 10 subjects 2D", "first 10 subjects Phydata released/Phydata"),
    ("T10_T11_30Subjects", "T10_T11_30PhyBPHRData"),
)
#: MMSE-HR's (BP4D+'s) physiology files by signal, matched case-insensitively.
MMSE_PHYSIOLOGY_FILES: dict[str, str] = {
    "ppg": "bp_mmhg.txt",
    "hr": "pulse rate_bpm.txt",
    "resp": "resp_volts.txt",
    "br": "respiration rate_bpm.txt",
}
JPG: tuple[str, ...] = (".jpg", ".jpeg")


class LayoutError(InputError):
    """A dataset folder that cannot be listed; the message is ``"<path>: <problem>"``."""


@dataclass(frozen=True)
class Recording:
    """One recording of a dataset.

    ``recording_id`` is a POSIX relative path (e.g. ``"s01/clean"``, ``"01-01"``,
    ``"F013/T1"``) that identifies the recording inside its dataset and is used in output paths.
    ``source`` is a video file or a folder of frames; ``ground_truth`` the file (or, for MMSE-HR,
    the folder) holding the reference signals, ``None`` when there is none.
    """

    dataset: str
    recording_id: str
    subject: str
    task: str
    source: Path
    ground_truth: Path | None


@dataclass(frozen=True)
class Refused:
    """An entry of a dataset folder that the workflow cannot carry: the recording id it
    would have, the file or folder, and why (one line)."""

    recording_id: str
    source: Path
    problem: str


def natural_key(text: str) -> tuple:
    """Sort key that orders ``subject2`` before ``subject10``."""
    parts = re.split(r"(\d+)", text)
    return (tuple(int(p) if i % 2 else p.casefold() for i, p in enumerate(parts)), text)


def visible_children(folder: Path) -> list[Path]:
    """The entries of a folder but the hidden ones (unsorted)."""
    try:
        return [p for p in folder.iterdir() if not p.name.startswith(".")]
    except OSError as exc:
        raise LayoutError(f"{folder}: cannot list folder ({exc.strerror or exc})") from exc


def no_recordings_message(root: Path | str, fmt: str) -> str:
    """``"<root>: no recordings found for dataset format '<fmt>'"``, then one line per
    format with the layout it understands (the first line alone names the problem)."""
    lines = [f"{root}: no recordings found for dataset format {fmt!r}; layouts understood:"]
    lines += [f"  {name}: {layout}" for name, layout in DESCRIPTIONS.items()]
    return "\n".join(lines)


def _optional(path: Path) -> Path | None:
    return path if path.is_file() else None


# --------------------------------------------------------------------------- per format


def _generic_recording(dataset: str, subject: str, video: Path) -> Recording:
    csv = _optional(video.with_suffix(".csv"))
    return Recording(dataset, f"{subject}/{video.stem}", subject, video.stem, video, csv)


def _generic(root: Path, dataset: str) -> list[Recording]:
    return [
        _generic_recording(dataset, subject.name, video)
        for subject in visible_children(root)
        if subject.is_dir()
        for video in visible_children(subject)
        if video.suffix.lower() in VIDEO_EXTENSIONS and video.is_file()
    ]


def folder_recording(root: Path, video: Path, dataset: str = "") -> Recording:
    """The ``folder`` format's recording of one video file under ``root``: the id is its
    relative path without extension, the subject its first folder under the root (the
    stem for a video directly in the root), the task its stem."""
    relative = video.relative_to(root)
    subject = relative.parts[0] if len(relative.parts) > 1 else video.stem
    return Recording(
        dataset,
        relative.with_suffix("").as_posix(),
        subject,
        video.stem,
        video,
        _optional(video.with_suffix(".csv")),
    )


def _folder(root: Path, dataset: str) -> list[Recording]:
    """Every video under the root at any depth (hidden files and folders skipped)."""
    recordings = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            video = Path(folder) / name
            if not name.startswith(".") and video.suffix.lower() in VIDEO_EXTENSIONS:
                recordings.append(folder_recording(root, video, dataset))
    return recordings


def _ubfc(root: Path, dataset: str) -> list[Recording]:
    return [
        Recording(
            dataset,
            subject.name,
            subject.name,
            "",
            subject / UBFC_VIDEO,
            _optional(subject / UBFC_GROUND_TRUTH),
        )
        for subject in visible_children(root)
        if subject.is_dir() and (subject / UBFC_VIDEO).is_file()
    ]


def pure_frame_files(folder: Path) -> list[tuple[int, Path]]:
    """``(timestamp_ns, file)`` for every ``Image<ns>.png`` of a folder, in time order."""
    if not folder.is_dir():
        return []
    frames = []
    for path in visible_children(folder):
        match = PURE_FRAME.match(path.name)
        if match and path.is_file():
            frames.append((int(match.group(1)), path))
    frames.sort(key=lambda item: (item[0], item[1].name))
    return frames


def _pure(root: Path, dataset: str) -> list[Recording]:
    recordings = []
    for folder in visible_children(root):
        match = PURE_ID.match(folder.name)
        if not match or not folder.is_dir():
            continue
        rid = folder.name
        nested = folder / rid
        if pure_frame_files(nested):
            source, truth = nested, folder / f"{rid}.json"
        elif pure_frame_files(folder):
            source, truth = folder, root / f"{rid}.json"
        else:
            continue  # e.g. 06-02, empty in the public release
        recordings.append(
            Recording(dataset, rid, match.group(1), match.group(2), source, _optional(truth))
        )
    return recordings


def mmse_physiology_files(folder: Path) -> dict[str, Path]:
    """Known physiology files of a folder, by signal name (case-insensitive match)."""
    if not folder.is_dir():
        return {}
    by_name = {p.name.lower(): p for p in visible_children(folder) if p.is_file()}
    return {key: by_name[name] for key, name in MMSE_PHYSIOLOGY_FILES.items() if name in by_name}


def mmse_frame_files(folder: Path) -> list[Path]:
    """The JPG frames of an MMSE-HR recording folder, in natural order of their names."""
    frames = [p for p in visible_children(folder) if p.suffix.lower() in JPG and p.is_file()]
    return sorted(frames, key=lambda p: natural_key(p.name))


def _mmse_physiology(
    root: Path, paired: Path | None, subject: str, task: str, frames: Path
) -> Path | None:
    """The physiology folder of a recording: the paired physiology folder's, BP4D+'s
    ``Physiology/<subject>/<task>`` or the frame folder itself, the first holding any."""
    candidates = [root / "Physiology" / subject / task, frames]
    if paired is not None:
        candidates.insert(0, paired / subject / task)
    return next((folder for folder in candidates if mmse_physiology_files(folder)), None)


def _mmse(root: Path, dataset: str) -> list[Recording]:
    groups: list[tuple[Path, Path | None]] = [
        (root / frames, root / physiology)
        for frames, physiology in MMSE_GROUPS
        if (root / frames).is_dir()
    ] or [(root, None)]
    recordings = []
    for frames_root, physiology_root in groups:
        for subject in visible_children(frames_root):
            if not subject.is_dir():
                continue
            for task in visible_children(subject):
                if not task.is_dir() or not mmse_frame_files(task):
                    continue
                truth = _mmse_physiology(root, physiology_root, subject.name, task.name, task)
                recordings.append(
                    Recording(
                        dataset, f"{subject.name}/{task.name}", subject.name, task.name, task, truth
                    )
                )
    return recordings


_LISTINGS: dict[str, Callable[[Path, str], list[Recording]]] = {
    "generic": _generic,
    "folder": _folder,
    "ubfc": _ubfc,
    "pure": _pure,
    "mmse": _mmse,
}


# --------------------------------------------------------------------------- listing


def _format(fmt: str) -> str:
    key = str(fmt).strip().lower()
    if key not in _LISTINGS:
        raise KeyError(fmt)
    return key


def check_root(root: Path) -> None:
    """Refuse a dataset root that is missing or not a folder (:class:`LayoutError`)."""
    if not root.is_dir():
        problem = "is not a folder" if root.exists() else "not found"
        raise LayoutError(f"{root}: dataset root {problem}")


def list_recordings(fmt: str, root: Path | str, dataset: str = "") -> list[Recording]:
    """Every recording of a dataset folder, sorted naturally by id.

    Parameters
    ----------
    fmt
        One of :data:`FORMATS` (case-insensitive).
    root
        The dataset's root folder.
    dataset
        The configured dataset name, copied into every :class:`Recording`.

    Raises
    ------
    KeyError
        A format this module does not know.
    LayoutError
        Missing root, an unreadable folder, no recordings (the message lists the layouts
        understood), or a duplicate id.
    """
    key = _format(fmt)
    root = Path(root)
    check_root(root)
    recordings = _LISTINGS[key](root, dataset)
    if not recordings:
        raise LayoutError(no_recordings_message(root, key))
    seen: dict[str, Recording] = {}
    for rec in recordings:
        if rec.recording_id in seen:
            raise LayoutError(
                f"{rec.source}: duplicate recording id {rec.recording_id!r} "
                f"(also {seen[rec.recording_id].source})"
            )
        seen[rec.recording_id] = rec
    return sorted(recordings, key=lambda r: natural_key(r.recording_id))


def recording_ids(fmt: str, root: Path | str) -> list[str]:
    """The recording ids of a dataset folder, sorted naturally (:func:`list_recordings`)."""
    return [rec.recording_id for rec in list_recordings(fmt, root)]


def find_recording(fmt: str, root: Path | str, recording_id: str, dataset: str = "") -> Recording:
    """One recording by id. The ``generic`` and ``folder`` formats find it directly (a
    per-video job never scans the dataset); the others list the root.

    Raises
    ------
    LayoutError
        No such recording (or the listing's own errors).
    """
    key = _format(fmt)
    root = Path(root)
    if recording_id and ".." not in Path(recording_id).parts:
        base = root / recording_id
        if key == "generic":
            subject, _, task = recording_id.partition("/")
            if subject and task and "/" not in task and base.parent.is_dir():
                found = [base.with_name(task + e) for e in VIDEO_EXTENSIONS]
                found = [video for video in found if video.is_file()]
                if len(found) == 1:
                    return _generic_recording(dataset, subject, found[0])
        elif key == "folder":
            found = [base.with_name(base.name + e) for e in VIDEO_EXTENSIONS]
            found = [video for video in found if video.is_file()]
            if len(found) == 1:
                return folder_recording(root, found[0], dataset)
    for rec in list_recordings(key, root, dataset):
        if rec.recording_id == recording_id:
            return rec
    raise LayoutError(f"{root}: no recording {recording_id!r} in this {key} dataset")


def synth_recording_ids(synth: Mapping[str, Any]) -> list[str]:
    """The ids of a ``synth`` dataset (``s<subject>/<condition>``), from its settings: the
    workflow writes its videos, so there is no folder to list before it runs."""
    first = int(synth["first_subject"])
    subjects = range(first, first + int(synth["subjects"]))
    return [
        f"s{subject:02d}/{condition}" for subject in subjects for condition in synth["conditions"]
    ]


def unusable_entries(fmt: str, root: Path | str) -> list[Refused]:
    """The entries of a dataset folder that look like recordings but cannot be read, which
    the listing leaves out: a dangling symbolic link where a video would be (``generic``;
    the ``folder`` layout lists one, and its preparation fails naming it), a symbolic link
    to a folder (``folder``, whose walk does not follow links, so that a link cannot make it
    loop or leave the root). Other formats: none.

    Returns
    -------
    list of Refused
        The id each entry would have, the entry, and why it is left out.
    """
    key, root = str(fmt).strip().lower(), Path(root)
    found: list[Refused] = []
    if not root.is_dir():
        return found

    def dangling(path: Path) -> bool:
        return path.is_symlink() and not path.exists()

    def link_problem(path: Path) -> str:
        try:
            return f"symbolic link to {os.readlink(path)}, which does not exist"
        except OSError:
            return "symbolic link to nothing"

    if key == "generic":
        for subject in visible_children(root):
            if not subject.is_dir():
                continue
            for video in visible_children(subject):
                if video.suffix.lower() in VIDEO_EXTENSIONS and dangling(video):
                    found.append(
                        Refused(f"{subject.name}/{video.stem}", video, link_problem(video))
                    )
    elif key == "folder":
        for folder, dirs, _files in os.walk(root):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            here = Path(folder)
            for name in sorted(dirs):
                if (here / name).is_symlink():
                    found.append(
                        Refused(
                            (here / name).relative_to(root).as_posix(),
                            here / name,
                            "symbolic link to a folder, which the folder layout does not "
                            "follow: link the videos, or move the folder under the root",
                        )
                    )
    return found


def dataset_listing(name: str, spec: Mapping[str, Any]) -> tuple[list[str], list[Refused]]:
    """The recordings of a configured dataset (``datasets.<name>`` of the config) the
    workflow can carry, and the entries it refuses: those the listing leaves out
    (:func:`unusable_entries`) and those whose names the workflow cannot carry
    (:func:`distraction.config_checks.recording_name_problem`). The workflow records each
    refused entry as a failed video, so that the run goes on and names it.

    Returns
    -------
    ids : list of str
        The recording ids carried, sorted naturally.
    refused : list of Refused
        The entries refused, with their problem.

    Raises
    ------
    InputError
        The listing's errors (:class:`LayoutError`).
    """
    if spec["format"] == "synth":
        return synth_recording_ids(spec["synth"]), []
    from distraction.config_checks import recording_name_problem

    refused = unusable_entries(spec["format"], spec["root"])
    ids = []
    for rec in list_recordings(spec["format"], spec["root"], name):
        if problem := recording_name_problem(rec.recording_id):
            refused.append(Refused(rec.recording_id, rec.source, problem))
        else:
            ids.append(rec.recording_id)
    return ids, refused
