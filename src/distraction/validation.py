"""Checks of recordings and their ground truth, shared by ``prepare`` and ``validate``.

The pure ``*_problems`` functions return human-readable problems (empty when fine);
:func:`check_recording` runs them all on one recording of a dataset, so a whole
dataset can be checked up front and every problem reported at once.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from distraction.config_checks import printable, recording_name_problem
from distraction.datasets import DatasetLoader, GroundTruth, Recording, decoder_errors
from distraction.errors import ConfigError, InputError
from distraction.failures import BAD_INPUT

# A frame interval further than this fraction from the nominal one counts as irregular.
INTERVAL_TOLERANCE = 0.25
# Share of irregular intervals above which the frame rate is called variable.
IRREGULAR_SHARE = 0.01
# Ground truth may miss this much at either end of the video (sensor start-up).
COVERAGE_SLACK_S = 1.0
# Longer ground truth than this share of the video suggests a wrong file or rate.
EXCESS_SHARE = 0.10
# NaN share of a ground-truth series above which it is rejected rather than bridged.
MAX_NAN_SHARE = 0.05


@dataclass(frozen=True)
class Problem:
    """One problem with one file."""

    path: Path
    message: str

    def __str__(self) -> str:
        return printable(f"{self.path}: {self.message}")  # one line, whatever the name


#: The frame rate the shipped networks were trained at, and the range of rates a video may
#: have: the CAN reads frame differences, whose size and noise scale with the frame
#: interval, so a rate far from its training rate gives wrong rates without a sign; below
#: 15 fps the breathing and pulse bands come too close to the Nyquist frequency.
NETWORK_FPS = 30.0
MIN_FPS = 15.0
MAX_FPS = 60.0


def frame_rate_problems(fps: float) -> list[str]:
    """A usable nominal frame rate is known and within :data:`MIN_FPS`–:data:`MAX_FPS`
    (the method is not resampled to other rates: such a video is refused, with the fix)."""
    if not np.isfinite(fps) or fps <= 0:
        return [f"unknown frame rate ({fps})"]
    if not MIN_FPS <= fps <= MAX_FPS:
        return [
            f"frame rate {fps:g} fps is outside the {MIN_FPS:g}-{MAX_FPS:g} fps the method was "
            f"built for (its networks at {NETWORK_FPS:g} fps); convert the video to "
            f"{NETWORK_FPS:g} fps first (ffmpeg -i IN -r {NETWORK_FPS:g} OUT)"
        ]
    return []


def timestamp_problems(timestamps: npt.ArrayLike, fps: float) -> list[str]:
    """Frame times must increase, at the nominal rate (a variable rate is reported)."""
    times = np.asarray(timestamps, dtype=np.float64)
    if times.size < 2:
        return []
    intervals = np.diff(times)
    if np.any(intervals <= 0):
        return [f"frame timestamps do not increase (at frame {int(np.argmax(intervals <= 0)) + 1})"]
    nominal = 1.0 / fps
    irregular = np.abs(intervals - nominal) > INTERVAL_TOLERANCE * nominal
    if irregular.mean() > IRREGULAR_SHARE:
        return [
            f"variable frame rate: frame intervals {1000 * intervals.min():.1f}–"
            f"{1000 * intervals.max():.1f} ms around a nominal {1000 * nominal:.1f} ms "
            f"({100 * irregular.mean():.0f} % irregular)"
        ]
    return []


def length_problems(frames: int, fps: float, min_duration_s: float) -> list[str]:
    """Enough frames for at least one evaluation window."""
    if frames == 0:
        return ["video has zero frames"]
    duration = frames / fps
    if duration < min_duration_s:
        return [
            f"only {frames} frames ({duration:.1f} s), shorter than one evaluation window "
            f"({min_duration_s:g} s)"
        ]
    return []


def ground_truth_problems(ground_truth: GroundTruth, video_duration_s: float) -> list[str]:
    """Ground truth must cover the video, not run far past it, and be mostly finite."""
    problems: list[str] = []
    time = np.asarray(ground_truth.time, dtype=np.float64)
    if time.size < 2 or not np.all(np.diff(time) > 0):
        return ["ground-truth time axis is not strictly increasing"]
    start, end = float(time[0]), float(time[-1])
    if start > COVERAGE_SLACK_S or end < video_duration_s - COVERAGE_SLACK_S:
        problems.append(
            f"ground truth covers {start:.1f}–{end:.1f} s of a {video_duration_s:.1f} s video"
        )
    elif end - video_duration_s > EXCESS_SHARE * video_duration_s + COVERAGE_SLACK_S:
        problems.append(
            f"ground truth lasts {end:.1f} s but the video only {video_duration_s:.1f} s "
            "(wrong file or wrong sampling rate?)"
        )
    for name in ("ppg", "resp", "hr", "br"):
        values = getattr(ground_truth, name)
        if values is None:
            continue
        nan_share = float(np.mean(~np.isfinite(np.asarray(values, dtype=np.float64))))
        if nan_share > MAX_NAN_SHARE:
            problems.append(
                f"ground truth '{name}' is {100 * nan_share:.0f} % NaN "
                f"(at most {100 * MAX_NAN_SHARE:.0f} % is bridged by interpolation)"
            )
    return problems


def subject_problems(recording: Recording) -> list[str]:
    """A ``subject`` column in a generic ground-truth CSV must name the recording's subject."""
    path = recording.ground_truth
    if path is None or path.suffix.lower() != ".csv" or not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        fields = [f.strip().lower() for f in reader.fieldnames or []]
        if "subject" not in fields:
            return []
        key = (reader.fieldnames or [])[fields.index("subject")]
        subjects = {row[key].strip() for row in reader if row.get(key)}
    if subjects and subjects != {recording.subject}:
        return [
            f"ground truth is for subject {', '.join(sorted(subjects))}, not {recording.subject}"
        ]
    return []


