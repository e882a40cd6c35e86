"""HRV from a pulse with known beat times: within 15 % of the truth, or withheld."""

from __future__ import annotations

import numpy as np
import pytest

from distraction.hrv import beat_times, hrv_measures, kept_intervals, time_domain
from distraction.metrics import normalise_for_evaluation

FS = 30.0
BAND = (0.7, 4.0)


def known_beats(seconds: float, seed: int) -> np.ndarray:
    """Beat times of a resting heart: 0.85 s mean interval, sinus arrhythmia at 0.25 Hz
    (±40 ms) and independent beat-to-beat changes (sd 25 ms)."""
    rng = np.random.default_rng(seed)
    beats = [0.5]
    while beats[-1] < seconds - 1.0:
        t = beats[-1]
        beats.append(t + 0.85 + 0.04 * np.sin(2 * np.pi * 0.25 * t) + rng.normal(0, 0.025))
    return np.asarray(beats)


def pulse_of(beats: np.ndarray, seconds: float, noise: float, seed: int) -> np.ndarray:
    """A camera-like pulse at 30 Hz: per beat a systolic wave and a smaller diastolic bump
    0.3 s later (the dicrotic wave), on a slow baseline, with white noise."""
    t = np.arange(int(seconds * FS)) / FS
    wave = np.zeros_like(t)
    for b in beats:
        wave += np.exp(-0.5 * ((t - b) / 0.08) ** 2) + 0.35 * np.exp(
            -0.5 * ((t - b - 0.3) / 0.1) ** 2
        )
    rng = np.random.default_rng(seed)
    return wave + 0.3 * np.sin(2 * np.pi * 0.1 * t) + noise * rng.normal(size=t.size)


def true_measures(beats: np.ndarray) -> tuple[float, float]:
    """RMSSD and SDNN (ms) of the true intervals, by their definitions."""
    nn = np.diff(beats) * 1000
    return float(np.sqrt(np.mean(np.diff(nn) ** 2))), float(np.std(nn, ddof=1))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rmssd_and_sdnn_within_15_percent_of_the_known_beats(seed: int) -> None:
    seconds = 60.0
    beats = known_beats(seconds, seed)
    pulse = normalise_for_evaluation(pulse_of(beats, seconds, 0.05, seed), FS, BAND)
    row = hrv_measures(pulse, FS, BAND, quality_db=8.0, min_quality_db=3.0)
    rmssd, sdnn = true_measures(beats)
    assert row["status"] == "ok", row["reason"]
    assert row["HRV_RMSSD"] == pytest.approx(rmssd, rel=0.15)
    assert row["HRV_SDNN"] == pytest.approx(sdnn, rel=0.15)
    # Every beat found once: no diastolic bump counted as a beat.
    assert abs(row["beats"] - beats.size) <= 1


def test_beat_times_are_refined_between_samples() -> None:
    beats = known_beats(30.0, 4)
    found = beat_times(normalise_for_evaluation(pulse_of(beats, 30.0, 0.0, 4), FS, BAND), FS, BAND)
    matched = np.array([found[np.argmin(np.abs(found - b))] for b in beats[1:-1]])
    # Half a sample is 17 ms; the parabola's vertex is well inside it (the band-pass
    # filter is zero-phase, so the peaks do not move).
    assert np.median(np.abs(matched - beats[1:-1])) < 0.008


def test_a_false_and_a_missed_beat_are_rejected_not_measured() -> None:
    beats = np.arange(30) * 0.8
    with_false = np.sort(np.r_[beats, beats[12] + 0.35])  # a bump counted as a beat
    missed = np.delete(beats, 20)
    for times in (with_false, missed):
        intervals, kept = kept_intervals(times)
        assert not kept[(intervals < 0.7) | (intervals > 0.9)].any()
        assert kept[(intervals > 0.79) & (intervals < 0.81)].sum() >= 25
        assert time_domain(intervals, kept)["HRV_RMSSD"] == pytest.approx(0.0, abs=1e-6)


def test_hrv_is_withheld_for_noise_and_for_low_quality() -> None:
    noise = np.random.default_rng(7).normal(size=int(60 * FS))
    row = hrv_measures(
        normalise_for_evaluation(noise, FS, BAND), FS, BAND, quality_db=9.0, min_quality_db=3.0
    )
    assert row["status"] == "withheld" and "beat intervals" in row["reason"]
    assert np.isnan(row["HRV_RMSSD"]) and np.isnan(row["HRV_SDNN"])
    beats = known_beats(60.0, 0)
    pulse = normalise_for_evaluation(pulse_of(beats, 60.0, 0.05, 0), FS, BAND)
    row = hrv_measures(pulse, FS, BAND, quality_db=1.5, min_quality_db=3.0)
    assert row["status"] == "withheld" and "below 3 dB" in row["reason"]
    assert np.isnan(row["HRV_RMSSD"])


def test_a_timeline_withholds_hrv_unless_it_is_turned_on() -> None:
    import pandas as pd

    from distraction.settings import task_settings
    from distraction.timeline import HRV_OFF, hrv_row

    beats = known_beats(60.0, 1)
    pulse = pulse_of(beats, 60.0, 0.05, 1)
    rates = pd.DataFrame({"reason": [""] * 5, "quality_db": [8.0] * 5})
    off = hrv_row(rates, pulse, FS, task_settings("hr"))
    assert off == {"status": "withheld", "reason": HRV_OFF}
    on = hrv_row(rates, pulse, FS, task_settings("hr", hrv=True))
    rmssd, sdnn = true_measures(beats)
    assert on["status"] == "ok", on["reason"]
    assert on["HRV_RMSSD"] == pytest.approx(rmssd, rel=0.15)
    assert on["HRV_SDNN"] == pytest.approx(sdnn, rel=0.15)
    # A window without a rate withholds it, turned on or not.
    rates.loc[2, "reason"] = "no face"
    assert hrv_row(rates, pulse, FS, task_settings("hr", hrv=True))["status"] == "withheld"
