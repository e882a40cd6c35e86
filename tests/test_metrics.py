"""Tests for distraction.metrics with analytic signals and hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from distraction.metrics import (
    bootstrap_mae_ci,
    bootstrap_mae_difference_ci,
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


def _two_sines(seconds: float = 30.0, noise_amp: float = 0.5) -> np.ndarray:
    # 1.2 Hz "signal" and a 3.0 Hz "noise" tone, both whole numbers of cycles.
    return _sine(1.2, seconds) + _sine(3.0, seconds, noise_amp)


def test_snr_conventions_by_hand() -> None:
    # With nfft = T both tones sit exactly on bins (no leakage): S/N = (1 / 0.5)^2 = 4.
    x = _two_sines()
    ratio_db = 10 * math.log10(4.0)  # 6.0206 dB
    power = snr_db(x, FS, 72.0, nfft=900, convention="power")
    reference = snr_db(x, FS, 72.0, nfft=900)
    assert power == pytest.approx(ratio_db, abs=1e-9)
    assert reference == pytest.approx(2 * ratio_db, abs=1e-9)
    assert snr_db(x, FS, 72.0, nfft=900, convention="reference") == reference
    with pytest.raises(ValueError, match="convention"):
        snr_db(x, FS, 72.0, convention="amplitude")  # type: ignore[arg-type]


def test_window_metrics_snr_columns() -> None:
    x = _two_sines(60.0)
    rows = window_metrics(x, None, np.full(1800, 72.0), FS, nfft=900, normalise=False)
    assert len(rows) == 2
    for row in rows:
        assert row["snr_db_conventional"] == pytest.approx(10 * math.log10(4.0), abs=1e-9)
        assert row["snr_db"] == pytest.approx(20 * math.log10(4.0), abs=1e-9)
    no_rate = window_metrics(x, None, None, FS)
    assert no_rate[0]["snr_db"] is None and no_rate[0]["snr_db_conventional"] is None


def test_window_metrics_stride_default_is_unchanged() -> None:
    rng = np.random.default_rng(3)
    est = _sine(1.2, 95.0) + 0.3 * rng.standard_normal(2850)
    truth = _sine(1.2, 95.0)
    rates = np.full(95_000, 72.0)
    kwargs = {"window_s": 30.0, "rate_fs": 1000.0}
    default = window_metrics(est, truth, rates, FS, **kwargs)
    explicit = window_metrics(est, truth, rates, FS, stride_s=30.0, **kwargs)
    assert [r["start_s"] for r in default] == [0.0, 30.0, 60.0]
    assert default == explicit


@pytest.mark.parametrize(
    ("n_samples", "shortfall_s", "starts", "last_end"),
    [
        (3000, 0.0, [0, 10, 20, 30, 40, 50, 60, 70], 100.0),  # 100 s: 70 + 30 = 100 fits
        (2999, 0.0, [0, 10, 20, 30, 40, 50, 60], 90.0),  # one sample short of the last
        (2999, 0.1, [0, 10, 20, 30, 40, 50, 60, 70], 2999 / 30),  # shortfall rule
        (899, 0.0, [], None),  # shorter than one window
    ],
)
def test_window_metrics_sliding_starts(
    n_samples: int, shortfall_s: float, starts: list[int], last_end: float | None
) -> None:
    x = _sine(1.2, n_samples / FS)
    assert x.size == n_samples
    rows = window_metrics(x, None, None, FS, stride_s=10.0, shortfall_s=shortfall_s)
    assert [r["start_s"] for r in rows] == pytest.approx(starts)
    if rows:
        assert rows[-1]["end_s"] == pytest.approx(last_end)
        assert all(r["est_rate"] == pytest.approx(72.0) for r in rows)


def test_window_metrics_sliding_rate_series_follows_windows() -> None:
    # The true rate steps from 60 to 90 bpm at 30 s; windows of 20 s every 10 s.
    rates = np.where(np.arange(60_000) < 30_000, 60.0, 90.0)
    rows = window_metrics(
        _sine(1.2, 60.0), None, rates, FS, window_s=20.0, stride_s=10.0, rate_fs=1000.0
    )
    assert [r["start_s"] for r in rows] == [0.0, 10.0, 20.0, 30.0, 40.0]
    assert [r["true_rate"] for r in rows] == [60.0, 60.0, 75.0, 90.0, 90.0]


def test_window_metrics_rejects_bad_stride() -> None:
    with pytest.raises(ValueError, match="stride_s"):
        window_metrics(_sine(1.2, 60.0), None, None, FS, stride_s=0.0)


def _slow_bootstrap(
    errors: list[float], groups: list[str], n: int, seed: int, other: list[float] | None = None
) -> np.ndarray:
    """The same resampling written as explicit loops (same generator calls)."""
    labels = sorted(set(groups))
    draws = np.random.default_rng(seed).integers(0, len(labels), size=(n, len(labels)))
    stats = []
    for draw in draws:
        total, count = 0.0, 0
        for g in draw:
            for i, label in enumerate(groups):
                if label == labels[g]:
                    total += abs(errors[i]) - (abs(other[i]) if other is not None else 0.0)
                    count += 1
        stats.append(total / count)
    return np.quantile(stats, [0.025, 0.975])


def test_bootstrap_mae_ci_two_groups_by_hand() -> None:
    # Resampled statistics: AA -> 1, AB/BA -> (1 + 1 + 3) / 3, BB -> 3; P(AA) = P(BB) = 1/4,
    # so the 2.5 % and 97.5 % quantiles are exactly 1 and 3.
    low, high = bootstrap_mae_ci([1.0, -1.0, 3.0], ["A", "A", "B"])
    assert (low, high) == (1.0, 3.0)


def test_bootstrap_mae_ci_equals_explicit_loop() -> None:
    rng = np.random.default_rng(7)
    groups = [f"s{k}" for k in rng.integers(0, 6, size=40)]
    errors = list(rng.normal(0.0, 3.0, size=40))
    expected = _slow_bootstrap(errors, groups, 300, seed=11)
    got = bootstrap_mae_ci(errors, groups, n_resamples=300, seed=11)
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    errors_b = list(rng.normal(0.0, 2.0, size=40))
    expected_diff = _slow_bootstrap(errors, groups, 300, seed=11, other=errors_b)
    got_diff = bootstrap_mae_difference_ci(errors, errors_b, groups, n_resamples=300, seed=11)
    np.testing.assert_allclose(got_diff, expected_diff, rtol=1e-12)


def test_bootstrap_mae_ci_deterministic_nan_and_degenerate() -> None:
    errors = [1.0, 2.0, np.nan, 4.0, 8.0]
    groups = [0, 0, 1, 1, 2]
    a = bootstrap_mae_ci(errors, groups, seed=3)
    assert a == bootstrap_mae_ci(errors, groups, seed=3)
    # The NaN window is dropped: the same as leaving it out.
    assert a == bootstrap_mae_ci([1.0, 2.0, 4.0, 8.0], [0, 0, 1, 2], seed=3)
    for one_group in (([1.0, 2.0], ["x", "x"]), ([np.nan, 2.0], ["x", "y"]), ([], [])):
        assert all(math.isnan(v) for v in bootstrap_mae_ci(*one_group))
    with pytest.raises(ValueError, match="groups"):
        bootstrap_mae_ci([1.0, 2.0], [0])
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_mae_ci([1.0, 2.0], [0, 1], confidence=1.0)
    with pytest.raises(ValueError, match="n_resamples"):
        bootstrap_mae_ci([1.0, 2.0], [0, 1], n_resamples=0)


def _subjects(n_subjects: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    # Each subject has its own bias (between-subject spread) and 10 noisy windows.
    rng = np.random.default_rng(seed)
    bias = rng.normal(0.0, 3.0, size=n_subjects)
    groups = np.repeat(np.arange(n_subjects), 10)
    return bias[groups] + rng.normal(0.0, 1.0, size=groups.size), groups


def test_bootstrap_mae_ci_contains_point_and_narrows() -> None:
    widths = []
    for n_subjects in (5, 80):
        errors, groups = _subjects(n_subjects, seed=n_subjects)
        low, high = bootstrap_mae_ci(errors, groups)
        assert low <= np.mean(np.abs(errors)) <= high
        widths.append(high - low)
    assert widths[1] < widths[0] / 2


def test_bootstrap_mae_difference_ci_ranks() -> None:
    errors, groups = _subjects(20, seed=1)
    better = 0.5 * errors  # a halves every error: a beats b
    low, high = bootstrap_mae_difference_ci(better, errors, groups)
    point = np.mean(np.abs(better)) - np.mean(np.abs(errors))
    assert low <= point <= high < 0
    # A constant offset of 1 on every window: every resample gives exactly 1.
    assert bootstrap_mae_difference_ci(np.abs(errors) + 1, errors, groups) == (
        pytest.approx(1.0),
        pytest.approx(1.0),
    )
    # Identical methods: the interval is the single point 0 (no claim either way).
    assert bootstrap_mae_difference_ci(errors, errors, groups) == (0.0, 0.0)
    # Pairing: a NaN in either method drops the window from both.
    a = np.array([1.0, np.nan, 2.0, 5.0])
    b = np.array([0.0, 9.0, 1.0, np.nan])
    assert bootstrap_mae_difference_ci(a, b, [0, 0, 1, 1]) == (1.0, 1.0)