def check_recording(
    loader: DatasetLoader, recording: Recording, *, min_duration_s: float = 0.0
) -> list[Problem]:
    """Every problem of one recording (decodes all its frames)."""
    source = recording.source

    def at(path: Path | None, messages: list[str]) -> list[Problem]:
        return [Problem(path or source, m) for m in messages]

    # The decoders' own stderr messages (thousands for a corrupt file) are counted and
    # summarised in one problem instead of burying the report.
    with decoder_errors() as decoder_log:
        try:
            fps = float(loader.frame_rate(recording))
        except InputError as exc:
            return [Problem(source, str(exc).removeprefix(f"{source}: "))]
        problems = at(source, frame_rate_problems(fps))
        if problems:
            return problems
        timestamps: list[float] = []
        try:
            announced = loader.frame_count(recording)
            for timestamp, _ in loader.iter_frames(recording):
                timestamps.append(timestamp)
        except InputError as exc:
            problems.append(Problem(source, str(exc).removeprefix(f"{source}: ")))
    if problems:  # unreadable: the decoders' count (final once the capture ended) and stop
        return problems + at(source, [decoder_log.summary()] if decoder_log.count else [])
    if len(timestamps) < announced:
        problems += at(
            source,
            [f"truncated or corrupted: {announced} frames announced, {len(timestamps)} decode"],
        )
    problems += at(source, timestamp_problems(timestamps, fps))
    problems += at(source, length_problems(len(timestamps), fps, min_duration_s))
    if decoder_log.count:
        problems += at(source, [decoder_log.summary()])
    try:
        ground_truth = loader.read_ground_truth(recording)
    except InputError as exc:
        problems.append(Problem(recording.ground_truth or source, str(exc).split(": ", 1)[-1]))
        return problems
    if ground_truth is not None:
        duration = len(timestamps) / fps
        problems += at(ground_truth.source, ground_truth_problems(ground_truth, duration))
        problems += at(ground_truth.source, subject_problems(recording))
    return problems


def check_config_files(config: dict, source: Path) -> None:
    """The files a config names, as ``validate --config`` checks them: every model file
    that is neither shipped (``builtin``) nor trained by the workflow exists, and
    ``results`` is a folder that can be written (or created).

    Raises
    ------
    ConfigError
        ``"<source>: <key>: <problem>"``.
    """
    results = Path(config["results"])
    trained = {
        results / "training" / task / f"{kind}.keras"
        for task in ("hr", "br")
        for kind in ("can", "lstm")
    }
    for key in ("hr_can", "hr_lstm", "br_can", "br_lstm"):
        model = config["models"][key]
        if model == "builtin" or Path(model).is_file():
            continue
        if Path(model).resolve() in {path.resolve() for path in trained}:
            continue  # the workflow trains it
        raise ConfigError(f"{source}: models/{key}: {model}: no such model file")
    existing = results
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if results.exists() and not results.is_dir():
        raise ConfigError(f"{source}: results: {results} exists and is not a folder")
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(
            f"{source}: results: {results} cannot be written ({existing} is not a writable folder)"
        )


