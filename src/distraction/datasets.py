"""Dataset loaders: list recordings, stream RGB frames, read ground truth.

Every loader follows the small :class:`DatasetLoader` protocol so the preparation stage can
treat all datasets alike: recordings are listed in a deterministic (natural) order, frames are
streamed one at a time as ``(timestamp_s, uint8 RGB (H, W, 3))`` and the ground truth is returned
at its own sampling rate with a time axis in seconds from the first frame.

Layouts and where they come from
--------------------------------
``generic`` (this project's own format, written by ``distraction.synth``)::

    root/<subject>/<task>.<avi|mp4|mkv|mov>
    root/<subject>/<task>.csv      optional; columns ``time`` (s) and any of ppg, resp, hr, br

``folder`` (any folder of videos: every video under the root, at any depth)::

    root/**/<name>.<avi|mp4|mkv|mov>
    root/**/<name>.csv             optional; the generic format's columns

The recording id is the video's path relative to the root without its extension
(``clip``, ``day1/clip``); the subject is the video's parent folder (its first folder
under the root for deeper files), or the file name's stem for a video directly in the
root (each loose video is its own subject); the task is the stem. Hidden files and folders
are skipped.

``ubfc`` -- UBFC-rPPG "DATASET_2". Layout from rPPG-Toolbox
(ubicomplab/rPPG-Toolbox, ``dataset/data_loader/UBFCrPPGLoader.py``: ``RawData/subject*/vid.avi``
and ``ground_truth.txt``); the file format from the dataset's own notes (``Dataset_info.txt``
shipped with the data: "Line 1: PPG signal, Line 2: Heart rate (HR), Line 3: Timestep (seconds,
scientific notation)") and the authors' ``UBFC_DATASET.m`` (``dlmread``, rows 1/2/3 = trace/HR/
time), also read that way by pyVHR (phuselab/pyVHR, ``pyVHR/datasets/ubfc2.py``)::

    root/<subject folder>/vid.avi
    root/<subject folder>/ground_truth.txt     3 whitespace-separated rows: PPG, HR (bpm), time (s)

Any folder of ``root`` holding a ``vid.avi`` is a recording (``subject1`` ... in DATASET_2).
The ground-truth samples are taken per frame, so their time row is shifted to start at 0.
DATASET_1 (``gtdump.xmp``) is not supported.

``pure`` -- PURE (Stricker et al., Ro-Man 2014). Two layouts are in use and both are accepted:
the nested one of rPPG-Toolbox (``dataset/data_loader/PURELoader.py``) and of the raw release
as described in public cache specs (frames ``Image1392643993642815000.png``: capture time in
epoch ns; a stray ``Thumbs.db``; ``06-02`` empty in the public release)::

    root/<NN-MM>/<NN-MM>/Image<timestamp_ns>.png
    root/<NN-MM>/<NN-MM>.json

and the flat one of pyVHR (``pyVHR/datasets/pure.py``)::

    root/<NN-MM>/Image<timestamp_ns>.png
    root/<NN-MM>.json

The JSON holds ``"/FullPackage"`` records (``Timestamp`` in epoch ns, ``Value`` with
``waveform``, ``pulseRate``, ``o2saturation``, ...; pulse oximeter at about 60 Hz) and
``"/Image"`` records (``Timestamp`` per frame, equal to the file-name timestamps). Frame times
come from the file names, relative to the first frame; the oximeter samples are put on the
same clock (so the first one may be slightly negative). ``waveform`` -> ppg,
``pulseRate`` -> hr. Subject = NN, task = MM, recording id ``NN-MM``. Folders without frames
are skipped.

``mmse`` -- MMSE-HR (a BP4D+ subset). Folder names as used by public conversion scripts for
the released archive (``('first 10 subjects 2D', 'first 10 subjects Phydata released/Phydata'),
('T10_T11_30Subjects', 'T10_T11_30PhyBPHRData')``; a public MATLAB loader, ``getBUVideo.m``, reads
``.../F013/T1/*.jpg``, ``Pulse Rate_BPM.txt`` at "1000 samples / second", RGB at 25 fps). The
physiology file names are BP4D+'s (rPPG-Toolbox ``BP4DPlusLoader.py``: ``Physiology/F001/T1/
BP_mmHg.txt``, ``Pulse Rate_BPM.txt``, ``Resp_Volts.txt``, ``Respiration Rate_BPM.txt``)::

    root/first 10 subjects 2D/<F013>/<T1>/*.jpg
    root/first 10 subjects Phydata released/Phydata/<F013>/<T1>/BP_mmHg.txt ...
    root/T10_T11_30Subjects/<M014>/<T10>/*.jpg
    root/T10_T11_30PhyBPHRData/<M014>/<T10>/Pulse Rate_BPM.txt ...

When neither frame folder exists, ``root/<subject>/<task>/*.jpg`` is read instead. The
physiology of a recording is looked up, in order, in the paired physiology folder,
``root/Physiology/<subject>/<task>`` (BP4D+) and the frame folder itself. Text files hold one
value per line (a single row is accepted too), sampled at 1000 Hz from the first frame;
``BP_mmHg.txt`` (the continuous blood-pressure waveform) -> ppg, ``Pulse Rate_BPM.txt`` -> hr,
``Resp_Volts.txt`` -> resp, ``Respiration Rate_BPM.txt`` -> br. Files of different lengths are
cut to the shortest. File names are matched case-insensitively. Frames at 25 fps.

Frames are decoded with OpenCV and converted from BGR to RGB. Images are read with
``cv2.imdecode`` on the file's bytes so that any path (spaces, quotes, non-ASCII) works.

Frame times of a video are the container's (``CAP_PROP_POS_MSEC`` per frame), snapped to
``index / fps`` when they lie on that grid (every constant-rate file), so a variable frame
rate shows in the timestamps (:func:`distraction.validation.timestamp_problems`). An AVI
that declares no frame rate (FFmpeg then assumes 25 fps) is refused unless the loader's
``fps`` option gives it. Decoders conceal corrupt data and only say so on stderr:
:func:`decoder_errors` captures and counts those messages while frames are decoded.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import struct
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Protocol, runtime_checkable

import cv2
import numpy as np
import pandas as pd

from distraction.errors import InputError

__all__ = [
    "FORMATS",
    "LAYOUTS",
    "VIDEO_EXTENSIONS",
    "DatasetLoader",
    "DecoderLog",
    "FolderLoader",
    "GenericLoader",
    "GroundTruth",
    "MmseLoader",
    "PureLoader",
    "Recording",
    "UbfcLoader",
    "decoder_errors",
    "get_loader",
]

FORMATS: tuple[str, ...] = ("generic", "folder", "ubfc", "pure", "mmse")
VIDEO_EXTENSIONS: tuple[str, ...] = (".avi", ".mp4", ".mkv", ".mov")
GROUND_TRUTH_COLUMNS: tuple[str, ...] = ("ppg", "resp", "hr", "br")
#: The layout each format understands, one short line each (shown when none is found).
LAYOUTS: dict[str, str] = {
    "generic": "<root>/<subject>/<task>.<avi|mp4|mkv|mov> [+ <task>.csv]",
    "folder": "<root>/**/<name>.<avi|mp4|mkv|mov> at any depth [+ <name>.csv]",
    "ubfc": "<root>/<subject>/vid.avi + ground_truth.txt",
    "pure": "<root>/<NN-MM>/<NN-MM>/Image<ns>.png + <NN-MM>.json",
    "mmse": "<root>/first 10 subjects 2D/<F013>/<T1>/*.jpg (+ physiology text files)",
}


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


# --------------------------------------------------------------------------- helpers


def _error(path: Path | str, problem: str) -> InputError:
    """Build the one-line ``"<path>: <problem>"`` error."""
    line = " ".join(f"{path}: {problem}".split())
    return InputError(line)


def _positive(value: object, label: str, path: Path) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = math.nan
    if not (math.isfinite(number) and number > 0):
        raise _error(path, f"{label} must be a positive number, got {value!r}")
    return number


def _natural_key(text: str) -> tuple:
    """Sort key that orders ``subject2`` before ``subject10``."""
    parts = re.split(r"(\d+)", text)
    return (
        tuple(int(p) if i % 2 else p.casefold() for i, p in enumerate(parts)),
        text,
    )


def _visible_children(folder: Path) -> list[Path]:
    try:
        return [p for p in folder.iterdir() if not p.name.startswith(".")]
    except OSError as exc:
        raise _error(folder, f"cannot list folder ({exc.strerror or exc})") from exc


def _rgb(bgr: np.ndarray | None, path: Path) -> np.ndarray:
    if bgr is None or bgr.ndim != 3 or bgr.shape[2] != 3:
        raise _error(path, "cannot decode image")
    return np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), dtype=np.uint8)


def _read_image_rgb(path: Path) -> np.ndarray:
    """Read an image as uint8 RGB; via the bytes so that any path works."""
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise _error(path, f"cannot read image ({exc.strerror or exc})") from exc
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    return _rgb(bgr, path)


# A decoder's report on stderr: FFmpeg's "[mjpeg @ 0x55...] ..." and libjpeg's warnings
# (OpenCV's image decoder prints those for corrupt JPEG files and still returns an image).
_DECODER_LINE = re.compile(
    rb"^(\[[^\]@]+ @ 0x[0-9a-fA-F]+\] |Corrupt JPEG data|Premature end of JPEG file)"
)


@dataclass
class DecoderLog:
    """Decoder messages seen while frames were decoded: their number and the first one."""

    count: int = 0
    first: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _sync: Callable[[], None] | None = field(default=None, repr=False)

    def sync(self) -> None:
        """Wait until every message written so far is counted (the capture reads them in
        a thread); after the capture has ended the count is final anyway."""
        if self._sync is not None:
            self._sync()

    def add(self, line: bytes) -> None:
        with self._lock:
            if self.count == 0:
                self.first = line.decode("utf-8", "replace").strip()
            self.count += 1

    def summary(self) -> str:
        """One line: how many messages and the first one ('' when none)."""
        if not self.count:
            return ""
        first = re.sub(r" @ 0x[0-9a-fA-F]+\]", "]", " ".join(self.first.split()))[:120]
        return f"decoder reported {self.count} errors (corrupt frame data), first: {first}"


_capture_lock = threading.Lock()
_active_log: DecoderLog | None = None


@contextlib.contextmanager
def decoder_errors() -> Iterator[DecoderLog]:
    """Capture the decoders' stderr messages while the block runs, and count them.

    OpenCV's FFmpeg and libjpeg write straight to file descriptor 2 and conceal corrupt
    data (a corrupt MJPEG frame still decodes), so the descriptor is pointed at a pipe;
    decoder lines are counted and dropped (thousands for a corrupt file), every other
    line goes on to the real stderr as it comes. Process-wide: a nested use shares the
    outer capture.
    """
    global _active_log
    with _capture_lock:
        outer = _active_log
        if outer is None:
            log = _active_log = DecoderLog()
    if outer is not None:
        yield outer
        return
    sys.stderr.flush()
    saved = os.dup(2)
    read_end, write_end = os.pipe()
    marker = f"\x00distraction-sync-{os.getpid()}-{id(log)}\n".encode()
    synced = threading.Condition()
    seen = [0]

    def sync() -> None:
        with synced:
            target = seen[0] + 1
            os.write(2, marker)
            synced.wait_for(lambda: seen[0] >= target, timeout=10)

    log._sync = sync

    def forward(piece: bytes) -> None:
        try:
            os.write(saved, piece)
        except OSError:  # the real stderr is gone: keep draining the pipe regardless
            pass

    def pump() -> None:
        pending = b""
        with open(read_end, "rb", buffering=0) as pipe:
            while chunk := pipe.read(65536):
                pending += chunk
                # Split after every newline or carriage return (progress bars use \r).
                pieces = re.split(rb"(?<=[\r\n])", pending)
                pending = pieces.pop()
                for piece in pieces:
                    if piece == marker:
                        with synced:
                            seen[0] += 1
                            synced.notify_all()
                    elif _DECODER_LINE.match(piece):
                        log.add(piece)
                    else:
                        forward(piece)
        if pending:
            if _DECODER_LINE.match(pending):
                log.add(pending)
            else:
                forward(pending)

    thread = threading.Thread(target=pump, daemon=True, name="stderr")
    thread.start()
    os.dup2(write_end, 2)
    os.close(write_end)
    try:
        yield log
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # closes the pipe's last write end: the pump sees EOF
        thread.join()
        log._sync = None
        os.close(saved)
        with _capture_lock:
            _active_log = None


def _avi_declared_rate(path: Path) -> float | None:
    """The frame rate an AVI's headers declare: 0.0 when none, None when not an AVI.

    FFmpeg replaces a missing rate (``dwRate``/``dwScale`` of the video stream and
    ``dwMicroSecPerFrame`` all zero) by 25 fps without a word; this reads the headers.
    """
    try:
        with open(path, "rb") as handle:
            head = handle.read(1 << 16)
    except OSError:
        return None
    if head[:4] != b"RIFF" or head[8:12] != b"AVI ":
        return None
    avih = head.find(b"avih")
    period = struct.unpack("<I", head[avih + 8 : avih + 12])[0] if avih >= 0 else 0
    at = 0
    while (at := head.find(b"strh", at)) >= 0 and at + 36 <= len(head):
        if head[at + 8 : at + 12] == b"vids":
            scale, rate = struct.unpack("<II", head[at + 28 : at + 36])
            if scale and rate:
                return rate / scale
            break
        at += 4
    return 1e6 / period if period else 0.0


def _open_video(path: Path) -> cv2.VideoCapture:
    if not path.is_file():
        raise _error(path, "video file not found")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        cap.release()
        raise _error(path, "cannot open video")
    return cap


def _video_frame_rate(path: Path) -> float:
    cap = _open_video(path)
    try:
        fps = float(cap.get(cv2.CAP_PROP_FPS))
    finally:
        cap.release()
    if not math.isfinite(fps) or fps <= 0 or _avi_declared_rate(path) == 0.0:
        raise _error(
            path,
            "video container declares no frame rate (FFmpeg would assume 25 fps); "
            "give the dataset's frame rate (loader option fps)",
        )
    return fps


def _video_frame_count(path: Path) -> int:
    cap = _open_video(path)
    try:
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        if count <= 0:
            # Some containers carry no frame count: count by demuxing.
            count = 0
            while cap.grab():
                count += 1
    finally:
        cap.release()
    if count <= 0:
        raise _error(path, "video has no frames")
    return count


# Codecs whose every frame is a key frame (FourCC as OpenCV reports it): a seek lands on
# the exact frame, so separate readers can decode parts of the video in parallel.
_INTRA_ONLY_FOURCCS = frozenset(
    {"MJPG", "mjpg", "AVRN", "MJPA", "jpeg", "png ", "MPNG", "FFV1", "HFYU", "FFVH",
     "I420", "IYUV", "YV12", "YUY2", "UYVY", "Y800", "GREY", "RGB ", "BGR ", "rawv"}
)  # fmt: skip


def _video_random_access(path: Path) -> bool:
    cap = _open_video(path)
    try:
        code = int(cap.get(cv2.CAP_PROP_FOURCC))
    finally:
        cap.release()
    fourcc = "".join(chr((code >> (8 * i)) & 0xFF) for i in range(4))
    return fourcc in _INTRA_ONLY_FOURCCS


# Container times this close to ``index / fps`` are that (MKV keeps whole milliseconds).
_GRID_TOLERANCE_S = 0.001


def _frame_time(cap: cv2.VideoCapture, index: int, fps: float, container_times: bool) -> float:
    """The frame's container time, or ``index / fps`` when it lies on that grid (or the
    container has none): constant-rate files keep exact nominal times, a variable frame
    rate shows in the times."""
    nominal = index / fps
    if not container_times:
        return nominal
    container = float(cap.get(cv2.CAP_PROP_POS_MSEC)) / 1000.0
    if not math.isfinite(container) or (index > 0 and container <= 0):
        return nominal
    return nominal if abs(container - nominal) <= _GRID_TOLERANCE_S else container


def _iter_video(
    path: Path, fps: float, start: int = 0, *, container_times: bool = True
) -> Iterator[tuple[float, np.ndarray]]:
    cap = _open_video(path)
    try:
        if start > 0 and not cap.set(cv2.CAP_PROP_POS_FRAMES, start):
            raise _error(path, f"cannot seek to frame {start}")
        index = start
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            if start > 0 and index == start:
                # Never silently misnumber frames: read such a video with one thread.
                landed = int(cap.get(cv2.CAP_PROP_POS_FRAMES)) - 1
                if landed != start:
                    raise _error(path, f"seeking to frame {start} landed on frame {landed}")
            yield _frame_time(cap, index, fps, container_times), _rgb(bgr, path)
            index += 1
        if index == 0:
            raise _error(path, "cannot decode any frame")
    finally:
        cap.release()


def _as_signal(values: object, n: int, path: Path, label: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise _error(path, f"{label} has {arr.size} samples, expected {n}")
    return arr


def _make_ground_truth(
    path: Path, time: np.ndarray, signals: dict[str, np.ndarray | None]
) -> GroundTruth:
    """Validate and build a :class:`GroundTruth` (time strictly increasing, equal lengths)."""
    time = np.asarray(time, dtype=np.float64)
    if time.ndim != 1 or time.size == 0:
        raise _error(path, "ground truth has no samples")
    if not np.all(np.isfinite(time)):
        raise _error(path, "ground-truth time has missing or non-finite values")
    if time.size > 1 and not np.all(np.diff(time) > 0):
        raise _error(path, "ground-truth time is not strictly increasing")
    clean = {
        key: None if value is None else _as_signal(value, time.size, path, key)
        for key, value in signals.items()
    }
    if all(value is None for value in clean.values()):
        raise _error(path, "ground truth holds no signal")
    return GroundTruth(
        time=time,
        ppg=clean.get("ppg"),
        resp=clean.get("resp"),
        hr=clean.get("hr"),
        br=clean.get("br"),
        source=path,
    )


def _increasing_mask(time: np.ndarray) -> np.ndarray:
    """Samples whose time exceeds every earlier one (device clocks may repeat a stamp)."""
    if time.size == 0:
        return np.zeros(0, dtype=bool)
    previous_max = np.maximum.accumulate(np.concatenate(([-np.inf], time[:-1])))
    return time > previous_max


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise _error(path, "not a text file") from exc
    except OSError as exc:
        raise _error(path, f"cannot read file ({exc.strerror or exc})") from exc


def _parse_rows(path: Path) -> list[np.ndarray]:
    """Non-empty lines of a whitespace/comma separated numeric text file, as float rows."""
    rows = []
    for number, line in enumerate(_read_text(path).splitlines(), start=1):
        tokens = line.replace(",", " ").split()
        if not tokens:
            continue
        try:
            rows.append(np.array([float(t) for t in tokens], dtype=np.float64))
        except ValueError as exc:
            raise _error(path, f"line {number} is not numeric") from exc
    return rows


def no_recordings_message(root: Path | str, fmt: str) -> str:
    """``"<root>: no recordings found for dataset format '<fmt>'"``, then one line per
    format with the layout it understands (the first line alone names the problem)."""
    lines = [f"{root}: no recordings found for dataset format {fmt!r}; layouts understood:"]
    lines += [f"  {name}: {layout}" for name, layout in LAYOUTS.items()]
    return "\n".join(lines)


# --------------------------------------------------------------------------- base classes


class _BaseLoader:
    """Shared root checks, listing and the optional nominal frame-rate override."""

    format: ClassVar[str] = ""

    def __init__(self, name: str, root: Path | str, *, fps: float | None = None) -> None:
        self.name = str(name)
        self.root = Path(root)
        self.fps: float | None = None if fps is None else _positive(fps, "fps", self.root)
        if not self.root.exists():
            raise _error(self.root, "dataset root not found")
        if not self.root.is_dir():
            raise _error(self.root, "dataset root is not a folder")

    def _scan(self) -> list[Recording]:
        raise NotImplementedError

    def list_recordings(self) -> list[Recording]:
        """All recordings, sorted naturally by ``recording_id``."""
        recordings = self._scan()
        if not recordings:
            raise InputError(no_recordings_message(self.root, self.format))
        seen: dict[str, Recording] = {}
        for rec in recordings:
            if rec.recording_id in seen:
                raise _error(
                    rec.source,
                    f"duplicate recording id {rec.recording_id!r} "
                    f"(also {seen[rec.recording_id].source})",
                )
            seen[rec.recording_id] = rec
        return sorted(recordings, key=lambda r: _natural_key(r.recording_id))

    def recording(self, recording_id: str) -> Recording:
        """One recording by id (formats with a direct layout find it without a full scan)."""
        for rec in self.list_recordings():
            if rec.recording_id == recording_id:
                return rec
        raise _error(self.root, f"no recording {recording_id!r} in this {self.format} dataset")

    def _recording(
        self, recording_id: str, subject: str, task: str, source: Path, gt: Path | None
    ) -> Recording:
        return Recording(self.name, recording_id, subject, task, source, gt)


class _VideoLoader(_BaseLoader):
    """Recordings stored as one video file; timestamps are the container's (``index / fps``
    for a constant rate)."""

    def frame_rate(self, rec: Recording) -> float:
        """Nominal frame rate: the ``fps`` option, else the container's."""
        return self.fps if self.fps is not None else _video_frame_rate(rec.source)

    def frame_count(self, rec: Recording) -> int:
        """Number of frames the container announces (counted when it announces none)."""
        return _video_frame_count(rec.source)

    def iter_frames(self, rec: Recording, start: int = 0) -> Iterator[tuple[float, np.ndarray]]:
        """Stream ``(timestamp, RGB frame)`` pairs from frame ``start`` on (the container's
        time; ``index / fps`` when it lies on that grid, or always with the ``fps`` option,
        which overrides the container's clock)."""
        return _iter_video(
            rec.source, self.frame_rate(rec), start, container_times=self.fps is None
        )

    def random_access(self, rec: Recording) -> bool:
        """Whether ``iter_frames(rec, start)`` starts exactly at ``start`` cheaply
        (intra-only codecs such as MJPEG or raw video)."""
        return _video_random_access(rec.source)


