"""Tests of distraction.baselines on synthetic RGB traces with a known pulse."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import periodogram

from distraction.baselines import BR_BAND, HR_BAND, chrom, green, ica, pos

FS = 30.0
DURATION_S = 30.0
PULSE_HZ = 1.2  # 72 bpm
FLICKER_HZ = 1.7  # 102 bpm, inside the heart-rate band
SKIN_DC = np.array([160.0, 110.0, 90.0])
# Relative pulsatile strength per channel (green strongest), as in the brief.
PULSE_DIRECTION = np.array([0.33, 1.0, 0.55])


def synthetic_rgb(
    *, flicker: float = 0.0, pulse_hz: float = PULSE_HZ, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Skin colour x (1 + 0.5 % pulse) x (1 + slow illumination + flicker) + noise."""
    t = np.arange(int(DURATION_S * FS)) / FS
    pulse = np.sin(2 * np.pi * pulse_hz * t)
    illumination = 0.05 * np.sin(2 * np.pi * 0.05 * t + 0.3) + 0.02 * t / t[-1]
    illumination += flicker * np.sin(2 * np.pi * FLICKER_HZ * t)
    rgb = SKIN_DC * (1 + 0.005 * np.outer(pulse, PULSE_DIRECTION)) * (1 + illumination)[:, None]
    rgb += np.random.default_rng(seed).normal(0.0, 0.1, rgb.shape)
    return rgb, pulse


def peak_bpm(signal: np.ndarray, band: tuple[float, float] = HR_BAND) -> float:
    """Frequency of the periodogram's largest bin inside ``band``, in bpm (zero-padded)."""
    freqs, power = periodogram(signal - signal.mean(), fs=FS, nfft=2**15)
    inside = (freqs >= band[0]) & (freqs <= band[1])
    return 60.0 * freqs[inside][np.argmax(power[inside])]


METHODS = {
    "green": green,
    "ica": ica,
    "chrom": chrom,
    "pos": pos,
}


@pytest.mark.parametrize("name", list(METHODS))
def test_recovers_pulse_rate(name):
    rgb, pulse = synthetic_rgb()
    out = METHODS[name](rgb, FS)
    assert out.shape == (rgb.shape[0],)
    assert np.all(np.isfinite(out))
    assert abs(peak_bpm(out) - 72.0) < 2.0
    # Polarity convention: the output rises with the skin's reflected intensity.
    assert np.corrcoef(out, pulse)[0, 1] > 0.8


@pytest.mark.parametrize("name", ["chrom", "pos"])
def test_chrom_pos_cancel_common_intensity_flicker_where_green_fails(name):
    # A flicker equal in all channels, 4x the green pulse: the normalised channels
    # share it, and the CHROM/POS projections are orthogonal to it (CHROM via alpha ~ 1).
    rgb, _ = synthetic_rgb(flicker=0.02)
    assert abs(peak_bpm(green(rgb, FS)) - 60 * FLICKER_HZ) < 2.0
    assert abs(peak_bpm(METHODS[name](rgb, FS)) - 72.0) < 2.0


@pytest.mark.parametrize("name", ["chrom", "pos"])
def test_pure_intensity_change_gives_zero(name):
    # Identical relative changes in R, G, B: Xs = Ys (alpha = 1) and S1 = S2 = 0.
    t = np.arange(300) / FS
    rgb = SKIN_DC * (1 + 0.1 * np.sin(2 * np.pi * 1.3 * t) + 0.05 * t)[:, None]
    np.testing.assert_allclose(METHODS[name](rgb, FS), 0.0, atol=1e-12)


def test_green_and_ica_are_standardised():
    rgb, _ = synthetic_rgb()
    for out in (green(rgb, FS), ica(rgb, FS)):
        assert abs(out.mean()) < 1e-9
        assert out.std() == pytest.approx(1.0)


def test_ica_is_deterministic_for_a_seed():
    rgb, _ = synthetic_rgb()
    np.testing.assert_array_equal(ica(rgb, FS, seed=3), ica(rgb, FS, seed=3))


def test_ica_breathing_band():
    rgb, _ = synthetic_rgb(pulse_hz=0.25)  # 15 breaths/min
    assert abs(peak_bpm(ica(rgb, FS, band=BR_BAND), BR_BAND) - 15.0) < 1.0


