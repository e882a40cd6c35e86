"""Tests for distraction.signals: analytic signals plus the authors' MATLAB intermediates."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from scipy import signal as ss

from distraction.signals import (
    butter_bandpass,
    butter_bandpass_filtfilt,
    condition_signal,
    detrend_smoothness_priors,
    filtfilt_matlab,
    resample_timestamps,
    resample_to_rate,
    scale_to_unit,
    zscore,
)

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "mmse_hr_sample"


def _dense_detrend(z: np.ndarray, lam: float) -> np.ndarray:
    """Tarvainen et al. 2002 written literally with dense matrices."""
    t = z.shape[0]
    d2 = np.zeros((t - 2, t))
    for i in range(t - 2):
        d2[i, i : i + 3] = [1.0, -2.0, 1.0]
    eye = np.eye(t)
    return (eye - np.linalg.inv(eye + lam**2 * d2.T @ d2)) @ z


def test_detrend_matches_dense_formula() -> None:
    rng = np.random.default_rng(0)
    z = np.cumsum(rng.standard_normal(80))
    for lam in (1.0, 10.0, 50.0):
        np.testing.assert_allclose(
            detrend_smoothness_priors(z, lam), _dense_detrend(z, lam), atol=1e-8
        )


def test_detrend_multichannel_matches_per_channel() -> None:
    rng = np.random.default_rng(1)
    z = rng.standard_normal((50, 3))
    out = detrend_smoothness_priors(z, 20.0)
    assert out.shape == (50, 3)
    for c in range(3):
        np.testing.assert_allclose(out[:, c], _dense_detrend(z[:, c], 20.0), atol=1e-8)


def test_detrend_removes_linear_trend_exactly() -> None:
    t = np.arange(500, dtype=float)
    np.testing.assert_allclose(detrend_smoothness_priors(3.0 + 0.02 * t, 50.0), 0.0, atol=1e-8)


def test_detrend_keeps_fast_oscillation() -> None:
    fs, lam, f = 25.0, 50.0, 1.2
    t = np.arange(1000) / fs
    pulse = np.sin(2 * np.pi * f * t)
    out = detrend_smoothness_priors(pulse + 0.5 * t, lam)
    # Away from the ends the method is the zero-phase high-pass
    # H(w) = lam^2 (2 - 2 cos w)^2 / (1 + lam^2 (2 - 2 cos w)^2): 0.953 at 1.2 Hz.
    q = lam**2 * (2 - 2 * np.cos(2 * np.pi * f / fs)) ** 2
    np.testing.assert_allclose(out[200:-200], q / (1 + q) * pulse[200:-200], atol=1e-3)


def test_detrend_long_signal_is_fast() -> None:
    x = np.random.default_rng(2).standard_normal(100_000)
    start = time.perf_counter()
    out = detrend_smoothness_priors(x, 50.0)
    assert time.perf_counter() - start < 2.0
    assert out.shape == x.shape and np.all(np.isfinite(out))


def test_filtfilt_matlab_padding_convention() -> None:
    b, a = butter_bandpass(30.0, 0.7, 2.5, order=3)
    x = np.random.default_rng(3).standard_normal(300)
    nfact = 3 * (max(len(a), len(b)) - 1)  # 18 for a 6th-order band-pass
    expected = ss.filtfilt(b, a, x, padtype="odd", padlen=nfact)
    np.testing.assert_allclose(filtfilt_matlab(b, a, x), expected, atol=1e-12)
    # ...which is not scipy's default padding.
    assert np.max(np.abs(ss.filtfilt(b, a, x) - expected)) > 1e-6


def test_filtfilt_requires_length_above_nfact() -> None:
    b, a = butter_bandpass(30.0, 0.7, 2.5, order=3)
    with pytest.raises(ValueError):
        filtfilt_matlab(b, a, np.ones(18))
    assert filtfilt_matlab(b, a, np.ones(19)).shape == (19,)


def test_bandpass_passes_in_band_and_kills_out_of_band() -> None:
    fs = 30.0
    t = np.arange(int(40 * fs)) / fs
    mid = slice(150, -150)
    inband = np.sin(2 * np.pi * 1.5 * t)
    out = butter_bandpass_filtfilt(inband, fs, 0.7, 2.5)
    np.testing.assert_allclose(out[mid], inband[mid], atol=0.02)
    for f in (0.1, 6.0):
        out = butter_bandpass_filtfilt(np.sin(2 * np.pi * f * t), fs, 0.7, 2.5)
        assert np.max(np.abs(out[mid])) < 0.02


def test_bandpass_rejects_bad_band() -> None:
    with pytest.raises(ValueError):
        butter_bandpass_filtfilt(np.zeros(100), 30.0, 2.5, 0.7)
    with pytest.raises(ValueError):
        butter_bandpass_filtfilt(np.zeros(100), 4.0, 0.7, 2.5)


def test_resample_to_rate_length_and_values() -> None:
    t_in = np.arange(861) / 25.0
    out = resample_to_rate(np.sin(2 * np.pi * 1.0 * t_in), 25.0, 30.0)
    assert out.shape == (1034,)  # ceil(861 * 6 / 5), as MATLAB resample
    t_out = np.arange(out.size) / 30.0
    np.testing.assert_allclose(out[60:-60], np.sin(2 * np.pi * t_out[60:-60]), atol=5e-3)
    same = np.arange(10.0)
    np.testing.assert_array_equal(resample_to_rate(same, 30.0, 30.0), same)


def test_resample_timestamps_linear_exact() -> None:
    t = np.array([0.0, 0.03, 0.07, 0.1, 0.2, 0.21, 0.3])
    out = resample_timestamps(2.0 * t + 1.0, t, 30.0)
    grid = np.arange(10) / 30.0
    np.testing.assert_allclose(out, 2.0 * grid + 1.0)


def test_scale_and_zscore() -> None:
    x = np.array([2.0, -1.0, 4.0, 0.0])
    np.testing.assert_allclose(scale_to_unit(x), [0.2, -1.0, 1.0, -0.6])
    np.testing.assert_allclose(scale_to_unit(x, method="maxabs"), [0.5, -0.25, 1.0, 0.0])
    np.testing.assert_array_equal(scale_to_unit(np.full(5, 3.0)), np.zeros(5))
    z = zscore(x)
    # mean 1.25, sample std sqrt(((0.75)^2 + 2.25^2 + 2.75^2 + 1.25^2) / 3)
    sd = np.sqrt((0.75**2 + 2.25**2 + 2.75**2 + 1.25**2) / 3)
    np.testing.assert_allclose(z, (x - 1.25) / sd)


def test_condition_signal_analytic() -> None:
    fs = 25.0
    t = np.arange(int(40 * fs)) / fs
    pulse = np.sin(2 * np.pi * 1.2 * t)
    out = condition_signal(
        pulse + 0.3 * t, fs, band=(0.7, 2.5), lam=50, fs_out=30.0, integrate=False
    )
    assert out.shape == (1200,)
    assert np.max(np.abs(out)) == pytest.approx(1.0)
    spec = np.abs(np.fft.rfft(out, 3600))
    assert np.argmax(spec) * 30.0 / 3600 * 60 == pytest.approx(72.0)
    # Integration: the CAN predicts the derivative; cumsum of a cosine is a sine again.
    deriv = np.cos(2 * np.pi * 1.2 * t)
    out2 = condition_signal(deriv, fs, band=(0.7, 2.5), lam=50, fs_out=30.0, integrate=True)
    spec2 = np.abs(np.fft.rfft(out2, 3600))
    assert np.argmax(spec2) * 30.0 / 3600 * 60 == pytest.approx(72.0)


@pytest.fixture(scope="module")
def noise_red() -> dict[str, np.ndarray]:
    if not (SAMPLE / "noise_red.mat").is_file():
        pytest.skip("reference sample not available")
    h5py = pytest.importorskip("h5py")
    with h5py.File(SAMPLE / "noise_red.mat", "r") as f:
        names = [
            "yptest_sub",
            "yptest_sub2",
            "yptest_sub2_resamp",
            "mask_noise_red_mean",
            "mask_noise_red_mean2",
            "mask_noise_red_mean2_resamp",
        ]
        return {k: f[k][()].ravel() for k in names}


def test_reproduces_authors_can_conditioning(noise_red: dict[str, np.ndarray]) -> None:
    # The CAN output is float32 and MATLAB's cumsum stays in single precision.
    raw = noise_red["yptest_sub"]
    assert raw.dtype == np.float32
    mid = butter_bandpass_filtfilt(
        zscore(detrend_smoothness_priors(np.cumsum(raw), 50.0)), 25.0, 0.7, 2.5, order=1
    )
    np.testing.assert_allclose(mid, noise_red["yptest_sub2"], atol=1e-9)
    out = condition_signal(raw, 25.0, band=(0.7, 2.5), lam=50.0, fs_out=30.0, integrate=True)
    np.testing.assert_allclose(out, noise_red["yptest_sub2_resamp"], atol=1e-9)


def test_reproduces_authors_trace_conditioning(noise_red: dict[str, np.ndarray]) -> None:
    raw = noise_red["mask_noise_red_mean"]
    mid = butter_bandpass_filtfilt(
        zscore(detrend_smoothness_priors(raw, 50.0)), 25.0, 0.7, 2.5, order=1
    )
    np.testing.assert_allclose(mid, noise_red["mask_noise_red_mean2"], atol=1e-9)
    out = condition_signal(raw, 25.0, band=(0.7, 2.5), lam=50.0, fs_out=30.0, integrate=False)
    np.testing.assert_allclose(out, noise_red["mask_noise_red_mean2_resamp"], atol=1e-9)