# --------------------------------------------------------------------------- generic


class GenericLoader(_VideoLoader):
    """``root/<subject>/<task>.<avi|mp4|mkv|mov>`` with an optional ``<task>.csv``."""

    format = "generic"

    def _scan(self) -> list[Recording]:
        recordings = []
        for subject_dir in _visible_children(self.root):
            if not subject_dir.is_dir():
                continue
            for video in _visible_children(subject_dir):
                if video.suffix.lower() not in VIDEO_EXTENSIONS or not video.is_file():
                    continue
                recordings.append(self._from_video(subject_dir.name, video))
        return recordings

    def _from_video(self, subject: str, video: Path) -> Recording:
        csv = video.with_suffix(".csv")
        return self._recording(
            f"{subject}/{video.stem}", subject, video.stem, video, csv if csv.is_file() else None
        )

    def recording(self, recording_id: str) -> Recording:
        """Direct lookup of ``<subject>/<task>``: a per-video job never scans the dataset."""
        subject, _, task = recording_id.partition("/")
        folder = self.root / subject
        if subject and task and "/" not in task and folder.is_dir():
            found = [
                folder / f"{task}{ext}"
                for ext in VIDEO_EXTENSIONS
                if (folder / f"{task}{ext}").is_file()
            ]
            if len(found) == 1:
                return self._from_video(subject, found[0])
        return super().recording(recording_id)

    def read_ground_truth(self, rec: Recording) -> GroundTruth | None:
        """The CSV's ``time`` and signal columns, or ``None`` without a CSV."""
        if rec.ground_truth is None:
            return None
        path = rec.ground_truth
        if not path.is_file():
            raise _error(path, "ground-truth file not found")
        try:
            table = pd.read_csv(path, skipinitialspace=True, float_precision="round_trip")
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise _error(path, f"cannot parse CSV ({type(exc).__name__})") from exc
        except OSError as exc:
            raise _error(path, f"cannot read file ({exc.strerror or exc})") from exc
        table.columns = [str(c).strip().lower() for c in table.columns]
        if len(set(table.columns)) != len(table.columns):
            raise _error(path, "duplicate column names")
        if "time" not in table.columns:
            raise _error(path, "missing column 'time'")
        present = [c for c in GROUND_TRUTH_COLUMNS if c in table.columns]
        if not present:
            raise _error(
                path, f"no signal column (expected any of {', '.join(GROUND_TRUTH_COLUMNS)})"
            )
        if table.empty:
            raise _error(path, "ground truth has no samples")
        values: dict[str, np.ndarray] = {}
        for column in ("time", *present):
            try:
                values[column] = pd.to_numeric(table[column], errors="raise").to_numpy(
                    dtype=np.float64
                )
            except (ValueError, TypeError) as exc:
                raise _error(path, f"column {column!r} is not numeric") from exc
        return _make_ground_truth(
            path, values["time"], {c: values.get(c) for c in GROUND_TRUTH_COLUMNS}
        )