def refused_status(
    dataset: str, recording_id: str, source: Path | str, problem: str, task: str
) -> dict[str, str]:
    """The failed status row of a recording the workflow cannot carry (its name, or a
    dangling link where its video would be), as the failures report lists it."""
    recording_id = printable(recording_id)
    subject, _, recording_task = recording_id.partition("/")
    return {
        "dataset": dataset,
        "video": recording_id,
        "subject": subject,
        "recording_task": recording_task,
        "task": task,
        "status": "failed",
        "stage": "list",
        "reason": str(Problem(Path(source), problem)),
        "kind": BAD_INPUT,
        "retry": "fix or rename the file as the reason says; the next run takes it up",
    }


def refused_job(
    dataset: str, recording_id: str, source: Path, problem: str, task: str, status: Path
) -> str:
    """The ``refused`` job: the status row of :func:`refused_status`, written as a CSV."""
    import pandas as pd

    from distraction.files import write_csv
    from distraction.report import FAILURE_COLUMNS

    row = refused_status(dataset, recording_id, source, problem, task)
    write_csv(pd.DataFrame([row], columns=FAILURE_COLUMNS), status)
    return f"refused {row['reason']}"


def validate_job(
    *,
    config_path: Path | None = None,
    fmt: str | None = None,
    root: Path | None = None,
    dataset: str = "dataset",
    min_duration_s: float | None = None,
    output: Path | None = None,
) -> str:
    """The ``validate`` job: a config (every dataset it names) or one dataset, checked whole.

    Every problem is printed to stderr, one line naming the file, and with ``output`` also
    written as a CSV (dataset, recording, path, problem). ``min_duration_s`` defaults to the
    config's shortest evaluation window (0 for a dataset given by format and root).

    Returns
    -------
    str
        The one-line summary when there is no problem.

    Raises
    ------
    InputError
        A bad config or dataset root, or a summary of the problems found.
    """
    import sys

    import pandas as pd

    from distraction.config import load_config
    from distraction.datasets import get_loader
    from distraction.files import write_csv
    from distraction.layouts import unusable_entries

    if config_path is not None:
        config = load_config(config_path)
        check_config_files(config, config_path)
        tasks = ("hr", "br") if config["task"] == "both" else (config["task"],)
        windows = [config["evaluation"][f"{task}_window_s"] for task in tasks]
        datasets = [
            (name, spec["format"], Path(spec["root"]))
            for name, spec in config["datasets"].items()
            if spec["format"] != "synth"
        ]
        for name, _, dataset_root in datasets:
            if not dataset_root.is_dir():
                raise InputError(f"{dataset_root}: dataset root of '{name}' does not exist")
        minimum = min(windows) if min_duration_s is None else min_duration_s
    elif fmt and root:
        datasets = [(dataset, fmt, Path(root))]
        minimum = min_duration_s or 0.0
    else:
        raise InputError("validate: give --config, or --format and --root")
    rows: list[dict[str, str]] = []
    checked = 0
    for name, dataset_format, dataset_root in datasets:
        # Entries the listing leaves out (dangling links, linked folders), named first.
        for entry in unusable_entries(dataset_format, dataset_root):
            checked += 1
            print(Problem(entry.source, entry.problem), file=sys.stderr)
            row = {"dataset": name, "recording": entry.recording_id, "path": str(entry.source)}
            rows.append({**row, "problem": entry.problem})
        loader = get_loader(dataset_format, name, dataset_root)
        for recording in loader.list_recordings():
            checked += 1
            problems = check_recording(loader, recording, min_duration_s=minimum)
            if name_problem := recording_name_problem(recording.recording_id):
                problems.insert(0, Problem(recording.source, name_problem))
            for problem in problems:
                print(problem, file=sys.stderr)
                rows.append(
                    {
                        "dataset": name,
                        "recording": recording.recording_id,
                        "path": str(problem.path),
                        "problem": problem.message,
                    }
                )
    if output is not None:
        columns = ["dataset", "recording", "path", "problem"]
        write_csv(pd.DataFrame(rows, columns=columns), output)
    if rows:
        bad = len({(r["dataset"], r["recording"]) for r in rows})
        raise InputError(
            f"validate: {len(rows)} problems in {bad} of {checked} recordings (listed above)"
        )
    return f"validate: {checked} recordings, no problems"
