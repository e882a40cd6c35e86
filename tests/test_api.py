"""distraction.estimate() on rendered clips with known heart rate, and the quality index
on clean and heavily corrupted clips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import distraction
from distraction.errors import InputError
from distraction.synth import write_clip

CLIP = {"subject_index": 3, "duration_s": 20.0, "width": 96, "height": 72, "seed": 1}


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean and a heavily corrupted ('mixed': flicker, illumination, motion,
    compression) 20-s clip, each with its ground truth in a separate CSV."""
    root = tmp_path_factory.mktemp("api")
    for condition in ("clean", "mixed"):
        write_clip(
            root / f"{condition}.avi", root / f"{condition}.truth.csv", condition=condition, **CLIP
        )
    return root


def test_estimate_returns_the_rendered_heart_rate(clips: Path, tmp_path: Path) -> None:
    true_hr = pd.read_csv(clips / "clean.truth.csv")["hr"].median()
    result = distraction.estimate(clips / "clean.avi", store=tmp_path / "kept.zarr")
    assert isinstance(result, distraction.Estimate) and result.br is None
    rates = result.hr.rates
    # 10-s windows every second over 20 s (less the frame that differencing drops).
    assert len(rates) == 10 and rates["time_s"].iloc[0] == 5.0
    assert abs(result.hr.median_rate - true_hr) < 3
    assert rates["true_rate"].isna().all()  # no <stem>.csv beside the video
    waveforms = result.hr.waveforms
    assert {"time_s", "can", "denoised"} <= set(waveforms.columns)
    assert np.allclose(np.diff(waveforms["time_s"]), 1 / 30)
    assert result.store == tmp_path / "kept.zarr" and (result.store / "denoised_hr").is_dir()
    assert result.hr.hrv["status"].iloc[0] == "ok"


def test_quality_separates_clean_from_heavily_corrupted_clips(clips: Path) -> None:
    clean = distraction.estimate(clips / "clean.avi")
    corrupted = distraction.estimate(clips / "mixed.avi")
    assert clean.store is None  # the temporary store is gone
    q_clean = clean.hr.rates["quality_db"].median()
    q_corrupted = corrupted.hr.rates["quality_db"].median()
    assert q_clean > 5 and q_corrupted < 3 and q_clean - q_corrupted > 5
    # HRV only where the quality allows it.
    assert clean.hr.hrv["status"].iloc[0] == "ok"
    hrv = corrupted.hr.hrv.iloc[0]
    assert hrv["status"] == "skipped" and "below" in hrv["reason"]
    assert np.isnan(hrv["HRV_RMSSD"])


def test_estimate_refuses_what_is_not_a_video(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="video file not found"):
        distraction.estimate(tmp_path / "missing.avi")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(InputError, match="not a video"):
        distraction.estimate(tmp_path / "notes.txt")
    with pytest.raises(ValueError, match="task"):
        distraction.estimate(tmp_path / "notes.txt", task="spo2")
