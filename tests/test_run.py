"""End-to-end: `distraction run` on one video and on a flat folder of two (20-s clips)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from distraction.synth import write_clip
from distraction.timeline import HRV_COLUMNS, RATE_COLUMNS

pytestmark = pytest.mark.slow

CLIP = {"duration_s": 20.0, "width": 96, "height": 72, "seed": 2}


def distraction_run(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    command = [sys.executable, "-m", "distraction.cli", "run", *args, "--cores", "2"]
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr[-5000:]
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
    write_clip(video, tmp_path / "truth.csv", subject_index=4, condition="clean", **CLIP)
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


def test_run_on_a_flat_folder_of_two_videos(tmp_path: Path) -> None:
    folder = tmp_path / "videos"
    folder.mkdir()
    # One with its ground truth beside it (same stem), one without.
    write_clip(folder / "a.avi", folder / "a.csv", subject_index=5, condition="clean", **CLIP)
    write_clip(
        folder / "b.avi", tmp_path / "b_truth.csv", subject_index=6, condition="clean", **CLIP
    )
    out = tmp_path / "out"
    distraction_run(str(folder), "--out", str(out), "--task", "hr")
    with_truth, _, _ = _timeline(out, "a")
    without, _, _ = _timeline(out, "b")
    assert with_truth["true_rate"].notna().all() and without["true_rate"].isna().all()
    # The truth's rate lies beside the estimate (the plot shows both).
    assert abs(with_truth["rate"].median() - with_truth["true_rate"].median()) < 5
