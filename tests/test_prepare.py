"""Preparation of a synthetic clip: the pulse must be physically present in the stored pixels."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from conftest import prepared_clip

from distraction.metrics import periodogram_rate
from distraction.store import open_group


@pytest.fixture(scope="module")
def clean_clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("generic")
    store = prepared_clip(
        root,
        "s03",
        "clean",
        dataset="demo",
        subject_index=3,
        duration_s=30.0,
        width=160,
        height=120,
        seed=7,
        chunk_frames=64,
    )
    return root, store


def test_prepared_store_layout(clean_clip: tuple[Path, Path]) -> None:
    _, store = clean_clip
    ds = open_group(store, "prepared")
    n = ds.sizes["time"]
    assert n == 30 * 30 - 1  # frame differences need a following frame
    assert ds["motion"].shape == (n, 36, 36, 3) and ds["appearance"].shape == (n, 36, 36, 3)
    assert ds["frames"].shape == (n, 34, 34, 3)
    assert ds["motion"].encoding["chunks"][0] == 64
    assert ds.attrs["fps"] == 30.0 and ds.attrs["recording"] == "s03/clean"
    assert ds.attrs["crop_box_xy_side"] == [20, 0, 120]  # centre square of 160x120
    # Standardised inputs: unit std for motion, zero mean / unit std for appearance.
    assert float(ds["motion"].std()) == pytest.approx(1.0, rel=1e-3)
    assert float(ds["appearance"].mean()) == pytest.approx(0.0, abs=1e-3)
    assert float(ds["appearance"].std()) == pytest.approx(1.0, rel=1e-3)
    assert set(ds.attrs["ground_truth"]) == {"ppg", "resp", "hr", "br"}


def test_motion_input_is_the_normalised_difference_of_frames(clean_clip: tuple[Path, Path]) -> None:
    root, store = clean_clip
    ds = open_group(store, "prepared")
    # Recompute frame differences independently from the video file for frames 10 and 11.
    capture = cv2.VideoCapture(str(root / "s03" / "clean.avi"))
    frames = []
    for _ in range(12):
        ok, bgr = capture.read()
        assert ok
        frames.append(bgr[:, 20:140, ::-1].astype(np.float32))  # centre square, RGB
    capture.release()
    small = [cv2.resize(f, (36, 36), interpolation=cv2.INTER_AREA) for f in frames[10:12]]
    expected = (small[1] - small[0]) / (small[1] + small[0] + 1e-6)
    scale = float(ds["motion"].attrs["scale_divided_by"])
    np.testing.assert_allclose(ds["motion"][10].values * scale, expected, atol=1e-4)


def test_pulse_is_in_the_skin_pixels_of_the_store(clean_clip: tuple[Path, Path]) -> None:
    root, store = clean_clip
    ds = open_group(store, "prepared")
    skin = cv2.imread(str(root / "s03" / "clean.skin.png"), cv2.IMREAD_GRAYSCALE) > 0
    x0, y0, side = ds.attrs["crop_box_xy_side"]
    skin34 = (
        cv2.resize(
            skin[y0 : y0 + side, x0 : x0 + side].astype(np.float32),
            (34, 34),
            interpolation=cv2.INTER_AREA,
        )
        > 0.99
    )
    green = ds["frames"].values[..., 1][:, skin34].mean(axis=1)
    truth = pd.read_csv(root / "s03" / "clean.csv")
    estimated = periodogram_rate(green - green.mean(), 30.0, (0.7, 3.0))
    assert abs(estimated - truth["hr"].mean()) <= 2.0
    # The resampled ground truth in the store agrees with the CSV.
    np.testing.assert_allclose(np.nanmean(ds["hr"].values), truth["hr"].mean(), atol=1.0)


def _prepared_arrays(store: Path) -> dict[str, np.ndarray]:
    group = open_group(store, "prepared")
    return {name: group[name].values for name in ("motion", "appearance", "frames", "time")}


@pytest.mark.parametrize("truncate", [False, True])
def test_parallel_block_decoding_gives_the_one_thread_result(
    tmp_path: Path, truncate: bool
) -> None:
    # MJPEG seeks exactly, so 2 threads decode 16-frame blocks in parallel; the stores must
    # equal the one-thread read bit for bit, and a truncated file must stop at the same frame.
    from distraction.datasets import get_loader
    from distraction.errors import InputError
    from distraction.prepare import prepare_recording
    from distraction.synth import write_clip

    video = tmp_path / "data" / "s01" / "clean.avi"
    video.parent.mkdir(parents=True)
    write_clip(video, video.with_suffix(".csv"), condition="clean", subject_index=1,
               duration_s=6.0, width=160, height=120)  # fmt: skip
    if truncate:
        data = video.read_bytes()
        video.write_bytes(data[: len(data) // 2])
        video.with_suffix(".csv").unlink()
    loader = get_loader("generic", "demo", tmp_path / "data")
    (recording,) = loader.list_recordings()
    assert loader.random_access(recording)
    results = {}
    for threads in (1, 2):
        store = tmp_path / f"threads{threads}.zarr"
        try:
            prepare_recording(loader, recording, store, chunk_frames=16, threads=threads)
            results[threads] = _prepared_arrays(store)
        except InputError as exc:
            results[threads] = str(exc)
    if truncate:
        # 180 frames announced; the one-thread read decodes a number n < 180 of them.
        assert "180 frames announced" in results[1]
        assert results[2] == results[1]
    else:
        assert set(results[1]) == set(results[2])
        for name, array in results[1].items():
            assert array.shape[0] == 179  # T - 1 frame differences
            np.testing.assert_array_equal(results[2][name], array, err_msg=name)


def test_baseline_inputs_are_those_of_the_whole_clips_frames(
    clean_clip: tuple[Path, Path],
) -> None:
    """Prepared in blocks of 64 frames, the baselines' skin colour and head shifts equal
    the whole-clip functions applied to all the stored frames at once, to the last bit."""
    from distraction.baselines import motion_from_shifts, vertical_motion
    from distraction.masks import region_traces, skin_pixels, stable_skin_region

    _, store = clean_clip
    ds = open_group(store, "prepared")
    frames = ds["frames"].values
    stable = region_traces(frames, stable_skin_region(frames), empty="frame_mean")
    per_frame = region_traces(frames, skin_pixels(frames), empty="frame_mean")
    assert ds["skin_rgb_stable"].dims == ("time", "channel")
    np.testing.assert_array_equal(ds["skin_rgb_stable"].values, stable)
    np.testing.assert_array_equal(ds["skin_rgb_per_frame"].values, per_frame)
    np.testing.assert_array_equal(
        motion_from_shifts(ds["vertical_shift"].values, 30.0), vertical_motion(frames, 30.0)
    )


def test_evaluation_of_a_store_prepared_before_the_baseline_inputs_gives_the_same(
    clean_clip: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store without the stored baseline inputs (prepared by an earlier version): the
    evaluation computes them from the frames, block by block, to the same values."""
    from distraction import evaluate

    _, store = clean_clip
    ds = open_group(store, "prepared")
    stored = {
        region: evaluate._skin_colour_traces(store, region)
        for region in ("stable_skin", "per_frame_skin")
    }
    shifts = evaluate._vertical_shifts(store)
    monkeypatch.setattr(evaluate, "TRACE_VARIABLES", {r: "absent" for r in stored})
    monkeypatch.setattr(evaluate, "SHIFT_VARIABLE", "absent")
    for region, values in stored.items():
        np.testing.assert_array_equal(evaluate._skin_colour_traces(store, region), values)
    np.testing.assert_array_equal(evaluate._vertical_shifts(store), shifts)
    assert len(shifts) == ds.sizes["time"]
