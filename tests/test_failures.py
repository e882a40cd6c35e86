"""Any failure of one video, not only bad input, becomes a recorded failure: one line naming
the video and the problem, passed on by the later stages, listed by the aggregate (which
also says how many videos failed, and fails on request after writing its reports)."""

from __future__ import annotations

import errno
import logging
from pathlib import Path

import pandas as pd
import pytest
from test_validation import write_video

from distraction.cli import main
from distraction.store import open_group

WEIGHTS = Path(__file__).resolve().parents[1] / "src" / "distraction" / "weights"
GROUPS = ("can_hr", "corruption_hr", "denoised_hr")


def _prepare(root: Path, recording: str, store: Path) -> None:
    # Plain frames hold no face: the centre square, not the tracked face.
    args = ["prepare", "--format=generic", f"--root={root}", "--dataset=d", "--crop=centre"]
    assert main([*args, f"--recording={recording}", f"--store={store}", "--record-failures"]) == 0


def _infer(store: Path) -> None:
    args = ["infer", f"--store={store}", "--task=hr", "--engine=keras", "--record-failures"]
    args += [f"--can-model={WEIGHTS / 'hr_can.keras'}", f"--lstm-model={WEIGHTS / 'hr_lstm.keras'}"]
    assert main(args) == 0


def _evaluate(store: Path, tmp_path: Path, name: str) -> pd.Series:
    status = tmp_path / f"{name}.status.csv"
    args = ["evaluate", f"--store={store}", "--task=hr", f"--output={tmp_path / name}.csv"]
    assert main([*args, f"--status={status}", "--record-failures"]) == 0
    return pd.read_csv(status, dtype=str, keep_default_na=False).iloc[0]


def test_a_two_frame_video_is_a_recorded_failure_naming_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Two frames pass preparation (one frame difference), then the conditioning's filter
    # refuses the 1-sample signal with a ValueError naming no file: a bug-like exception,
    # which is recorded (traceback in the log) instead of crashing the job.
    root = tmp_path / "videos"
    write_video(root / "-s01" / "short.avi", 2)
    store = tmp_path / "store.zarr"
    _prepare(root, "-s01/short", store)
    with caplog.at_level(logging.ERROR):
        _infer(store)
    assert "Traceback" in caplog.text and "ValueError" in caplog.text
    video = str(root / "-s01" / "short.avi")
    assert "failed" not in open_group(store, "can_hr").attrs  # the CAN runs on one frame
    for group in GROUPS[1:]:
        attrs = open_group(store, group).attrs
        assert attrs["failed"].startswith(f"{video}: ValueError: ")
        assert "\n" not in attrs["failed"] and attrs["failed_stage"] == "corruption"
    status = _evaluate(store, tmp_path, "short")
    assert (status["status"], status["stage"], status["subject"]) == (
        "failed",
        "corruption",
        "-s01",
    )
    assert status["recording_task"] == "short" and status["reason"].startswith(video)
    # The aggregate lists it and says so in one line; with a maximum fraction of failed
    # videos it exits non-zero, but only after writing every report.
    outdir = tmp_path / "reports"
    statuses = [tmp_path / "short.status.csv"]
    aggregate = ["aggregate", f"--outdir={outdir}", "--inputs", str(tmp_path / "short.csv")]
    aggregate += ["--statuses", *map(str, statuses)]
    with caplog.at_level(logging.INFO):
        assert main(aggregate) == 0
    assert "aggregate: 1 of 1 videos failed (see failures.csv)" in caplog.text
    failures = pd.read_csv(outdir / "failures.csv", dtype=str)
    assert list(failures["video"]) == ["-s01/short"] and video in failures["reason"][0]
    (outdir / "summary.csv").unlink()
    assert main([*aggregate, "--max-failed-fraction=0.5"]) == 2
    assert (outdir / "summary.csv").exists()
    check = ["check-failures", f"--failures={outdir / 'failures.csv'}", "--statuses"]
    check += [*map(str, statuses), f"--output={tmp_path / 'check.txt'}"]
    assert main([*check, "--max-failed-fraction=1"]) == 0
    assert main([*check, "--max-failed-fraction=0.5"]) == 2


def test_a_full_disk_in_a_network_stage_names_the_video(
    prepared_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    import shutil

    from distraction import chain

    store = tmp_path / "full.zarr"
    shutil.copytree(prepared_store, store)

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(chain, "inverse_attention_traces", full_disk)
    _infer(store)
    source = open_group(store, "prepared").attrs["source"]
    reason = open_group(store, "denoised_hr").attrs["failed"]
    assert reason == f"{source}: OSError: [Errno 28] No space left on device"
    assert str(store) not in reason
    assert _evaluate(store, tmp_path, "full")["reason"] == reason


def test_evaluation_failure_is_a_failed_status_row(
    prepared_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from distraction import evaluate

    store = tmp_path / "eval.zarr"
    shutil.copytree(prepared_store, store)
    _infer(store)
    monkeypatch.setattr(evaluate, "method_signals", lambda *a: 1 / 0)
    status = _evaluate(store, tmp_path, "eval")
    assert (status["status"], status["stage"], status["subject"]) == ("failed", "evaluate", "s01")
    source = open_group(store, "prepared").attrs["source"]
    assert status["reason"] == f"{source}: ZeroDivisionError: division by zero"
    assert pd.read_csv(tmp_path / "eval.csv").empty


def test_a_failed_preparation_records_subject_and_task(tmp_path: Path) -> None:
    root = tmp_path / "videos"
    (root / "s02").mkdir(parents=True)
    (root / "s02" / "broken.avi").write_bytes(b"not a video" * 100)
    # Found by its loader: identity from the loader; not found: from the recording id.
    for recording, name in (("s02/broken", "broken"), ("s09/gone", "gone")):
        store = tmp_path / f"{name}.zarr"
        _prepare(root, recording, store)
        status = _evaluate(store, tmp_path, name)
        assert status["status"] == "failed" and status["stage"] == "prepare"
        assert (status["subject"], status["recording_task"]) == tuple(recording.split("/"))
    assert (
        str(root / "s02" / "broken.avi")
        in _evaluate(tmp_path / "broken.zarr", tmp_path, "b")["reason"]
    )
    assert "gone" in status["reason"]
