"""Linear cancellation of the corruption described by the inverse-attention traces."""

from __future__ import annotations

import numpy as np
import pytest

from distraction.cancellation import cancel_corruption, corruption_regressors

FS = 30.0
T = np.arange(int(60 * FS)) / FS
PULSE_HZ, FLICKER_HZ = 1.2, 1.7


def _power_at(x: np.ndarray, hz: float) -> float:
    """Power of ``x`` at one frequency (projection on a sine and a cosine)."""
    basis = np.column_stack([np.sin(2 * np.pi * hz * T), np.cos(2 * np.pi * hz * T)])
    coef, *_ = np.linalg.lstsq(basis, x, rcond=None)
    return float(np.sum(coef**2))


def _scene(phase: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A pulse under a coloured flicker three times its amplitude.

    The traces see the flicker with a colour of their own (per-channel depth) plus sensor
    noise; the signal sees it with a gain and ``phase`` of its own (the CAN's response).
    """
    rng = np.random.default_rng(seed)
    pulse = np.sin(2 * np.pi * PULSE_HZ * T)
    flicker = np.cos(2 * np.pi * FLICKER_HZ * T)
    traces = np.outer(flicker, [0.7, 1.0, 0.4]) + 0.01 * rng.standard_normal((T.size, 3))
    signal = pulse + 3.0 * np.cos(2 * np.pi * FLICKER_HZ * T + phase) + 0.2
    return pulse, traces, signal


@pytest.mark.parametrize("phase", [0.0, 0.6, np.pi / 2, 2.5])
def test_a_flicker_the_traces_see_is_removed_whatever_its_phase(phase: float) -> None:
    pulse, traces, signal = _scene(phase)
    assert _power_at(signal, FLICKER_HZ) == pytest.approx(9.0, rel=0.01)
    result = cancel_corruption(signal, traces)
    out = result.signal
    # Scaled into [-1, 1] by its largest magnitude.
    assert np.abs(out).max() == pytest.approx(1.0)
    # The flicker is gone (over 40 dB down relative to the pulse), the pulse is intact
    # up to the traces' noise, which the fit carries over (more through the derivatives).
    assert _power_at(out, FLICKER_HZ) < 1e-4 * _power_at(out, PULSE_HZ)
    assert np.corrcoef(signal, pulse)[0, 1] < 0.35
    assert np.corrcoef(out, pulse)[0, 1] > 0.995
    # The flicker carried 9 / (9 + 1) of the variance (sines: variance = amplitude² / 2).
    assert result.explained == pytest.approx(0.9, abs=0.01)


def test_derivatives_are_what_remove_a_phase_shifted_flicker() -> None:
    # A flicker in quadrature with the traces is orthogonal to them: without their
    # derivatives, least squares could not remove any of it.
    pulse, traces, signal = _scene(np.pi / 2)
    regressors = corruption_regressors(traces)
    assert regressors.shape == (T.size, 7)
    without = np.column_stack([regressors[:, :3], regressors[:, 6]])
    coef, *_ = np.linalg.lstsq(without, signal, rcond=None)
    assert _power_at(signal - without @ coef, FLICKER_HZ) > 0.9 * 9.0
    assert np.corrcoef(cancel_corruption(signal, traces).signal, pulse)[0, 1] > 0.995


def test_traces_that_explain_nothing_leave_the_signal_as_it_was() -> None:
    rng = np.random.default_rng(4)
    pulse = np.sin(2 * np.pi * PULSE_HZ * T)
    unrelated = rng.standard_normal((T.size, 3))
    result = cancel_corruption(pulse, unrelated)
    # 7 regressors of white noise over 1800 samples explain about 7 / 1800 of the variance.
    assert result.explained < 0.02
    assert np.corrcoef(result.signal, pulse)[0, 1] > 0.99


def test_a_trace_without_variance_is_harmless() -> None:
    pulse, traces, signal = _scene(0.6)
    traces[:, 2] = 5.0  # e.g. a channel clipped to one value
    regressors = corruption_regressors(traces)
    assert np.all(regressors[:, [2, 5]] == 0)
    out = cancel_corruption(signal, traces).signal
    assert np.corrcoef(out, pulse)[0, 1] > 0.995


def test_bad_inputs_name_the_problem() -> None:
    _, traces, signal = _scene(0.0)
    with pytest.raises(ValueError, match="1799 samples for a signal of 1800"):
        cancel_corruption(signal, traces[1:])
    with pytest.raises(ValueError, match=r"signal: expected shape \(M,\)"):
        cancel_corruption(np.column_stack([signal, signal]), traces)
    with pytest.raises(ValueError, match=r"traces: expected shape"):
        cancel_corruption(signal, traces[:, 0])
    bad = signal.copy()
    bad[10] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        cancel_corruption(bad, traces)
