"""The quality index, the rate series and the timeline job (no ground truth needed)."""

from __future__ import annotations

import math

import numpy as np

from distraction.metrics import BR_SNR_BAND, quality_db, rate_series

FS = 30.0


def _time(seconds: float) -> np.ndarray:
    return np.arange(round(seconds * FS)) / FS


def test_quality_by_hand() -> None:
    # 10 s at 30 Hz without zero-padding: 0.1-Hz bins, and both tones complete whole cycles,
    # so each lies in one bin. The peak is 1.2 Hz (72/min); 3.5 Hz is in the total band
    # (0.7-4 Hz) but neither the peak nor its harmonic: quality = 10 log10(1 / 0.5**2).
    t = _time(10)
    x = np.sin(2 * np.pi * 1.2 * t) + 0.5 * np.sin(2 * np.pi * 3.5 * t)
    assert math.isclose(quality_db(x, FS, nfft=t.size), 10 * math.log10(4), abs_tol=1e-9)
    # The harmonic (2.4 Hz) counts as signal: only the 3.5-Hz tone is noise.
    y = x + 0.7 * np.sin(2 * np.pi * 2.4 * t)
    expected = 10 * math.log10((1 + 0.7**2) / 0.5**2)
    assert math.isclose(quality_db(y, FS, nfft=t.size), expected, abs_tol=1e-9)


def test_quality_separates_a_pulse_from_broadband_noise() -> None:
    rng = np.random.default_rng(0)
    t = _time(10)
    clean = np.sin(2 * np.pi * 1.3 * t) + 0.05 * rng.standard_normal(t.size)
    noisy = [rng.standard_normal(t.size) for _ in range(20)]
    # A 10-s rectangular window leaks about a tenth of a tone's power outside +-0.1 Hz
    # (its main lobe): a pure tone scores about 10 dB, not infinity.
    assert quality_db(clean, FS) > 8
    # White noise: the signal bands (0.4 Hz of 3.3 Hz) hold about an eighth of the power.
    noise_quality = [quality_db(x, FS) for x in noisy]
    assert max(noise_quality) < -2
    assert -10 < np.median(noise_quality) < -4
    # Breathing bands: a 0.25-Hz breath at 5 Hz against noise.
    tb = np.arange(300) / 5.0
    breath = np.sin(2 * np.pi * 0.25 * tb) + 0.05 * rng.standard_normal(tb.size)
    kw = {"band": (0.08, 0.5), "band_total": BR_SNR_BAND, "tolerance_hz": 0.05}
    assert quality_db(breath, 5.0, **kw) > 15
    assert quality_db(rng.standard_normal(tb.size), 5.0, **kw) < 0


def test_rate_series_follows_a_changing_rate() -> None:
    # 60/min for 20 s, then 90/min for 20 s: 10-s windows every 2 s.
    t = _time(40)
    f = np.where(t < 20, 1.0, 1.5)
    x = np.sin(2 * np.pi * np.cumsum(f) / FS)
    rows = rate_series(x, FS, window_s=10, step_s=2)
    assert len(rows) == 16
    assert [r["time_s"] for r in rows[:2]] == [5.0, 7.0]
    by_time = {r["time_s"]: r for r in rows}
    assert abs(by_time[9.0]["rate"] - 60) <= 1 and abs(by_time[31.0]["rate"] - 90) <= 1
    assert by_time[9.0]["quality_db"] > 10 and by_time[9.0]["true_rate"] is None
    # The window that straddles the change holds both rates: its quality is lower.
    assert by_time[21.0]["quality_db"] < by_time[9.0]["quality_db"] - 3


def test_a_failed_video_gets_empty_tables_and_a_note(tmp_path) -> None:
    import pandas as pd

    from distraction.settings import task_settings
    from distraction.store import write_failed_group
    from distraction.timeline import HRV_COLUMNS, RATE_COLUMNS, timeline_job

    store = tmp_path / "bad.zarr"
    failure = {"failed": "cannot decode any frame", "failed_stage": "prepare", "dataset": "d"}
    for group in ("prepared", "denoised_hr"):
        write_failed_group(store, group, {**failure, "recording": "bad"})
    out = {kind: tmp_path / f"bad.{kind}.csv" for kind in ("rates", "waveforms", "hrv")}
    summary = timeline_job(store, task_settings("hr"), **out, figure=tmp_path / "bad.rates.png")
    assert "failed: prepare failed: cannot decode any frame" in summary
    assert list(pd.read_csv(out["rates"]).columns) == RATE_COLUMNS
    hrv = pd.read_csv(out["hrv"])
    assert list(hrv.columns) == HRV_COLUMNS and hrv["status"].tolist() == ["failed"]
    assert (tmp_path / "bad.rates.png").stat().st_size > 1000


def test_windows_without_a_face_or_a_pulse_get_a_reason() -> None:
    from distraction.settings import task_settings
    from distraction.timeline import face_fractions, window_reasons

    # Frames at 10 fps for 4 s; the face is lost from 2 s on.
    times = np.arange(40) / 10
    found = (times < 2.0).astype(np.uint8)
    face = face_fractions(times, found, np.array([0.0, 1.0, 1.5, 2.0]), np.array([2, 3, 3.5, 4]))
    assert face.tolist() == [1.0, 0.5, 0.25, 0.0]
    settings = task_settings("hr", min_quality_db=1.5, min_pulse_db=-3.0)
    reasons = window_reasons(
        np.array([5.0, 5.0, 5.0, 1.0, 5.0, np.nan]),
        np.array([0.0, 0.0, 0.0, 0.0, -4.0, 0.0]),
        np.array([1.0, 0.5, 0.25, 1.0, 1.0, 1.0]),
        settings,
    )
    assert reasons[:3] == ["", "", "no face"]
    assert reasons[3] == reasons[5] == "quality below 1.5 dB"
    assert reasons[4] == "no pulse at this rate in the video (below -3 dB)"
