"""Bad input: each case gives one clear line naming the file and the problem."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from distraction.cli import main
from distraction.datasets import GroundTruth, get_loader
from distraction.errors import InputError
from distraction.prepare import prepare_recording
from distraction.validation import (
    check_recording,
    frame_rate_problems,
    ground_truth_problems,
    length_problems,
    timestamp_problems,
)


def write_video(
    path: Path, frames: int, fps: float = 30.0, size: tuple[int, int] = (48, 40)
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, size)
    rng = np.random.default_rng(0)
    for _ in range(frames):
        writer.write(rng.integers(60, 200, (size[1], size[0], 3), dtype=np.uint8))
    writer.release()


def write_truth(path: Path, duration_s: float, fs: float = 50.0, **columns: np.ndarray) -> None:
    time = np.arange(int(duration_s * fs)) / fs
    data = {"time": time, "ppg": np.sin(2 * np.pi * 1.2 * time), **columns}
    pd.DataFrame(data).to_csv(path, index=False)


def only_recording(root: Path):
    loader = get_loader("generic", "d", root)
    (recording,) = loader.list_recordings()
    return loader, recording


def test_pure_checks_with_hand_made_values() -> None:
    assert frame_rate_problems(30.0) == []
    assert frame_rate_problems(float("nan")) == ["unknown frame rate (nan)"]
    assert frame_rate_problems(0.0) == ["unknown frame rate (0.0)"]
    regular = np.arange(100) / 30.0
    assert timestamp_problems(regular, 30.0) == []
    # Every 10th interval doubled (dropped frames): 10 % irregular intervals.
    jittered = np.cumsum(np.where(np.arange(100) % 10 == 0, 2 / 30, 1 / 30))
    (problem,) = timestamp_problems(jittered, 30.0)
    assert problem.startswith("variable frame rate: frame intervals 33.3–66.7 ms")
    assert timestamp_problems([0.0, 0.1, 0.1], 10.0) == [
        "frame timestamps do not increase (at frame 2)"
    ]
    assert length_problems(0, 30.0, 30.0) == ["video has zero frames"]
    assert length_problems(600, 30.0, 30.0) == [
        "only 600 frames (20.0 s), shorter than one evaluation window (30 s)"
    ]


def truth(duration: float, fs: float, **kw: np.ndarray) -> GroundTruth:
    time = np.arange(int(duration * fs)) / fs
    return GroundTruth(
        time=time,
        ppg=kw.get("ppg", np.zeros_like(time)),
        resp=None,
        hr=None,
        br=None,
        source=Path("gt.csv"),
    )


def test_ground_truth_checks() -> None:
    assert ground_truth_problems(truth(30.0, 60.0), 30.0) == []
    assert ground_truth_problems(truth(30.0, 1000.0), 30.0) == []  # another rate is fine
    assert ground_truth_problems(truth(20.0, 60.0), 30.0) == [
        "ground truth covers 0.0–20.0 s of a 30.0 s video"
    ]
    (longer,) = ground_truth_problems(truth(60.0, 60.0), 30.0)
    assert longer.startswith("ground truth lasts 60.0 s but the video only 30.0 s")
    ppg = np.zeros(1800)
    ppg[:360] = np.nan  # 20 %
    assert ground_truth_problems(truth(30.0, 60.0, ppg=ppg), 30.0) == [
        "ground truth 'ppg' is 20 % NaN (at most 5 % is bridged by interpolation)"
    ]


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("truncated", r"truncated or corrupted: 90 frames announced, \d+ decode"),
        ("garbage", "cannot open video|video has no frames|cannot decode"),
        ("short", r"only 60 frames \(2\.0 s\), shorter than one evaluation window \(30 s\)"),
        ("truth_short", r"ground truth covers 0\.0–1\.0 s of a 3\.0 s video"),
        ("subject", "ground truth is for subject s99, not s01"),
    ],
)
def test_bad_recordings_are_named(tmp_path: Path, case: str, expected: str) -> None:
    video = tmp_path / "s01" / "rest.avi"
    if case == "garbage":
        video.parent.mkdir(parents=True)
        video.write_bytes(b"not a video at all" * 100)
    elif case == "truncated":
        write_video(video, 90)
        data = video.read_bytes()
        video.write_bytes(data[: len(data) // 2])
    else:
        write_video(video, 60 if case == "short" else 90)
    if case == "truth_short":
        write_truth(video.with_suffix(".csv"), 1.0)
    if case == "subject":
        write_truth(video.with_suffix(".csv"), 3.0, subject=np.array(["s99"] * 150))
    loader, recording = only_recording(tmp_path)
    min_duration = 30.0 if case == "short" else 0.0
    problems = check_recording(loader, recording, min_duration_s=min_duration)
    assert problems, case
    text = [str(p) for p in problems]
    assert any(pytest.importorskip("re").search(expected, t) for t in text), text
    assert all(t.startswith(str(tmp_path)) for t in text)  # each names its file
    if case in ("truncated", "truth_short", "subject"):
        # prepare refuses the same recording, leaving no group behind.
        store = tmp_path / "out.zarr"
        with pytest.raises(InputError, match=expected):
            prepare_recording(loader, recording, store)
        assert not (store / "prepared").exists()
        assert not list(store.glob(".prepared.*"))


def test_validate_reports_every_problem_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "data set ä"
    write_video(root / "s01" / "ok.avi", 90)
    write_truth(root / "s01" / "ok.csv", 3.0)
    write_video(root / "s02" / "short truth.avi", 90)
    write_truth(root / "s02" / "short truth.csv", 1.0)
    (root / "s03").mkdir()
    (root / "s03" / "broken.avi").write_bytes(b"garbage" * 50)
    out = tmp_path / "problems.csv"
    code = main(["validate", "--format", "generic", "--root", str(root), "--output", str(out)])
    assert code == 2
    err = capsys.readouterr().err
    assert "validate: 2 problems in 2 of 3 recordings" in err
    table = pd.read_csv(out)
    assert sorted(table["recording"]) == ["s02/short truth", "s03/broken"]


def test_missing_root_and_bad_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        f"datasets:\n  mine:\n    format: generic\n    root: {tmp_path / 'nowhere'}\n"
    )
    assert main(["validate", "--config", str(config)]) == 2
    assert (
        f"{tmp_path / 'nowhere'}: dataset root of 'mine' does not exist" in capsys.readouterr().err
    )
    config.write_text("datasets: {mine: {format: avi}}\n")
    assert main(["validate", "--config", str(config)]) == 2
    assert "datasets/mine/format: 'avi' is not one of" in capsys.readouterr().err
    config.write_text(
        "datasets: {demo: {format: synth}}\ntraining: {can_extra_datasets: {hr: [demo, demp]}}\n"
    )
    assert main(["validate", "--config", str(config)]) == 2
    assert (
        f"{config}: training/can_extra_datasets/hr: 'demp' is not a configured dataset"
        in capsys.readouterr().err
    )


def test_cli_prepare_handles_odd_names(tmp_path: Path) -> None:
    root = tmp_path / "root with 'quotes' & spaces"
    write_video(root / "sübject 1" / 'tâsk "a".avi', 40)
    store = tmp_path / "out dir" / "x.zarr"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "distraction.cli",
            "prepare",
            "--format",
            "generic",
            "--root",
            str(root),
            "--recording",
            'sübject 1/tâsk "a"',
            "--store",
            str(store),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert (store / "prepared" / "zarr.json").exists()