# --------------------------------------------------------------------------- folder


class FolderLoader(GenericLoader):
    """Every video under ``root`` at any depth, with an optional CSV of the same stem
    (the generic format's columns). Recording id: the relative path without extension."""

    format = "folder"

    def _scan(self) -> list[Recording]:
        recordings = []
        for folder, dirs, files in os.walk(self.root):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                video = Path(folder) / name
                if name.startswith(".") or video.suffix.lower() not in VIDEO_EXTENSIONS:
                    continue
                recordings.append(self.from_video(video))
        return recordings

    def from_video(self, video: Path) -> Recording:
        """The recording of one video file under the root."""
        relative = video.relative_to(self.root)
        recording_id = relative.with_suffix("").as_posix()
        subject = relative.parts[0] if len(relative.parts) > 1 else video.stem
        csv = video.with_suffix(".csv")
        return self._recording(
            recording_id, subject, video.stem, video, csv if csv.is_file() else None
        )

    def recording(self, recording_id: str) -> Recording:
        """Direct lookup of ``<relative path without extension>`` (no scan of the root)."""
        base = self.root / recording_id
        if recording_id and ".." not in Path(recording_id).parts:
            found = [
                base.with_name(base.name + ext)
                for ext in VIDEO_EXTENSIONS
                if base.with_name(base.name + ext).is_file()
            ]
            if len(found) == 1:
                return self.from_video(found[0])
        return _BaseLoader.recording(self, recording_id)


