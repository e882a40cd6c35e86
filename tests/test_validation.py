"""Bad input: each case gives one clear line naming the file and the problem."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import yaml

from distraction.cli import main
from distraction.config import SCHEMA_PATH
from distraction.config_checks import printable
from distraction.datasets import GroundTruth, get_loader
from distraction.errors import InputError
from distraction.prepare import prepare_recording
from distraction.validation import (
    MAX_FPS,
    MIN_FPS,
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
    assert frame_rate_problems(15.0) == frame_rate_problems(60.0) == []
    # The synthetic datasets' fps setting has the same bounds.
    fps = yaml.safe_load(SCHEMA_PATH.read_text())["properties"]["datasets"]
    fps = fps["additionalProperties"]["properties"]["synth"]["properties"]["fps"]
    assert (fps["minimum"], fps["maximum"]) == (MIN_FPS, MAX_FPS) == (15, 60)
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
            prepare_recording(loader, recording, store, crop="centre")
        assert not (store / "prepared").exists()
        assert not list(store.glob(".prepared.*")) and not list(store.glob(".lock-*"))


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
            "--crop",
            "centre",  # plain frames hold no face to track
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert (store / "prepared" / "zarr.json").exists()


def _patch_avi(path: Path, offset_of: bytes, at: int, value: bytes) -> None:
    data = bytearray(path.read_bytes())
    start = data.find(offset_of) + at
    data[start : start + len(value)] = value
    path.write_bytes(bytes(data))


def write_fps_less_avi(path: Path, frames: int) -> None:
    """An MJPG AVI whose headers declare no rate (dwScale/dwRate 0, no frame period)."""
    write_video(path, frames)
    _patch_avi(path, b"avih", 8, bytes(4))  # dwMicroSecPerFrame
    _patch_avi(path, b"strh", 28, bytes(8))  # dwScale, dwRate of the video stream


def write_corrupt_mjpg(path: Path, frames: int) -> None:
    """An MJPG AVI with bytes of every third frame's entropy-coded data overwritten."""
    write_video(path, frames)
    data = bytearray(path.read_bytes())
    rng = np.random.default_rng(1)
    scans = [i for i in range(len(data) - 1) if data[i] == 0xFF and data[i + 1] == 0xDA]
    for scan in scans[::3]:
        for pos in scan + 20 + rng.integers(0, 300, 40):
            data[pos] = int(rng.integers(0, 255))
    path.write_bytes(bytes(data))


def test_variable_frame_rate_is_reported() -> None:
    # Container clocks of a phone video: 30 fps nominal, intervals between 20 and 60 ms.
    rng = np.random.default_rng(0)
    times = np.cumsum(rng.choice([0.02, 1 / 30, 0.06], size=300, p=[0.2, 0.6, 0.2]))
    (problem,) = timestamp_problems(times, 30.0)
    assert problem.startswith("variable frame rate: frame intervals 20.0–60.0 ms")


class _Clock:
    """A stand-in for cv2.VideoCapture that reports a fixed container time."""

    def __init__(self, msec: float) -> None:
        self.msec = msec

    def get(self, prop: int) -> float:
        assert prop == cv2.CAP_PROP_POS_MSEC
        return self.msec


def test_container_times_are_snapped_to_the_nominal_grid_only_when_on_it() -> None:
    from distraction.datasets.video import frame_time

    # MKV keeps whole milliseconds: 2/30 s is stored as 67 ms, and read back as 2/30.
    assert frame_time(_Clock(67.0), 2, 30.0, True) == 2 / 30
    assert frame_time(_Clock(0.0), 0, 30.0, True) == 0.0
    # A frame 15 ms late keeps its real time, so the variable rate shows.
    assert frame_time(_Clock(81.7), 2, 30.0, True) == pytest.approx(0.0817)
    # No container time (0 after the first frame): the nominal time.
    assert frame_time(_Clock(0.0), 5, 30.0, True) == 5 / 30
    # The fps option overrides the container's clock.
    assert frame_time(_Clock(81.7), 2, 30.0, False) == 2 / 30


def test_avi_without_frame_rate_is_refused(tmp_path: Path) -> None:
    video = tmp_path / "s01" / "rest.avi"
    write_fps_less_avi(video, 90)
    assert cv2.VideoCapture(str(video)).get(cv2.CAP_PROP_FPS) == 25.0  # FFmpeg's guess
    loader, recording = only_recording(tmp_path)
    (problem,) = check_recording(loader, recording)
    assert str(problem) == (
        f"{video}: video container declares no frame rate (FFmpeg would assume 25 fps); "
        "give the dataset's frame rate (loader option fps)"
    )
    with pytest.raises(InputError, match="declares no frame rate"):
        prepare_recording(loader, recording, tmp_path / "out.zarr", crop="centre")
    # The dataset may give the rate instead.
    loader = get_loader("generic", "d", tmp_path, fps=30.0)
    assert check_recording(loader, recording) == []


