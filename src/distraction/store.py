"""One Zarr v3 store per video; each pipeline stage owns one group inside it.

Layout::

    <recording>.zarr/
        zarr.json            root group
        prepared/            frames, CAN inputs, resampled ground truth (video rate)
        can_hr/              CAN signal and attention masks
        corruption_hr/       inverse masks, corruption and skin traces, conditioned signals
        denoised_hr/         LSTM output

Every group is written to a hidden temporary folder inside the store, then renamed into
place, so a killed job never leaves a readable partial group. Groups are read with xarray
(dimension names are stored in the Zarr v3 metadata).

Two writers of one group (a Snakemake rerun while an old job still runs, two users) never
interleave: a writer holds an exclusive ``flock`` on a per-group lock file from its start to
the rename, and a second writer waits for it. Temporary folders of a group are only deleted
under its lock, so a live writer's folder is never removed; the lock file is removed on
release. Before the rename, every array is checked to be completely written, so a partial
group is never published. Temporary and lock names are short and bounded
(``.<group>.<uuid12>.tmp``, the group's hash for names over 64 bytes; ``.lock-<hash>``), so
any legal store or group name works.
"""

from __future__ import annotations

import errno
import fcntl
import glob
import hashlib
import json
import logging
import os
import shutil
import uuid
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
import zarr
from zarr.codecs import BloscCodec

from distraction.atomic import write_text
from distraction.errors import InputError

log = logging.getLogger(__name__)

_ROOT_METADATA = {"zarr_format": 3, "node_type": "group", "attributes": {}}

#: Compression of every numeric array: LZ4 (Blosc) on byte-shuffled values. Video-derived
#: floats barely compress (sensor noise fills their low bytes), and shuffled LZ4 stores them
#: as small as Zarr's default Zstandard at a fraction of its CPU time, to write and to read.
COMPRESSORS = (BloscCodec(cname="lz4", clevel=5, shuffle="shuffle"),)


def ensure_root(store: Path) -> None:
    """Create the store folder and its root group metadata if missing (atomic, idempotent)."""
    store.mkdir(parents=True, exist_ok=True)
    meta = store / "zarr.json"
    if not meta.exists():
        write_text(meta, json.dumps(_ROOT_METADATA))


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


# Longest group name used as such in temporary folder names (bytes).
_MAX_TAG = 64


def _group_key(name: str) -> str:
    """Short fixed-length key of a group name, used in lock and temporary names."""
    return hashlib.sha256(name.encode("utf-8")).hexdigest()[:12]


class _GroupLock:
    """Exclusive ``flock`` on ``<store>/.lock-<key>``, removed again on release.

    The classic removable-lock-file protocol: after locking, the file must still be the one
    at the path (a releasing holder unlinks it before unlocking); otherwise lock again.
    ``flock`` locks belong to open file descriptions, so two writers in one process (two
    threads) exclude each other as two processes do; the kernel releases the lock of a
    killed writer.
    """

    def __init__(self, path: Path, what: str) -> None:
        self.path = path
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES):
                        raise
                    log.info("%s: waiting for another writer to finish", what)
                    fcntl.flock(fd, fcntl.LOCK_EX)
                try:
                    same = os.fstat(fd).st_ino == os.stat(path).st_ino
                except FileNotFoundError:
                    same = False
            except BaseException:
                os.close(fd)
                raise
            if same:
                self.fd: int | None = fd
                return
            os.close(fd)

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(self.fd)  # closing the last descriptor releases the flock
            self.fd = None


def _axis0_range(key: Any, length: int) -> tuple[int, int] | None:
    """The rows ``[start, stop)`` a basic-indexing key selects, None when not a plain range."""
    first = key[0] if isinstance(key, tuple) and key else key
    if isinstance(key, tuple) and not key:
        first = Ellipsis
    if first is Ellipsis:
        return 0, length
    if isinstance(first, slice):
        start, stop, step = first.indices(length)
        return (start, max(start, stop)) if step == 1 else None
    if isinstance(first, int | np.integer):
        index = int(first) + (length if int(first) < 0 else 0)
        return index, index + 1
    return None