def test_chrom_overlap_add_layout():
    # 1.6 s at 30 fps = 48 samples, hop 24: 100 samples hold 3 windows (to sample 96);
    # the last 4 samples are reached by no complete window and stay 0.
    rgb, _ = synthetic_rgb()
    out = chrom(rgb[:100], FS)
    np.testing.assert_array_equal(out[96:], 0.0)
    assert np.all(out[24:96] != 0.0)


@pytest.mark.parametrize("name", list(METHODS))
def test_rejects_bad_input(name):
    method = METHODS[name]
    with pytest.raises(ValueError, match="rgb"):
        method(np.ones((100, 4)), FS)
    bad = np.ones((100, 3))
    bad[5, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        method(bad, FS)
    with pytest.raises(ValueError, match="fs"):
        method(np.ones((100, 3)), 0.0)


def test_window_methods_need_one_window():
    rgb, _ = synthetic_rgb()
    for method in (chrom, pos):
        with pytest.raises(ValueError, match="window"):
            method(rgb[:20], FS)


def test_bands_have_one_home() -> None:
    import distraction.baselines as baselines
    import distraction.metrics as metrics

    assert baselines.HR_BAND is metrics.HR_BAND and baselines.BR_BAND is metrics.BR_BAND
    assert {"HR_BAND", "BR_BAND", "vertical_motion"} <= set(baselines.__all__)


def _shifted_texture(shifts_px: np.ndarray, size: int = 34) -> np.ndarray:
    """Crops of a smooth random texture moved vertically by ``shifts_px`` (down > 0)."""
    import cv2

    rng = np.random.default_rng(4)
    texture = cv2.GaussianBlur(rng.uniform(0, 255, (3 * size, 3 * size)), (0, 0), 2.0)
    frames = []
    for dy in shifts_px:
        moved = cv2.warpAffine(
            texture,
            np.array([[1.0, 0.0, 0.0], [0.0, 1.0, dy]]),
            texture.shape[::-1],
            flags=cv2.INTER_CUBIC,
            borderMode=cv2.BORDER_REFLECT,
        )
        frames.append(moved[size : 2 * size, size : 2 * size])
    return np.stack(frames)


@pytest.mark.parametrize(("breaths_per_min", "amplitude_px"), [(15.0, 0.15), (9.0, 0.5)])
def test_vertical_motion_recovers_known_sinusoid(
    breaths_per_min: float, amplitude_px: float
) -> None:
    from distraction.baselines import vertical_motion
    from distraction.metrics import periodogram_rate

    t = np.arange(int(60 * FS)) / FS
    shifts = amplitude_px * np.sin(2 * np.pi * breaths_per_min / 60 * t)
    frames = _shifted_texture(shifts)
    signal = vertical_motion(frames, FS)
    assert signal.shape == t.shape
    assert signal.mean() == pytest.approx(0.0, abs=1e-9)
    assert signal.std() == pytest.approx(1.0)
    assert periodogram_rate(signal, FS, BR_BAND) == pytest.approx(breaths_per_min)
    # Polarity: the output rises when the content moves up (negative image shift).
    assert np.corrcoef(signal, -shifts)[0, 1] > 0.95
    # RGB frames give the same result through BT.601 luma (up to float32 rounding).
    rgb = np.repeat(frames[..., None], 3, axis=-1)
    np.testing.assert_allclose(vertical_motion(rgb, FS), signal, atol=1e-3)  # float32 luma


def test_vertical_shifts_of_blocks_are_those_of_the_whole_clip() -> None:
    from distraction.baselines import vertical_shifts

    true_shifts = 0.4 * np.sin(np.arange(20) / 3)
    frames = _shifted_texture(true_shifts).astype(np.float32)
    whole = vertical_shifts(frames)
    assert whole[0] == 0.0  # nothing before the first frame
    np.testing.assert_allclose(whole[1:], np.diff(true_shifts), atol=0.1)
    blocks = [vertical_shifts(frames[:7]), vertical_shifts(frames[7:], frames[6])]
    np.testing.assert_array_equal(np.concatenate(blocks), whole)


def test_vertical_motion_rejects_bad_input() -> None:
    from distraction.baselines import vertical_motion

    with pytest.raises(ValueError, match="frames"):
        vertical_motion(np.zeros((10, 8)), FS)
    with pytest.raises(ValueError, match="frames"):
        vertical_motion(np.zeros((4, 8, 8)), FS)
    with pytest.raises(ValueError, match="fs"):
        vertical_motion(np.zeros((10, 8, 8)), 0.0)