# --------------------------------------------------------------------------- UBFC-rPPG


class UbfcLoader(_VideoLoader):
    """UBFC-rPPG DATASET_2: ``root/<subject>/vid.avi`` + ``ground_truth.txt``."""

    format = "ubfc"
    VIDEO_NAME: ClassVar[str] = "vid.avi"
    GROUND_TRUTH_NAME: ClassVar[str] = "ground_truth.txt"

    def _scan(self) -> list[Recording]:
        recordings = []
        for subject_dir in _visible_children(self.root):
            video = subject_dir / self.VIDEO_NAME
            if not subject_dir.is_dir() or not video.is_file():
                continue
            gt = subject_dir / self.GROUND_TRUTH_NAME
            recordings.append(
                self._recording(
                    subject_dir.name, subject_dir.name, "", video, gt if gt.is_file() else None
                )
            )
        return recordings

    def read_ground_truth(self, rec: Recording) -> GroundTruth | None:
        """Rows PPG, HR (bpm) and time (s, shifted to start at 0)."""
        if rec.ground_truth is None:
            return None
        path = rec.ground_truth
        if not path.is_file():
            raise _error(path, "ground-truth file not found")
        rows = _parse_rows(path)
        if len(rows) != 3:
            raise _error(path, f"expected 3 rows (PPG, HR, time), found {len(rows)}")
        ppg, hr, time = rows
        if not (ppg.size == hr.size == time.size):
            raise _error(
                path,
                f"rows have different lengths (PPG {ppg.size}, HR {hr.size}, time {time.size})",
            )
        if time.size == 0 or not np.all(np.isfinite(time)):
            raise _error(path, "time row has missing or non-finite values")
        keep = _increasing_mask(time)
        time = time[keep] - time[keep][0]
        return _make_ground_truth(path, time, {"ppg": ppg[keep], "hr": hr[keep]})


