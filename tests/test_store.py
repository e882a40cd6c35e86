from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from distraction.errors import InputError
from distraction.store import GroupWriter, open_group, write_dataset


def test_group_round_trip_with_dimensions_and_attributes(tmp_path: Path) -> None:
    store = tmp_path / "video.zarr"
    with GroupWriter(store, "prepared", attrs={"fps": 30.0, "source": Path("/x/y.avi")}) as writer:
        writer.coord("time", np.arange(10) / 30.0, attrs={"units": "s"})
        writer.coord("channel", ["R", "G", "B"])
        dims = ["time", "y", "x", "channel"]
        frames = writer.create("frames", dims, (0, 2, 2, 3), np.float32, chunk_len=4)
        frames.append(np.arange(10 * 12, dtype=np.float32).reshape(10, 2, 2, 3), axis=0)
    ds = open_group(store, "prepared")
    assert ds.attrs == {"fps": 30.0, "source": "/x/y.avi"}
    assert ds["frames"].dims == ("time", "y", "x", "channel")
    assert ds["frames"].encoding["chunks"] == (4, 2, 2, 3)  # chunked along time
    np.testing.assert_array_equal(ds["frames"].values.ravel(), np.arange(120))
    assert list(ds["channel"].values) == ["R", "G", "B"]
    np.testing.assert_allclose(ds["time"].values, np.arange(10) / 30.0)
    assert (store / "zarr.json").exists()


def test_failed_write_leaves_no_group_and_keeps_the_old_one(tmp_path: Path) -> None:
    store = tmp_path / "video.zarr"
    old = xr.Dataset({"signal": ("time", np.ones(5))}, attrs={"version": 1})
    write_dataset(store, "can_hr", old)
    with pytest.raises(RuntimeError), GroupWriter(store, "can_hr") as writer:
        writer.create("signal", ["time"], (5,), np.float64, data=np.zeros(5))
        raise RuntimeError("killed half-way")
    # The earlier complete group is untouched and no temporary folder remains.
    ds = open_group(store, "can_hr")
    assert ds.attrs["version"] == 1
    np.testing.assert_array_equal(ds["signal"].values, np.ones(5))
    assert sorted(p.name for p in store.iterdir()) == ["can_hr", "zarr.json"]


def test_stale_temporary_folders_are_cleaned(tmp_path: Path) -> None:
    store = tmp_path / "video.zarr"
    (store / ".denoised_hr.deadbeef.tmp").mkdir(parents=True)
    write_dataset(store, "denoised_hr", xr.Dataset({"denoised": ("time_out", np.zeros(3))}))
    assert sorted(p.name for p in store.iterdir()) == ["denoised_hr", "zarr.json"]


def test_missing_group_names_the_store(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"video\.zarr: no 'can_hr' group"):
        open_group(tmp_path / "video.zarr", "can_hr")
