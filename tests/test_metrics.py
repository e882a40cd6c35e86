"""Tests for distraction.metrics with analytic signals and hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from distraction.metrics import (
    normalise_for_evaluation,
    periodogram,
    periodogram_rate,
    snr_db,
    summarise,
    waveform_mae,
    window_metrics,
)

FS = 30.0


def _sine(f: float, seconds: float, amp: float = 1.0, fs: float = FS) -> np.ndarray:
    t = np.arange(round(seconds * fs)) / fs
    return amp * np.sin(2 * np.pi * f * t)


def test_periodogram_default_nfft_and_grid() -> None:
    f, p = periodogram(_sine(1.2, 30.0), FS)
    assert f.size == 3600 // 2 + 1  # nfft = 60 * 30 / 0.5
    assert f[1] == pytest.approx(30.0 / 3600)
    assert p.shape == f.shape


def test_periodogram_rate_of_sine() -> None:
    assert periodogram_rate(_sine(1.2, 30.0), FS, (0.7, 2.5)) == pytest.approx(72.0)
    noisy = _sine(1.2, 30.0) + 0.5 * np.random.default_rng(0).standard_normal(900)
    assert periodogram_rate(noisy, FS, (0.7, 2.5)) == pytest.approx(72.0)
    # The search is restricted to the band: a stronger 3 Hz component is ignored.
    mixed = _sine(1.2, 30.0) + _sine(3.0, 30.0, 3.0)
    assert periodogram_rate(mixed, FS, (0.7, 2.5)) == pytest.approx(72.0)


def test_snr_by_hand() -> None:
    # nfft = T puts each sine on one bin (36 cycles in 30 s -> bin 36 = 1.2 Hz), so the
    # periodogram powers are proportional to the squared amplitudes.
    x = _sine(1.2, 30.0, 2.0) + _sine(3.0, 30.0, 1.0)
    assert snr_db(x, FS, 72.0, nfft=900) == pytest.approx(20 * math.log10(4.0 / 1.0))
    # Adding the second harmonic (2.4 Hz) moves its power into S.
    x2 = x + _sine(2.4, 30.0, 1.0)
    assert snr_db(x2, FS, 72.0, nfft=900) == pytest.approx(20 * math.log10(5.0 / 1.0))
    # A component 0.133 Hz away from f0 is outside the ±0.1 Hz tolerance: noise.
    x3 = _sine(1.2, 30.0, 2.0) + _sine(1.2 + 4 / 30, 30.0, 1.0)
    assert snr_db(x3, FS, 72.0, nfft=900) == pytest.approx(20 * math.log10(4.0))
    # ...but inside a wider tolerance.
    assert snr_db(x3, FS, 72.0, nfft=900, tolerance_hz=0.15) > 200  # inf up to rounding
    # Outside the total band, power counts for nothing.
    x4 = _sine(1.2, 30.0, 2.0) + _sine(3.0, 30.0, 1.0) + _sine(6.0, 30.0, 5.0)
    assert snr_db(x4, FS, 72.0, nfft=900) == pytest.approx(20 * math.log10(4.0))


def test_snr_breathing_parameters() -> None:
    x = _sine(0.3, 60.0, 2.0) + _sine(0.8, 60.0, 1.0)
    got = snr_db(x, FS, 18.0, band_total=(0.08, 1.0), tolerance_hz=0.05, nfft=1800)
    assert got == pytest.approx(20 * math.log10(4.0))


def test_waveform_mae() -> None:
    assert waveform_mae([1.0, 2.0, 3.0], [1.5, 2.0, 1.0]) == pytest.approx(2.5 / 3)
    with pytest.raises(ValueError):
        waveform_mae([1.0, 2.0], [1.0])


def test_normalise_for_evaluation() -> None:
    x = _sine(1.5, 20.0, 5.0) + 2.0
    y = normalise_for_evaluation(x, FS, (0.7, 2.5))
    assert np.max(np.abs(y)) == pytest.approx(1.0)
    assert np.mean(y) == pytest.approx(0.0, abs=1e-12)


def test_window_metrics_sine() -> None:
    est = _sine(1.2, 65.0)
    truth = _sine(1.2, 65.0, 3.0)
    rates = np.full(65 * 1000, 72.0)
    rows = window_metrics(est, truth, rates, FS, window_s=30.0, band=(0.7, 2.5), rate_fs=1000)
    assert len(rows) == 2
    assert [r["start_s"] for r in rows] == [0.0, 30.0]
    for r in rows:
        assert r["true_rate"] == pytest.approx(72.0)
        assert r["est_rate"] == pytest.approx(72.0)
        assert r["waveform_mae"] == pytest.approx(0.0, abs=1e-6)
        assert r["snr_db"] > 20
    no_rates = window_metrics(est, truth, None, FS, window_s=30.0)
    assert no_rates[0]["true_rate"] == pytest.approx(72.0)
    no_truth = window_metrics(est, None, None, FS, window_s=30.0)
    assert no_truth[0]["true_rate"] is None
    assert no_truth[0]["snr_db"] is None and no_truth[0]["waveform_mae"] is None
    assert no_truth[0]["est_rate"] == pytest.approx(72.0)


def test_summarise_by_hand() -> None:
    s = summarise([60.0, 70.0, 80.0], [62.0, 68.0, 80.0])
    assert s["n"] == 3
    assert s["mae"] == pytest.approx(4 / 3)
    assert s["rmse"] == pytest.approx(math.sqrt(8 / 3))
    # centred true (-10, 0, 10), centred est (-8, -2, 10): r = 180 / sqrt(200 * 168)
    assert s["pearson_r"] == pytest.approx(180 / math.sqrt(200 * 168))


def test_summarise_small_and_missing() -> None:
    one = summarise([60.0], [63.0])
    assert one["n"] == 1 and one["mae"] == 3.0 and math.isnan(one["pearson_r"])
    none = summarise([], [])
    assert none["n"] == 0 and math.isnan(none["mae"]) and math.isnan(none["rmse"])
    dropped = summarise([60.0, None, 80.0], [61.0, 70.0, float("nan")])
    assert dropped["n"] == 1 and dropped["mae"] == 1.0
    const = summarise([70.0, 70.0], [71.0, 72.0])
    assert math.isnan(const["pearson_r"])


def test_window_short_by_one_frame_counts_only_with_a_shortfall_allowance() -> None:
    from distraction.metrics import window_metrics

    fs = 30.0
    t = np.arange(899) / fs  # 30 s minus the frame that differencing drops
    wave = np.sin(2 * np.pi * 1.2 * t)
    assert window_metrics(wave, wave, None, fs, window_s=30.0) == []
    (row,) = window_metrics(wave, wave, None, fs, window_s=30.0, shortfall_s=0.5)
    assert row["est_rate"] == pytest.approx(72.0, abs=0.5)
    assert row["end_s"] == pytest.approx(899 / 30.0)