# --------------------------------------------------------------------------- frame folders


class _FrameFolderLoader(_BaseLoader):
    """Recordings stored as a folder of still images."""

    NOMINAL_FPS: ClassVar[float] = 30.0

    def _frames(self, rec: Recording) -> list[tuple[float, Path]]:
        """``(timestamp_s, file)`` per frame in time order."""
        raise NotImplementedError

    def frame_rate(self, rec: Recording) -> float:
        """Nominal frame rate (the ``fps`` option, else the dataset's documented one)."""
        return self.fps if self.fps is not None else self.NOMINAL_FPS

    def frame_count(self, rec: Recording) -> int:
        """Number of frame images."""
        return len(self._frames(rec))

    def iter_frames(self, rec: Recording, start: int = 0) -> Iterator[tuple[float, np.ndarray]]:
        """Stream ``(timestamp, RGB frame)`` pairs from frame ``start`` on, one image read
        at a time."""
        frames = self._frames(rec)
        if not frames:
            raise _error(rec.source, "no frame images")
        for timestamp, path in frames[start:]:
            yield timestamp, _read_image_rgb(path)

    def random_access(self, rec: Recording) -> bool:
        """Always: every frame is its own file."""
        return True


# --------------------------------------------------------------------------- PURE


_PURE_ID = re.compile(r"^(\d+)-(\d+)$")
_PURE_FRAME = re.compile(r"^Image(\d+)\.png$", re.IGNORECASE)


