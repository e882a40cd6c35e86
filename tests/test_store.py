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


def test_numeric_arrays_are_lz4_compressed_and_read_back_exactly(tmp_path: Path) -> None:
    import json

    store = tmp_path / "video.zarr"
    noise = np.random.default_rng(0).normal(100, 5, (40, 6, 6, 3)).astype(np.float32)
    noise[3, 2] = np.nan
    with GroupWriter(store, "prepared") as writer:
        writer.create("frames", ["time", "y", "x", "channel"], (0, 6, 6, 3), np.float32,
                      chunk_len=16).append(noise, axis=0)  # fmt: skip
        writer.create("found", ["time"], (40,), np.uint8, data=np.arange(40) % 2)
    meta = json.loads((store / "prepared" / "frames" / "zarr.json").read_text())
    blosc = [c for c in meta["codecs"] if c["name"] == "blosc"]
    assert blosc and blosc[0]["configuration"]["cname"] == "lz4"
    assert blosc[0]["configuration"]["shuffle"] == "shuffle"
    ds = open_group(store, "prepared")
    np.testing.assert_array_equal(ds["frames"].values, noise)  # NaN where NaN
    np.testing.assert_array_equal(ds["found"].values, np.arange(40) % 2)


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


def _writer_thread(store: Path, value: float, started, go, finished: list) -> None:
    """Write 'prepared' with 3 chunks of ``value``, pausing after the first until ``go``."""
    with GroupWriter(store, "prepared", attrs={"writer": value}) as writer:
        started.set()
        array = writer.create("signal", ["time"], (12,), np.float64, chunk_len=4)
        array[0:4] = value
        assert go.wait(10)
        array[4:8] = value
        array[8:12] = value
    finished.append(value)


def test_two_writers_of_one_group_never_interleave(tmp_path: Path) -> None:
    import threading
    import time

    store = tmp_path / "video.zarr"
    a_started, a_go, b_started, b_go = (threading.Event() for _ in range(4))
    finished: list = []
    a = threading.Thread(target=_writer_thread, args=(store, 1.0, a_started, a_go, finished))
    a.start()
    assert a_started.wait(10)  # A holds the lock and is paused mid-write
    b_go.set()
    b = threading.Thread(target=_writer_thread, args=(store, 2.0, b_started, b_go, finished))
    b.start()
    time.sleep(0.3)
    # B waits for A's lock and did not delete A's live temporary folder.
    assert not b_started.is_set()
    assert len(list(store.glob(".prepared.*.tmp"))) == 1
    a_go.set()
    a.join(10)
    b.join(10)
    assert finished == [1.0, 2.0]
    ds = open_group(store, "prepared")
    values = ds["signal"].values
    assert not np.isnan(values).any()
    np.testing.assert_array_equal(values, np.full(12, ds.attrs["writer"]))
    assert sorted(p.name for p in store.iterdir()) == ["prepared", "zarr.json"]


def test_killed_writers_temporary_folder_is_removed_by_the_next(tmp_path: Path) -> None:
    import multiprocessing
    import os
    import signal
    import time

    store = tmp_path / "video.zarr"
    ctx = multiprocessing.get_context("fork")
    ready = ctx.Event()

    def doomed() -> None:
        with GroupWriter(store, "can_hr") as writer:
            writer.create("signal", ["time"], (8,), np.float64, chunk_len=4)[0:4] = 1.0
            ready.set()
            time.sleep(60)

    process = ctx.Process(target=doomed)
    process.start()
    assert ready.wait(20)
    os.kill(process.pid, signal.SIGKILL)
    process.join(10)
    assert len(list(store.glob(".can_hr.*.tmp"))) == 1  # left behind by the killed writer
    write_dataset(store, "can_hr", xr.Dataset({"signal": ("time", np.arange(8.0))}))
    np.testing.assert_array_equal(open_group(store, "can_hr")["signal"].values, np.arange(8.0))
    assert sorted(p.name for p in store.iterdir()) == ["can_hr", "zarr.json"]


