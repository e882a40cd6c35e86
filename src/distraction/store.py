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
"""

from __future__ import annotations

import hashlib
import json
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

from distraction.errors import InputError

_ROOT_METADATA = {"zarr_format": 3, "node_type": "group", "attributes": {}}


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, recorded as the provenance of the model that produced a group."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def ensure_root(store: Path) -> None:
    """Create the store folder and its root group metadata if missing (atomic, idempotent)."""
    store.mkdir(parents=True, exist_ok=True)
    meta = store / "zarr.json"
    if not meta.exists():
        tmp = store / f".zarr.json.{uuid.uuid4().hex}.tmp"
        tmp.write_text(json.dumps(_ROOT_METADATA))
        os.replace(tmp, meta)


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


class GroupWriter:
    """Stream arrays into a new group of a video's store, then publish it atomically.

    Use as a context manager: on success the group is renamed to
    ``<store>/<name>``; on error the temporary folder is removed.
    """

    def __init__(self, store: Path, name: str, attrs: dict[str, Any] | None = None) -> None:
        self.store = Path(store)
        self.name = name
        ensure_root(self.store)
        for stale in self.store.glob(f".{name}.*.tmp"):
            shutil.rmtree(stale, ignore_errors=True)
        self.tmp = self.store / f".{name}.{uuid.uuid4().hex}.tmp"
        self.group = zarr.open_group(str(self.tmp), mode="w", zarr_format=3)
        self.group.attrs.update(_json_safe(attrs or {}))

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
    ) -> zarr.Array:
        """Create an array chunked along its first (time) axis."""
        shape = tuple(int(s) for s in shape)
        # Arrays created empty (to be appended to) get full-length chunks.
        first = chunk_len if shape and shape[0] == 0 else min(chunk_len, shape[0] if shape else 1)
        chunks = (max(1, first), *shape[1:]) if shape else ()
        fill = np.nan if np.dtype(dtype).kind == "f" else 0
        array = self.group.create_array(
            name,
            shape=shape,
            dtype=dtype,
            chunks=chunks,
            dimension_names=list(dims),
            fill_value=fill,
            attributes=_json_safe(attrs or {}),
        )
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
        if exc_type is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return
        final = self.store / self.name
        if final.exists():
            shutil.rmtree(final)
        os.replace(self.tmp, final)


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


def open_group(store: Path, name: str) -> xr.Dataset:
    """Open one stage's group of a video store lazily.

    Variables are read on access (xarray's lazy indexing; a slice reads only the chunks it
    covers). Not dask-backed: the stages read whole variables or time slices, and dask's
    import alone (0.2 s) and task graphs cost more than they save on one video; for
    interactive work ``xr.open_zarr(store / name)`` gives the dask-backed view.
    """
    path = Path(store) / name
    if not (path / "zarr.json").exists():
        raise InputError(f"{store}: no '{name}' group in this store (run the earlier stage first)")
    with warnings.catch_warnings():
        # Snakemake marks directory outputs with a .snakemake_timestamp file.
        warnings.filterwarnings("ignore", message=".*snakemake_timestamp.*")
        return xr.open_zarr(str(path), consolidated=False, zarr_format=3, chunks=None)