def _pure_frame_files(folder: Path) -> list[tuple[int, Path]]:
    """``(timestamp_ns, file)`` for every ``Image<ns>.png`` of a folder, in time order."""
    if not folder.is_dir():
        return []
    frames = []
    for path in _visible_children(folder):
        match = _PURE_FRAME.match(path.name)
        if match and path.is_file():
            frames.append((int(match.group(1)), path))
    frames.sort(key=lambda item: (item[0], item[1].name))
    return frames


class PureLoader(_FrameFolderLoader):
    """PURE: ``Image<ns>.png`` frames with a ``<NN-MM>.json`` (nested or flat layout)."""

    format = "pure"
    NOMINAL_FPS = 30.0

    def _scan(self) -> list[Recording]:
        recordings = []
        for folder in _visible_children(self.root):
            match = _PURE_ID.match(folder.name)
            if not match or not folder.is_dir():
                continue
            rid = folder.name
            nested = folder / rid
            if _pure_frame_files(nested):
                source, gt = nested, folder / f"{rid}.json"
            elif _pure_frame_files(folder):
                source, gt = folder, self.root / f"{rid}.json"
            else:
                continue  # e.g. 06-02, empty in the public release
            recordings.append(
                self._recording(
                    rid, match.group(1), match.group(2), source, gt if gt.is_file() else None
                )
            )
        return recordings

    def _frames(self, rec: Recording) -> list[tuple[float, Path]]:
        files = _pure_frame_files(rec.source)
        if not files:
            return []
        first = files[0][0]
        # Integer ns differences first: epoch ns do not fit a float64 exactly.
        return [((ns - first) / 1e9, path) for ns, path in files]

    def _first_frame_ns(self, rec: Recording, package: dict) -> int:
        files = _pure_frame_files(rec.source)
        if files:
            return files[0][0]
        images = package.get("/Image")
        try:
            return min(int(entry["Timestamp"]) for entry in images)
        except (TypeError, KeyError, ValueError) as exc:
            raise _error(rec.ground_truth or rec.source, "no frame timestamps") from exc

    def read_ground_truth(self, rec: Recording) -> GroundTruth | None:
        """``/FullPackage`` waveform (ppg) and pulseRate (hr) on the frames' clock."""
        if rec.ground_truth is None:
            return None
        path = rec.ground_truth
        try:
            package = json.loads(_read_text(path))
        except json.JSONDecodeError as exc:
            raise _error(path, f"invalid JSON (line {exc.lineno})") from exc
        if not isinstance(package, dict) or not isinstance(package.get("/FullPackage"), list):
            raise _error(path, "missing '/FullPackage' list")
        entries = package["/FullPackage"]
        if not entries:
            raise _error(path, "'/FullPackage' is empty")
        try:
            stamps = np.array([int(e["Timestamp"]) for e in entries], dtype=np.int64)
            waveform = np.array([float(e["Value"]["waveform"]) for e in entries])
            pulse = np.array([float(e["Value"]["pulseRate"]) for e in entries])
        except (KeyError, TypeError, ValueError) as exc:
            raise _error(
                path, "'/FullPackage' entries need Timestamp and Value.waveform/pulseRate"
            ) from exc
        first = self._first_frame_ns(rec, package)
        time = (stamps - first) / 1e9
        keep = _increasing_mask(time)
        return _make_ground_truth(path, time[keep], {"ppg": waveform[keep], "hr": pulse[keep]})