def test_partly_written_array_is_not_published(tmp_path: Path) -> None:
    store = tmp_path / "video.zarr"
    with pytest.raises(RuntimeError, match=r"'signal': 6 of 10 rows never written"):
        with GroupWriter(store, "can_hr") as writer:
            writer.create("signal", ["time"], (10,), np.float64, chunk_len=4)[0:4] = 1.0
    assert sorted(p.name for p in store.iterdir()) == ["zarr.json"]


def test_chunk_removed_under_the_writer_is_detected(tmp_path: Path) -> None:
    import shutil

    store = tmp_path / "video.zarr"
    with pytest.raises(RuntimeError, match=r"1 written chunks missing"):
        with GroupWriter(store, "prepared") as writer:
            frames = writer.create("frames", ["time", "x"], (0, 3), np.float32, chunk_len=4)
            frames.append(np.ones((8, 3), dtype=np.float32), axis=0)
            shutil.rmtree(writer.tmp / "frames" / "c" / "0")
    assert not (store / "prepared").exists()


def test_all_fill_chunks_written_on_purpose_are_fine(tmp_path: Path) -> None:
    store = tmp_path / "video.zarr"
    with GroupWriter(store, "corruption_hr") as writer:
        array = writer.create("trace", ["time"], (8,), np.float64, chunk_len=4)
        array[:] = np.r_[np.full(4, np.nan), np.ones(4)]
        counts = writer.create("n", ["time"], (8,), np.int32, chunk_len=4, data=np.zeros(8))
        assert counts.shape == (8,)
    assert np.isnan(open_group(store, "corruption_hr")["trace"].values[:4]).all()


def test_long_store_and_group_names_work(tmp_path: Path) -> None:
    store = tmp_path / ("v" * 237 + ".zarr")  # a legal 242-byte folder name
    group = "g" * 250
    write_dataset(store, group, xr.Dataset({"x": ("time", np.ones(3))}))
    write_dataset(store, "prepared", xr.Dataset({"x": ("time", np.ones(3))}))
    np.testing.assert_array_equal(open_group(store, group)["x"].values, np.ones(3))
    assert sorted(p.name for p in store.iterdir()) == [group, "prepared", "zarr.json"]


def _frames_group(store: Path, rows: np.ndarray) -> None:
    with GroupWriter(store, "prepared", attrs={"source": "/videos/s01/a.avi"}) as writer:
        writer.create("frames", ["time", "x"], rows.shape, np.float32, chunk_len=4, data=rows)


def test_a_group_missing_a_chunk_is_refused_naming_the_video_to_redo(tmp_path: Path) -> None:
    store = tmp_path / "video.zarr"
    _frames_group(store, np.arange(24, dtype=np.float32).reshape(12, 2) + 1)
    assert open_group(store, "prepared")["frames"].shape == (12, 2)
    chunk = store / "prepared" / "frames" / "c" / "1" / "0"
    assert chunk.is_file()  # rows 4-7 of 12 in chunks of 4
    chunk.unlink()
    with pytest.raises(InputError) as error:
        open_group(store, "prepared")
    message = str(error.value)
    assert message == (
        f"{store / 'prepared'}: incomplete group (array 'frames' has 2 of its 3 chunks); "
        f"redo video /videos/s01/a.avi: remove {store / 'prepared'} and run again"
    )


def test_chunks_zarr_never_wrote_are_not_missing(tmp_path: Path) -> None:
    # A chunk all at the fill value (NaN) is not stored by Zarr: still a complete group.
    store = tmp_path / "video.zarr"
    rows = np.arange(24, dtype=np.float32).reshape(12, 2)
    rows[4:8] = np.nan
    _frames_group(store, rows)
    assert not (store / "prepared" / "frames" / "c" / "1" / "0").exists()
    np.testing.assert_array_equal(open_group(store, "prepared")["frames"].values, rows)
    assert "stored_chunks" not in open_group(store, "prepared").attrs