class WrittenArray:
    """A Zarr array of a :class:`GroupWriter`, which remembers what was written to it.

    Indexing, ``append`` and every other attribute go to the Zarr array. Writes are
    tracked along the first (time) axis: which rows were written, and which chunks hold
    data other than the fill value (Zarr does not store a chunk that is all fill).
    """

    def __init__(self, array: zarr.Array, folder: Path, fill: Any) -> None:
        self.array = array
        self._folder = folder
        self._fill = fill
        self._written = np.zeros(array.shape[0] if array.shape else 1, dtype=bool)
        self._has_data = np.zeros(self._chunk_count(), dtype=bool)
        self._untracked = False

    def _chunk_count(self) -> int:
        if not self.array.shape:
            return 1
        return -(-self.array.shape[0] // self.array.chunks[0])

    def __getattr__(self, name: str) -> Any:
        if name == "array":  # not yet set (copy, pickle): no recursion
            raise AttributeError(name)
        return getattr(self.array, name)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return np.asarray(self.array, dtype=dtype)

    def __getitem__(self, key: Any) -> Any:
        return self.array[key]

    def __setitem__(self, key: Any, value: Any) -> None:
        self.array[key] = value
        self._track(key, value)

    def append(self, data: Any, axis: int = 0) -> Any:
        start = self.array.shape[0] if self.array.shape else 0
        result = self.array.append(data, axis=axis)
        if axis != 0:
            self._untracked = True
            return result
        self._track(slice(start, self.array.shape[0]), data)
        return result

    def _track(self, key: Any, value: Any) -> None:
        if not self.array.shape:
            self._written[:] = True
            self._has_data[:] = True
            return
        length = self.array.shape[0]
        if self._written.size < length:
            self._written = np.concatenate(
                [self._written, np.zeros(length - self._written.size, dtype=bool)]
            )
            grown = self._chunk_count() - self._has_data.size
            self._has_data = np.concatenate([self._has_data, np.zeros(grown, dtype=bool)])
        rows = _axis0_range(key, length)
        if rows is None:
            self._untracked = True
            return
        start, stop = rows
        if stop <= start:
            return
        self._written[start:stop] = True
        values = np.asarray(value)
        if values.ndim == 0 or values.shape[0] != stop - start:
            values = np.broadcast_to(values, (stop - start, *self.array.shape[1:]))
        values = values.reshape(stop - start, -1)
        if values.dtype.kind == "f" and np.isnan(self._fill):
            data_rows = ~np.all(np.isnan(values), axis=1)
        elif values.dtype.kind in "fiub":
            data_rows = np.any(values != self._fill, axis=1)
        else:
            data_rows = np.ones(stop - start, dtype=bool)
        step = self.array.chunks[0]
        for chunk in range(start // step, -(-stop // step)):
            low, high = max(start, chunk * step), min(stop, (chunk + 1) * step)
            has = bool(data_rows[low - start : high - start].any())
            full = low == chunk * step and high == min(length, (chunk + 1) * step)
            self._has_data[chunk] = has if full else self._has_data[chunk] or has

    def problems(self) -> list[str]:
        """Why the array is incomplete: rows never written, chunks of data gone missing."""
        name = self.array.basename
        if not (self._folder / name / "zarr.json").is_file():
            return [f"array '{name}' is gone from the temporary folder (another writer?)"]
        if self._untracked or not self.array.shape:
            return []
        length = self.array.shape[0]
        problems = []
        if not self._written[:length].all():
            missing = np.flatnonzero(~self._written[:length])
            problems.append(
                f"array '{name}': {missing.size} of {length} rows never written "
                f"(first {int(missing[0])})"
            )
        trailing = "/".join("0" for _ in self.array.shape[1:])
        lost = [
            chunk
            for chunk in np.flatnonzero(self._has_data)
            if not (
                self._folder / name / "c" / f"{chunk}{'/' if trailing else ''}{trailing}"
            ).is_file()
        ]
        if lost:
            problems.append(
                f"array '{name}': {len(lost)} written chunks missing on disk "
                f"(first chunk {int(lost[0])}; removed by another writer?)"
            )
        return problems


class GroupWriter:
    """Stream arrays into a new group of a video's store, then publish it atomically.

    Use as a context manager: on success the group is renamed to
    ``<store>/<name>``; on error the temporary folder is removed. The group's lock is held
    from construction to the end of the ``with`` block: a second writer of the same group
    (another process or thread) waits until the first has published or failed. Arrays come
    back as :class:`WrittenArray`; a group with an array that is not completely written is
    not published (``RuntimeError``).
    """

    def __init__(self, store: Path, name: str, attrs: dict[str, Any] | None = None) -> None:
        self.store = Path(store)
        self.name = name
        ensure_root(self.store)
        key = _group_key(name)
        # Temporary folders are ``.<group>.<uuid12>.tmp``; a group name longer than 64
        # bytes is replaced by its hash, so the name stays short whatever the group.
        tag = name if len(name.encode()) <= _MAX_TAG and "/" not in name else key
        self._lock = _GroupLock(self.store / f".lock-{key}", f"{self.store / name}")
        try:
            # Under the lock every temporary folder of this group is stale: its writer is
            # gone (killed) or finished (also those of older versions, with a 32-hex uuid).
            for pattern in {f".{glob.escape(tag)}.*.tmp", f".{glob.escape(name)}.*.tmp"}:
                for stale in self.store.glob(pattern):
                    shutil.rmtree(stale, ignore_errors=True)
            self.tmp = self.store / f".{tag}.{uuid.uuid4().hex[:12]}.tmp"
            self.group = zarr.open_group(str(self.tmp), mode="w", zarr_format=3)
            self.group.attrs.update(_json_safe(attrs or {}))
        except BaseException:
            self._lock.release()
            raise
        self._arrays: list[WrittenArray] = []

    def create(
        self,
        name: str,
        dims: Sequence[str],
        shape: Sequence[int],
        dtype: Any,
        *,
        chunk_len: int = 256,
        attrs: dict[str, Any] | None = None,
        data: np.ndarray | None = None,
    ) -> WrittenArray:
        """Create an array chunked along its first (time) axis."""
        shape = tuple(int(s) for s in shape)
        # Arrays created empty (to be appended to) get full-length chunks.
        first = chunk_len if shape and shape[0] == 0 else min(chunk_len, shape[0] if shape else 1)
        chunks = (max(1, first), *shape[1:]) if shape else ()
        fill = np.nan if np.dtype(dtype).kind == "f" else 0
        array = WrittenArray(
            self.group.create_array(
                name,
                shape=shape,
                dtype=dtype,
                chunks=chunks,
                dimension_names=list(dims),
                fill_value=fill,
                compressors=COMPRESSORS,
                attributes=_json_safe(attrs or {}),
            ),
            self.tmp,
            fill,
        )
        self._arrays.append(array)
        if data is not None:
            array[...] = data
        return array

    def coord(
        self, name: str, values: np.ndarray | Sequence[Any], attrs: dict[str, Any] | None = None
    ) -> None:
        """Write a 1-D coordinate variable named after its dimension."""
        values = np.asarray(values)
        if values.dtype.kind in "UO":
            values = values.astype(str)
            array = self.group.create_array(
                name,
                shape=values.shape,
                dtype=str,
                dimension_names=[name],
                attributes=_json_safe(attrs or {}),
            )
            array[...] = values
            return
        self.create(
            name,
            [name],
            values.shape,
            values.dtype,
            chunk_len=max(1, len(values)),
            attrs=attrs,
            data=values,
        )

    def __enter__(self) -> GroupWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is not None:
                shutil.rmtree(self.tmp, ignore_errors=True)
                return
            problems = [p for array in self._arrays for p in array.problems()]
            if not (self.tmp / "zarr.json").is_file():
                problems.insert(0, "temporary folder is gone (removed by another writer?)")
            if problems:
                shutil.rmtree(self.tmp, ignore_errors=True)
                raise RuntimeError(
                    f"{self.store / self.name}: incomplete group not published: "
                    + "; ".join(problems)
                )
            # The chunk files of every array, counted now that all are written: readers
            # compare (open_group), so a chunk lost later (a deleted file, a copy cut
            # short) is an error instead of NaN (the fill value Zarr reads for it).
            self.group.attrs[CHUNKS_ATTR] = _chunk_counts(self.tmp)
            # Consolidated metadata (in the group's zarr.json, written last): a plain
            # xr.open_zarr(group) reads it without listing the folder or warning. Zarr
            # warns that v3 has no consolidated metadata in its specification yet; the
            # xarray and zarr-python readers users open stores with understand it.
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*Consolidated metadata.*")
                zarr.consolidate_metadata(str(self.tmp), zarr_format=3)
            final = self.store / self.name
            if final.exists():
                shutil.rmtree(final)
            os.replace(self.tmp, final)
        finally:
            self._lock.release()


#: Group attribute: the number of chunk files of each array when the group was published.
CHUNKS_ATTR = "stored_chunks"


def _array_names(group: Path) -> list[str]:
    """The arrays of a group folder (children whose ``zarr.json`` says ``array``)."""
    names = []
    for child in sorted(group.iterdir()):
        meta = child / "zarr.json"
        if child.is_dir() and meta.is_file():
            try:
                node = json.loads(meta.read_text(encoding="utf-8")).get("node_type")
            except (OSError, ValueError):
                node = "array"  # unreadable metadata: counted, so the reader notices
            if node == "array":
                names.append(child.name)
    return names


def _count_chunks(array: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(array / "c"))


def _chunk_counts(group: Path) -> dict[str, int]:
    return {name: _count_chunks(group / name) for name in _array_names(group)}


def group_problems(group: Path, expected: dict[str, Any]) -> list[str]:
    """How a published group differs from what its writer recorded (``stored_chunks``):
    arrays gone, or with fewer chunk files than were written."""
    problems = []
    for name, count in expected.items():
        if not (group / name / "zarr.json").is_file():
            problems.append(f"array '{name}' is missing")
            continue
        found = _count_chunks(group / name)
        if found < int(count):
            problems.append(f"array '{name}' has {found} of its {count} chunks")
    return problems


def write_dataset(store: Path, name: str, ds: xr.Dataset, *, chunk_len: int = 256) -> None:
    """Write a small in-memory xarray Dataset as a group, atomically."""
    with GroupWriter(store, name, attrs=dict(ds.attrs)) as writer:
        for coord_name in ds.coords:
            writer.coord(str(coord_name), ds[coord_name].values, attrs=dict(ds[coord_name].attrs))
        for var_name, var in ds.data_vars.items():
            writer.create(
                str(var_name),
                [str(d) for d in var.dims],
                var.shape,
                var.dtype,
                chunk_len=chunk_len,
                attrs=dict(var.attrs),
                data=var.values,
            )


def write_failed_group(store: Path, name: str, failure: dict[str, Any]) -> None:
    """Record, in place of a stage's group, why the video could not be processed.

    ``failure`` holds ``failed`` (the reason), ``failed_stage`` and the video's identity
    (dataset, recording). Later stages see it (:func:`upstream_failure`) and pass it on,
    so one bad video never blocks the aggregate report, which lists it with the reason.
    """
    with GroupWriter(store, name, attrs=failure):
        pass


def upstream_failure(store: Path, name: str) -> dict[str, Any] | None:
    """The failure record of the named group, or None when it holds results."""
    attrs = dict(open_group(store, name).attrs)
    return attrs if "failed" in attrs else None


def video_of(store: Path) -> tuple[str, dict[str, Any]]:
    """The video a store holds, as failure reasons name it (its source file, else
    ``dataset/recording``, else the store), and its identity attributes."""
    try:
        # The group's own metadata only: an incomplete group (which open_group refuses)
        # still names its video.
        meta = json.loads((Path(store) / "prepared" / "zarr.json").read_text(encoding="utf-8"))
        attrs = dict(meta.get("attributes", {}))
    except Exception:  # an unreadable store still gets its failure recorded
        attrs = {}
    keys = ("dataset", "recording", "subject", "task", "source")
    identity = {key: attrs[key] for key in keys if key in attrs}
    if "source" in attrs:
        return str(attrs["source"]), identity
    if "recording" in attrs:
        return f"{attrs.get('dataset', '')}/{attrs['recording']}", identity
    return str(store), identity


def open_group(store: Path, name: str) -> xr.Dataset:
    """Open one stage's group of a video store lazily.

    The group is checked to hold every chunk its writer wrote (``InputError`` naming the
    group and the video to redo, else Zarr would read a lost chunk as NaN). Variables are
    read on access (xarray's lazy indexing; a slice reads only the chunks it
    covers). Not dask-backed: the stages read whole variables or time slices, and dask's
    import alone (0.2 s) and task graphs cost more than they save on one video; for
    interactive work ``xr.open_zarr(store / name)`` gives the dask-backed view.
    """
    path = Path(store) / name
    if not (path / "zarr.json").exists():
        raise InputError(f"{store}: no '{name}' group in this store (run the earlier stage first)")
    with warnings.catch_warnings():
        # Groups written before metadata was consolidated, and Snakemake's
        # .snakemake_timestamp file in those of directory() outputs of older workflows.
        warnings.filterwarnings("ignore", message=".*snakemake_timestamp.*")
        warnings.filterwarnings("ignore", message=".*consolidated metadata.*")
        ds = xr.open_zarr(str(path), zarr_format=3, chunks=None)
    # The writer's bookkeeping, not the group's data: checked here, hidden from readers.
    expected = ds.attrs.pop(CHUNKS_ATTR, None)
    if isinstance(expected, dict) and (problems := group_problems(path, expected)):
        video = ds.attrs.get("source") or (
            f"{ds.attrs.get('dataset', '')}/{ds.attrs['recording']}"
            if "recording" in ds.attrs
            else None
        )
        redo = f"redo video {video}: " if video else "redo its video: "
        raise InputError(
            f"{path}: incomplete group ({'; '.join(problems[:3])}); {redo}remove {path} "
            "and run again"
        )
    return ds
