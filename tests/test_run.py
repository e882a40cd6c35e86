"""End-to-end: `distraction run` on one video, on a flat folder of three (one broken;
20-s clips, clean and under flicker), with `distraction.estimate()` giving the same rates on
each clip, and a run interrupted and resumed with the same command."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import distraction
from distraction.timeline import HRV_COLUMNS, RATE_COLUMNS

pytestmark = pytest.mark.slow

CLIP = {"duration_s": 20.0, "width": 320, "height": 240, "seed": 2}
#: A demo face (a validation identity: no shipped network trained on it); the shipped HR
#: networks were trained on photographed people.
FACE = (
    Path(__file__).resolve().parents[1] / "src" / "distraction" / "synth" / "faces" / "face_035.jpg"
)


def write_clip(video: Path, truth: Path, *, subject_index: int, condition: str, **clip) -> None:
    """A clip of the photographed demo face in a drawn scene (the scene drawn per subject)."""
    from distraction.synth.photo import write_photo_clip

    write_photo_clip(
        FACE, video, truth, condition=condition, subject_index=subject_index, scene="varied",
        **clip,
    )  # fmt: skip


def _command(*args: str) -> tuple[list[str], dict[str, str]]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    return [sys.executable, "-m", "distraction.cli", "run", *args, "--cores", "2"], env


def distraction_run(*args: str, status: int = 0) -> subprocess.CompletedProcess[str]:
    command, env = _command(*args)
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    assert result.returncode == status, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def _timeline(out: Path, video: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    folder = out / "videos" / "timeline" / "hr"
    assert (folder / f"{video}.rates.png").stat().st_size > 1000
    return tuple(
        pd.read_csv(folder / f"{video}.{kind}.csv") for kind in ("rates", "waveforms", "hrv")
    )


def test_run_on_one_video_without_ground_truth(tmp_path: Path) -> None:
    video = tmp_path / "in" / "my clip.avi"
    video.parent.mkdir()
    write_clip(video, tmp_path / "truth.csv", subject_index=2, condition="clean", **CLIP)
    out = tmp_path / "out"
    result = distraction_run(str(video), "--out", str(out))
    assert str(out / "videos" / "timeline" / "hr") in result.stdout
    rates, waveforms, hrv = _timeline(out, "my clip")
    assert list(rates.columns) == RATE_COLUMNS and len(rates) == 10
    assert rates["quality_db"].notna().all() and rates["true_rate"].isna().all()
    true_hr = pd.read_csv(tmp_path / "truth.csv")["hr"].median()
    assert abs(rates["rate"].median() - true_hr) < 3
    assert {"time_s", "can", "denoised"} <= set(waveforms.columns) and len(waveforms) > 500
    assert list(hrv.columns) == HRV_COLUMNS
    # Shorter than one 30-s evaluation window: evaluation is skipped, the run is not.
    assert (out / "reports" / "summary.csv").exists()
    assert (out / "config.yaml").exists()
    # The headline: one row, printed and written; no error table or plot without truth.
    estimates = pd.read_csv(out / "reports" / "estimates.csv")
    assert estimates[["video", "task", "status"]].values.tolist() == [["my clip", "hr", "ok"]]
    assert abs(estimates["median_rate"].iloc[0] - true_hr) < 3
    assert "videos/my clip" in result.stdout and "1 video(s), none failed." in result.stdout
    assert pd.read_csv(out / "reports" / "summary.csv").empty
    assert list((out / "reports" / "agreement").glob("*.png")) == []
    # estimate() on the same video: the same rates, window by window.
    api = distraction.estimate(video).hr.rates
    for column in ("rate", "peak_rate", "quality_db", "pulse_db"):
        assert np.allclose(rates[column], api[column], atol=0.05, equal_nan=True), column
    # The jobs' log lines (a lone video's jobs run in the command's process) are in the
    # log file, not on the terminal.
    assert "INFO timeline " not in result.stdout + result.stderr
    assert "INFO timeline " in (out / "logs" / "run.log").read_text()


def test_run_on_a_flat_folder_with_a_broken_video(tmp_path: Path) -> None:
    folder = tmp_path / "videos"
    folder.mkdir()
    # One with its ground truth beside it (same stem), one without, one not a video.
    write_clip(folder / "a.avi", folder / "a.csv", subject_index=5, condition="clean", **CLIP)
    write_clip(
        folder / "b.avi", tmp_path / "b_truth.csv", subject_index=6, condition="flicker", **CLIP
    )
    (folder / "broken.avi").write_bytes(b"\x00" * 4096)
    out = tmp_path / "out"
    result = distraction_run(str(folder), "--out", str(out), "--task", "hr", status=2)
    assert "1 of 3 videos failed" in result.stdout + result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("distraction run: error:")
    estimates = pd.read_csv(out / "reports" / "estimates.csv").set_index("video")
    assert estimates["status"].to_dict() == {"a": "ok", "b": "ok", "broken": "failed"}
    assert "broken.avi" in estimates.loc["broken", "reason"]
    # Allowed, the same run exits 0 (nothing left to do).
    distraction_run(str(folder), "--out", str(out), "--keep-going-on-bad-videos")
    with_truth, _, _ = _timeline(out, "a")
    without, _, _ = _timeline(out, "b")
    assert with_truth["true_rate"].notna().all() and without["true_rate"].isna().all()
    # The truth's rate lies beside the estimate (the plot shows both).
    assert abs(with_truth["rate"].median() - with_truth["true_rate"].median()) < 5
    # estimate() on each clip (clean with its truth, flicker without): the run's rates,
    # window by window (with the one-video test: three clips, two conditions).
    for name, run_rates in (("a", with_truth), ("b", without)):
        api = distraction.estimate(folder / f"{name}.avi").hr.rates
        assert len(api) == len(run_rates) == 10
        for column in ("rate", "peak_rate", "quality_db", "pulse_db", "true_rate"):
            assert np.allclose(run_rates[column], api[column], atol=0.05, equal_nan=True), (
                f"{name}: {column}"
            )
        assert api["rate"].notna().any(), name


def test_an_interrupted_run_resumes_with_the_same_command(tmp_path: Path) -> None:
    # A folder goes through Snakemake (a lone video runs in the command's process: below).
    folder = tmp_path / "videos"
    folder.mkdir()
    video = folder / "clip.avi"
    # Long enough that the run is still busy when it is interrupted (its first job runs).
    long_clip = {**CLIP, "duration_s": 40.0}
    write_clip(video, folder / "clip.csv", subject_index=4, condition="clean", **long_clip)
    out = tmp_path / "out"
    locks = out / ".snakemake" / "locks"

    def started(source: Path, busy) -> subprocess.Popen[str]:
        command, env = _command(str(source), "--out", str(out))
        # As in a terminal's foreground, whatever the tests run in: a shell's background
        # job (a suite started with `&`) ignores SIGINT, and its children inherit that.
        process = subprocess.Popen(
            command, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )  # fmt: skip
        deadline = time.monotonic() + 120
        while not busy():
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        return process

    def snakemake_busy() -> bool:
        # Interrupted while the video's first job runs: Snakemake holds its lock then.
        return locks.is_dir() and any(locks.iterdir()) and any(out.rglob("prepare/*.log"))

    # Ctrl-C (the terminal interrupts the whole foreground group): one line, no traceback,
    # and Snakemake releases its lock. The run ends as interrupted whatever Snakemake
    # reports of the job the interrupt also stopped.
    process = started(folder, snakemake_busy)
    os.killpg(process.pid, signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err[-3000:]
    assert "Traceback" not in err and "the same command resumes the run" in err
    # Killed outright: Snakemake's lock stays behind; the same command resumes all the same.
    process = started(folder, snakemake_busy)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=60)
    assert any(locks.iterdir())
    result = distraction_run(str(folder), "--out", str(out))
    assert "resuming an interrupted run" in result.stdout
    estimates = pd.read_csv(out / "reports" / "estimates.csv")
    assert estimates["status"].tolist() == ["ok"]
    # The lone video in the command's own process: Ctrl-C while it prepares the video ends
    # the same way, and the same command then finishes it.
    out = tmp_path / "out_lone"
    run_log = out / "logs" / "run.log"
    process = started(video, lambda: run_log.is_file() and "prepare" in run_log.read_text())
    os.killpg(process.pid, signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err[-3000:]
    assert "Traceback" not in err and "the same command resumes the run" in err
    assert not (out / "reports" / "estimates.csv").exists()
    distraction_run(str(video), "--out", str(out))
    estimates = pd.read_csv(out / "reports" / "estimates.csv")
    assert estimates["status"].tolist() == ["ok"]