# --------------------------------------------------------------------------- MMSE-HR


_MMSE_GROUPS: tuple[tuple[str, str], ...] = (
    ("first 10 subjects 2D", "first 10 subjects Phydata released/Phydata"),
    ("T10_T11_30Subjects", "T10_T11_30PhyBPHRData"),
)
_MMSE_FILES: dict[str, str] = {
    "ppg": "bp_mmhg.txt",
    "hr": "pulse rate_bpm.txt",
    "resp": "resp_volts.txt",
    "br": "respiration rate_bpm.txt",
}
_JPG = (".jpg", ".jpeg")


def _mmse_physiology_files(folder: Path) -> dict[str, Path]:
    """Known physiology files of a folder, by signal name (case-insensitive match)."""
    if not folder.is_dir():
        return {}
    by_name = {p.name.lower(): p for p in _visible_children(folder) if p.is_file()}
    return {key: by_name[name] for key, name in _MMSE_FILES.items() if name in by_name}


def _read_column(path: Path) -> np.ndarray:
    """One value per line (or all values on one line)."""
    rows = _parse_rows(path)
    if not rows:
        raise _error(path, "file holds no samples")
    if len(rows) == 1:
        return rows[0]
    if any(row.size != 1 for row in rows):
        raise _error(path, "expected one value per line")
    return np.concatenate(rows)


