"""The denoising stage's selection: a window is replaced only where the replacement is clearer."""

from __future__ import annotations

import numpy as np
import pytest

from distraction.chain import select_by_quality, window_quality
from distraction.metrics import periodogram_rate
from distraction.settings import task_settings

SETTINGS = task_settings("hr")
FS = SETTINGS.fs_out


def _tone(hz: float, seconds: float, phase: float = 0.0) -> np.ndarray:
    t = np.arange(round(seconds * FS)) / FS
    return np.sin(2 * np.pi * hz * t + phase)


def test_a_tone_the_traces_share_scores_below_one_they_do_not():
    rng = np.random.default_rng(0)
    flicker, pulse = _tone(1.8, 10), _tone(1.2, 10)
    traces = np.column_stack([flicker, 0.5 * flicker + 0.1 * rng.standard_normal(flicker.size)])
    assert window_quality(flicker, traces, SETTINGS) < window_quality(pulse, traces, SETTINGS)
    # Without traces both are equally clean tones.
    assert window_quality(flicker, None, SETTINGS) == pytest.approx(
        window_quality(pulse, None, SETTINGS), abs=0.5
    )
    assert window_quality(np.zeros(300), traces, SETTINGS) == -np.inf


def test_selection_keeps_the_pulse_over_flicker_and_over_noise():
    rng = np.random.default_rng(1)
    pulse, flicker = _tone(1.2, 60), _tone(1.8, 60, 0.3)
    traces = np.column_stack([flicker, flicker])
    clean = pulse + 0.3 * rng.standard_normal(pulse.size)
    flickering = flicker + 0.3 * pulse
    noise = rng.standard_normal(pulse.size)
    for order in ([flickering, clean], [clean, flickering], [noise, clean]):
        out = select_by_quality(np.column_stack(order), SETTINGS, traces)
        assert periodogram_rate(out, FS) == pytest.approx(72.0, abs=1.0)
        assert np.abs(out).max() == pytest.approx(1.0)


def test_selection_switches_where_the_better_candidate_changes():
    rng = np.random.default_rng(2)
    pulse = _tone(1.25, 60)
    half = pulse.size // 2
    a = pulse + 0.2 * rng.standard_normal(pulse.size)
    b = pulse + 0.2 * rng.standard_normal(pulse.size)
    a[half:] = rng.standard_normal(pulse.size - half)  # a loses the pulse half way
    b[:half] = rng.standard_normal(half)  # b has it only in the second half
    out = select_by_quality(np.column_stack([a, b]), SETTINGS)
    for part in (out[: half - 150], out[half + 150 :]):
        assert periodogram_rate(part, FS) == pytest.approx(75.0, abs=1.5)
    # Either candidate alone is wrong in one half.
    assert periodogram_rate(a[half + 150 :], FS) != pytest.approx(75.0, abs=1.5)


def test_short_signals_come_back_as_the_first_candidate():
    x = np.column_stack([np.linspace(-2, 4, 50), np.ones(50)])
    out = select_by_quality(x, SETTINGS)
    np.testing.assert_allclose(out, x[:, 0] / 4.0)
    with pytest.raises(ValueError, match="candidates"):
        select_by_quality(np.ones(10), SETTINGS)