def test_corrupt_mjpeg_is_refused_in_one_line(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    video = tmp_path / "s01" / "rest.avi"
    write_corrupt_mjpg(video, 90)
    loader, recording = only_recording(tmp_path)
    assert loader.frame_count(recording) == 90
    capfd.readouterr()
    (problem,) = check_recording(loader, recording)
    assert problem.path == video
    assert problem.message.startswith("decoder reported ")
    assert "(corrupt frame data), first: [mjpeg]" in problem.message
    assert "\n" not in problem.message
    store = tmp_path / "out.zarr"
    with pytest.raises(InputError, match=r"rest\.avi: decoder reported \d+ errors") as caught:
        prepare_recording(loader, recording, store, crop="centre")
    assert "\n" not in str(caught.value)
    assert not (store / "prepared").exists()
    # The decoder's own messages did not reach the terminal.
    assert "mjpeg" not in capfd.readouterr().err


def test_validate_cli_lists_bad_videos_one_line_each(tmp_path: Path) -> None:
    root = tmp_path / "root"
    write_video(root / "s01" / "ok.avi", 90)
    write_fps_less_avi(root / "s02" / "nofps.avi", 90)
    write_corrupt_mjpg(root / "s03" / "corrupt.avi", 90)
    result = subprocess.run(
        [sys.executable, "-m", "distraction.cli", "validate", "--format=generic", f"--root={root}"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 3, result.stderr
    assert lines[0].startswith(f"{root / 's02' / 'nofps.avi'}: video container declares no")
    assert lines[1].startswith(f"{root / 's03' / 'corrupt.avi'}: decoder reported")
    assert "validate: 2 problems in 2 of 3 recordings" in lines[2]


def _ebml_number(data: bytes, at: int, *, keep_marker: bool) -> tuple[int, int]:
    """An EBML element ID (``keep_marker``) or size (variable-length integer) at ``at``."""
    length = 1
    while length <= 8 and not data[at] & (0x80 >> (length - 1)):
        length += 1
    value = data[at] if keep_marker else data[at] & ((0x80 >> (length - 1)) - 1)
    for byte in data[at + 1 : at + length]:
        value = (value << 8) | byte
    return value, length


def write_variable_rate_mkv(path: Path, frames: int) -> None:
    """An MJPG MKV at a nominal 30 fps whose block times are halved within each cluster
    (cv2 writes clusters of two frames: 0 and 33 ms become 0 and 16 ms)."""
    write_video(path, frames)
    data = bytearray(path.read_bytes())

    def walk(start: int, end: int) -> None:
        at = start
        while at < end:
            element, id_len = _ebml_number(data, at, keep_marker=True)
            size, size_len = _ebml_number(data, at + id_len, keep_marker=False)
            body = at + id_len + size_len
            if size == (1 << (7 * size_len)) - 1:  # unknown size: to the end of the parent
                size = end - body
            if element in (0x18538067, 0x1F43B675, 0xA0):  # Segment, Cluster, BlockGroup
                walk(body, min(body + size, end))
            elif element in (0xA3, 0xA1):  # SimpleBlock, Block: track, int16 time, ...
                _, track_len = _ebml_number(data, body, keep_marker=False)
                time_at = body + track_len
                (time,) = struct.unpack(">h", data[time_at : time_at + 2])
                data[time_at : time_at + 2] = struct.pack(">h", time // 2)
            at = body + size

    walk(0, len(data))
    path.write_bytes(bytes(data))


def test_variable_frame_rate_video_is_refused(tmp_path: Path) -> None:
    video = tmp_path / "s01" / "rest.mkv"
    write_variable_rate_mkv(video, 90)
    loader, recording = only_recording(tmp_path)
    assert loader.frame_rate(recording) == 30.0  # the container's nominal rate
    (problem,) = check_recording(loader, recording)
    assert str(problem).startswith(f"{video}: variable frame rate: frame intervals 16.0–")
    store = tmp_path / "out.zarr"
    with pytest.raises(InputError, match=r"rest\.mkv: variable frame rate"):
        prepare_recording(loader, recording, store, crop="centre")
    assert not (store / "prepared").exists()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("two\nlines", "the name holds control characters (\\n)"),
        ("x" * 240, "is 240 bytes; outputs add up to 17 bytes to it and a file name may have"),
    ],
)
def test_validate_refuses_names_the_workflow_cannot_carry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, expected: str
) -> None:
    root = tmp_path / "root"
    write_video(root / "s01" / f"{name}.avi", 40)
    write_video(root / "-s02" / "fine.avi", 40)  # carried: passed as --recording=-s02/fine
    assert main(["validate", "--format", "generic", "--root", str(root)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    shown = str(root / "s01" / f"{name}.avi").replace("\n", "\\n")
    assert err[0].startswith(f"{shown}: the name") and expected in err[0]
    assert err[-1].endswith("validate: 1 problems in 1 of 2 recordings (listed above)")


@pytest.mark.parametrize("fps", [5.0, 120.0])
def test_a_frame_rate_the_method_was_not_built_for_is_refused_in_one_line(
    tmp_path: Path, fps: float, capsys: pytest.CaptureFixture[str]
) -> None:
    from distraction.cli import main
    from distraction.store import open_group

    root = tmp_path / "videos"
    write_video(root / "s01" / "a.avi", 20, fps=fps)
    video = root / "s01" / "a.avi"
    expected = (
        f"{video}: frame rate {fps:g} fps is outside the 15-60 fps the method was built for "
        "(its networks at 30 fps); convert the video to 30 fps first (ffmpeg -i IN -r 30 OUT)"
    )
    assert main(["validate", "--format=generic", f"--root={root}"]) == 2
    assert capsys.readouterr().err.splitlines()[0] == expected
    store = tmp_path / "a.zarr"
    args = ["prepare", "--format=generic", f"--root={root}", "--recording=s01/a"]
    assert main([*args, f"--store={store}", "--crop=centre", "--record-failures"]) == 0
    record = open_group(store, "prepared").attrs
    assert record["failed"] == expected and record["failure_kind"] == "bad input"


def _awkward_dataset(root: Path) -> dict[str, str]:
    """A generic dataset of files the workflow cannot carry, with each one's problem."""
    (root / "s01").mkdir(parents=True)
    names = {
        "a{b}": "the name holds { }, which Snakemake reads in file names as wildcards",
        "x<y>": "the name holds < >, which Snakemake reads in file names as wildcards",
        "b" + "z" * 20: "the name ends in 20 repeats of 'z', which Snakemake refuses",
        "two\nlines": "the name holds control characters (\\n), which the workflow",
    }
    problems = {}
    for name, problem in names.items():
        write_video(root / "s01" / f"{name}.avi", 20)
        problems[printable(str(root / "s01" / f"{name}.avi"))] = problem
    (root / "s02").mkdir()
    (root / "s02" / "gone.avi").symlink_to(root / "nowhere.avi")
    problems[str(root / "s02" / "gone.avi")] = (
        f"symbolic link to {root / 'nowhere.avi'}, which does not exist"
    )
    return problems


def test_validate_names_each_file_the_workflow_cannot_carry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from distraction.cli import main

    problems = _awkward_dataset(tmp_path / "videos")
    assert main(["validate", "--format=generic", f"--root={tmp_path / 'videos'}"]) == 2
    lines = capsys.readouterr().err.splitlines()
    for path, problem in problems.items():
        assert any(line.startswith(f"{path}: {problem}") for line in lines), (path, lines)


def test_validate_names_a_linked_folder_of_the_folder_layout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from distraction.cli import main

    write_video(tmp_path / "elsewhere" / "a.avi", 40)
    write_video(tmp_path / "videos" / "b.avi", 40)
    (tmp_path / "videos" / "linked").symlink_to(tmp_path / "elsewhere")
    assert main(["validate", "--format=folder", f"--root={tmp_path / 'videos'}"]) == 2
    assert capsys.readouterr().err.splitlines()[0] == (
        f"{tmp_path / 'videos' / 'linked'}: symbolic link to a folder, which the folder layout "
        "does not follow: link the videos, or move the folder under the root"
    )


@pytest.mark.slow
def test_the_run_records_each_file_it_cannot_carry_as_a_failed_video(tmp_path: Path) -> None:
    # Before: a name with braces, angle brackets or a repeated tail stopped the whole run,
    # a dangling link was dropped without a word. Now each is a failed status row.
    import subprocess

    import pandas as pd
    import yaml
    from test_workflow import snakemake_command, snakemake_env

    problems = _awkward_dataset(tmp_path / "videos")
    config = tmp_path / "config.yaml"
    dataset = {"format": "generic", "root": str(tmp_path / "videos")}
    config.write_text(
        yaml.safe_dump({"results": str(tmp_path / "results"), "datasets": {"d": dataset}})
    )
    command = snakemake_command(tmp_path, config, "--until", "refused", cores=1)
    result = subprocess.run(
        command, capture_output=True, text=True, env=snakemake_env(), cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = pd.concat(
        pd.read_csv(path, dtype=str, keep_default_na=False)
        for path in (tmp_path / "results" / "d" / "refused" / "hr").glob("*.csv")
    )
    assert set(rows["status"]) == {"failed"} and len(rows) == len(problems)
    # Bad input, which the next run takes up once the file is fixed or renamed.
    assert set(rows["kind"]) == {"bad input"}
    assert set(rows["retry"]) == {
        "fix or rename the file as the reason says; the next run takes it up"
    }
    for path, problem in problems.items():
        assert any(reason.startswith(f"{path}: {problem}") for reason in rows["reason"]), path
    assert set(rows["video"]) == {
        "s01/a{b}", "s01/x<y>", "s01/b" + "z" * 20, "s01/two\\nlines", "s02/gone"
    }  # fmt: skip
