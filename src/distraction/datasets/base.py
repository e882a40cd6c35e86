"""What every dataset loader shares: the ground-truth type, the loader protocol and base
class, the one-line errors and the checks of ground-truth signals."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Protocol, runtime_checkable

import numpy as np

from distraction import layouts
from distraction.errors import InputError
from distraction.layouts import Recording

__all__ = [
    "GROUND_TRUTH_COLUMNS",
    "BaseLoader",
    "DatasetLoader",
    "GroundTruth",
    "Recording",
    "increasing_mask",
    "input_error",
    "make_ground_truth",
    "parse_rows",
    "positive",
    "read_text",
]

GROUND_TRUTH_COLUMNS: tuple[str, ...] = ("ppg", "resp", "hr", "br")


@dataclass(frozen=True)
class GroundTruth:
    """Reference signals at their own sampling rate.

    ``time`` is in seconds from the recording start (first frame = 0), float64 and strictly
    increasing; each signal present has the same length as ``time``.
    """

    time: np.ndarray
    ppg: np.ndarray | None
    resp: np.ndarray | None
    hr: np.ndarray | None
    br: np.ndarray | None
    source: Path


@runtime_checkable
class DatasetLoader(Protocol):
    """What the preparation stage needs from a dataset."""

    name: str
    root: Path
    format: str

    def list_recordings(self) -> list[Recording]: ...

    def frame_rate(self, rec: Recording) -> float: ...

    def frame_count(self, rec: Recording) -> int: ...

    def iter_frames(self, rec: Recording, start: int = 0) -> Iterator[tuple[float, np.ndarray]]: ...

    def random_access(self, rec: Recording) -> bool: ...

    def read_ground_truth(self, rec: Recording) -> GroundTruth | None: ...


def input_error(path: Path | str, problem: str) -> InputError:
    """Build the one-line ``"<path>: <problem>"`` error."""
    line = " ".join(f"{path}: {problem}".split())
    return InputError(line)


def positive(value: object, label: str, path: Path) -> float:
    """``value`` as a positive finite number, else a one-line error naming ``path``."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = math.nan
    if not (math.isfinite(number) and number > 0):
        raise input_error(path, f"{label} must be a positive number, got {value!r}")
    return number


def _as_signal(values: object, n: int, path: Path, label: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise input_error(path, f"{label} has {arr.size} samples, expected {n}")
    return arr


def make_ground_truth(
    path: Path, time: np.ndarray, signals: dict[str, np.ndarray | None]
) -> GroundTruth:
    """Validate and build a :class:`GroundTruth` (time strictly increasing, equal lengths)."""
    time = np.asarray(time, dtype=np.float64)
    if time.ndim != 1 or time.size == 0:
        raise input_error(path, "ground truth has no samples")
    if not np.all(np.isfinite(time)):
        raise input_error(path, "ground-truth time has missing or non-finite values")
    if time.size > 1 and not np.all(np.diff(time) > 0):
        raise input_error(path, "ground-truth time is not strictly increasing")
    clean = {
        key: None if value is None else _as_signal(value, time.size, path, key)
        for key, value in signals.items()
    }
    if all(value is None for value in clean.values()):
        raise input_error(path, "ground truth holds no signal")
    return GroundTruth(
        time=time,
        ppg=clean.get("ppg"),
        resp=clean.get("resp"),
        hr=clean.get("hr"),
        br=clean.get("br"),
        source=path,
    )


def increasing_mask(time: np.ndarray) -> np.ndarray:
    """Samples whose time exceeds every earlier one (device clocks may repeat a stamp)."""
    if time.size == 0:
        return np.zeros(0, dtype=bool)
    previous_max = np.maximum.accumulate(np.concatenate(([-np.inf], time[:-1])))
    return time > previous_max


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise input_error(path, "not a text file") from exc
    except OSError as exc:
        raise input_error(path, f"cannot read file ({exc.strerror or exc})") from exc


def parse_rows(path: Path) -> list[np.ndarray]:
    """Non-empty lines of a whitespace/comma separated numeric text file, as float rows."""
    rows = []
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        tokens = line.replace(",", " ").split()
        if not tokens:
            continue
        try:
            rows.append(np.array([float(t) for t in tokens], dtype=np.float64))
        except ValueError as exc:
            raise input_error(path, f"line {number} is not numeric") from exc
    return rows


class BaseLoader:
    """What every loader shares: the root check, the listing (:mod:`distraction.layouts`)
    and the optional nominal frame-rate override."""

    format: ClassVar[str] = ""

    def __init__(self, name: str, root: Path | str, *, fps: float | None = None) -> None:
        self.name = str(name)
        self.root = Path(root)
        self.fps: float | None = None if fps is None else positive(fps, "fps", self.root)
        layouts.check_root(self.root)

    def list_recordings(self) -> list[Recording]:
        """All recordings, sorted naturally by ``recording_id``."""
        return layouts.list_recordings(self.format, self.root, self.name)

    def recording(self, recording_id: str) -> Recording:
        """One recording by id (the generic and folder formats find it without a scan)."""
        return layouts.find_recording(self.format, self.root, recording_id, self.name)