class MmseLoader(_FrameFolderLoader):
    """MMSE-HR: JPG frames per subject/task, physiology text files at 1000 Hz."""

    format = "mmse"
    NOMINAL_FPS = 25.0

    def __init__(
        self,
        name: str,
        root: Path | str,
        *,
        fps: float | None = None,
        ground_truth_rate: float = 1000.0,
    ) -> None:
        super().__init__(name, root, fps=fps)
        self.ground_truth_rate = _positive(ground_truth_rate, "ground_truth_rate", self.root)

    def _groups(self) -> list[tuple[Path, Path | None]]:
        groups = [
            (self.root / frames, self.root / physiology)
            for frames, physiology in _MMSE_GROUPS
            if (self.root / frames).is_dir()
        ]
        return groups or [(self.root, None)]

    def _physiology_folder(
        self, paired: Path | None, subject: str, task: str, frames: Path
    ) -> Path | None:
        candidates = [self.root / "Physiology" / subject / task, frames]
        if paired is not None:
            candidates.insert(0, paired / subject / task)
        for folder in candidates:
            if _mmse_physiology_files(folder):
                return folder
        return None

    def _scan(self) -> list[Recording]:
        recordings = []
        for frames_root, physiology_root in self._groups():
            for subject_dir in _visible_children(frames_root):
                if not subject_dir.is_dir():
                    continue
                for task_dir in _visible_children(subject_dir):
                    if not task_dir.is_dir() or not self._jpgs(task_dir):
                        continue
                    subject, task = subject_dir.name, task_dir.name
                    gt = self._physiology_folder(physiology_root, subject, task, task_dir)
                    recordings.append(
                        self._recording(f"{subject}/{task}", subject, task, task_dir, gt)
                    )
        return recordings

    @staticmethod
    def _jpgs(folder: Path) -> list[Path]:
        return [p for p in _visible_children(folder) if p.suffix.lower() in _JPG and p.is_file()]

    def _frames(self, rec: Recording) -> list[tuple[float, Path]]:
        files = sorted(self._jpgs(rec.source), key=lambda p: _natural_key(p.name))
        fps = self.frame_rate(rec)
        return [(index / fps, path) for index, path in enumerate(files)]

    def read_ground_truth(self, rec: Recording) -> GroundTruth | None:
        """BP waveform (ppg), pulse rate (hr), respiration (resp, br) at 1000 Hz."""
        if rec.ground_truth is None:
            return None
        files = _mmse_physiology_files(rec.ground_truth)
        if not files:
            raise _error(rec.ground_truth, "no physiology files found")
        signals = {key: _read_column(path) for key, path in files.items()}
        n = min(values.size for values in signals.values())
        time = np.arange(n, dtype=np.float64) / self.ground_truth_rate
        return _make_ground_truth(
            rec.ground_truth, time, {key: values[:n] for key, values in signals.items()}
        )


# --------------------------------------------------------------------------- factory


_LOADERS: dict[str, Callable[..., DatasetLoader]] = {
    "generic": GenericLoader,
    "folder": FolderLoader,
    "ubfc": UbfcLoader,
    "pure": PureLoader,
    "mmse": MmseLoader,
    # The workflow renders synthetic datasets in the generic layout.
    "synth": GenericLoader,
}


def get_loader(fmt: str, name: str, root: Path | str, **options: object) -> DatasetLoader:
    """Build the loader of a dataset.

    Parameters
    ----------
    fmt : str
        One of :data:`FORMATS` (case-insensitive).
    name : str
        The configured dataset name, copied into every :class:`Recording`.
    root : Path or str
        The dataset's root folder.
    **options
        ``fps`` (all formats): nominal frame rate overriding the container's or the dataset's
        documented one; ``ground_truth_rate`` (``mmse``, default 1000 Hz).

    Returns
    -------
    DatasetLoader

    Raises
    ------
    InputError
        Unknown format or option, missing root.
    """
    key = str(fmt).strip().lower()
    if key not in _LOADERS:
        raise _error(root, f"unknown dataset format {fmt!r} (expected one of {', '.join(FORMATS)})")
    try:
        return _LOADERS[key](name, root, **options)
    except TypeError as exc:
        raise _error(root, f"invalid option for dataset format {key!r}: {exc}") from exc
