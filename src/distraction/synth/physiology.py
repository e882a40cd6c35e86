"""Simulated physiology (PPG and respiration with variable rates) and the seeds of a clip."""

from __future__ import annotations

import contextlib
import zlib
from dataclasses import dataclass

import neurokit2 as nk
import numpy as np

__all__ = [
    "BR_RANGE_BPM",
    "GROUND_TRUTH_FS",
    "HR_RANGE_BPM",
    "Physiology",
    "clip_seeds",
    "simulate_physiology",
    "zscore",
]

#: Physiological ranges used when no rate is given.
HR_RANGE_BPM: tuple[float, float] = (55.0, 110.0)
BR_RANGE_BPM: tuple[float, float] = (10.0, 22.0)

#: Internal simulation rate: high enough that neurokit's landmark rounding is negligible.
_SIM_FS = 400.0
#: Seconds simulated before and after the clip so that peak detection and rate
#: interpolation have no edge effects inside it.
_SIM_MARGIN_S = 15.0

#: Ground-truth sampling rate of written clips (deliberately not the video rate).
GROUND_TRUTH_FS = 100.0


@dataclass(frozen=True, eq=False)
class Physiology:
    """Simulated physiology sampled at a common rate.

    Attributes
    ----------
    time : ndarray
        Seconds from the start, ``arange(n) / fs``.
    ppg : ndarray
        Blood-volume pulse waveform, zero mean and unit variance.
    resp : ndarray
        Respiration waveform, zero mean and unit variance (inhalation up).
    hr : ndarray
        Instantaneous heart rate, beats per minute (from systolic peaks).
    br : ndarray
        Instantaneous breathing rate, breaths per minute (from inhalation peaks).
    fs : float
        Sampling rate, Hz.
    """

    time: np.ndarray
    ppg: np.ndarray
    resp: np.ndarray
    hr: np.ndarray
    br: np.ndarray
    fs: float


def zscore(x: np.ndarray) -> np.ndarray:
    std = float(np.std(x))
    return (x - np.mean(x)) / (std if std > 0 else 1.0)


def _rate(peaks: np.ndarray, n: int, fallback: float) -> np.ndarray:
    """Instantaneous rate (per minute) between peaks, interpolated to ``n`` samples."""
    if peaks.size < 3:  # cannot happen with the simulation margins; be safe anyway
        return np.full(n, fallback)
    return np.asarray(nk.signal_rate(peaks, sampling_rate=_SIM_FS, desired_length=n), float)


def simulate_physiology(
    duration_s: float,
    fs: float,
    seed: int,
    hr_bpm: float | None = None,
    br_bpm: float | None = None,
) -> Physiology:
    """Simulate PPG and respiration with variable rates (neurokit2).

    The PPG comes from :func:`neurokit2.ppg_simulate` (slow rate drift and
    beat-to-beat randomness) with respiratory sinus arrhythmia added by warping its
    time axis with the breathing; respiration comes from :func:`neurokit2.rsp_simulate`
    (BreathMetrics model, irregular breaths).  The
    instantaneous rates are derived from the detected systolic / inhalation peaks
    of the noise-free waveforms.  Signals are simulated at 400 Hz with a margin
    around the clip and then interpolated to ``fs``.

    Parameters
    ----------
    duration_s : float
        Duration, seconds (> 0).
    fs : float
        Output sampling rate, Hz.
    seed : int
        Random seed.
    hr_bpm, br_bpm : float, optional
        Mean heart rate (bpm) and breathing rate (breaths/min); drawn from 55–110
        and 10–22 when omitted.

    Returns
    -------
    Physiology
        ``n = round(duration_s * fs)`` samples at ``time = arange(n) / fs``.
    """
    if not duration_s > 0 or not fs > 0:
        raise ValueError(f"duration_s and fs must be positive, got {duration_s}, {fs}")
    rng = np.random.default_rng([seed, 2])
    hr = float(rng.uniform(*HR_RANGE_BPM)) if hr_bpm is None else float(hr_bpm)
    br = float(rng.uniform(*BR_RANGE_BPM)) if br_bpm is None else float(br_bpm)
    ppg_seed, rsp_seed = (int(s) for s in rng.integers(0, 2**31 - 1, 2))
    # Slow heart-rate drift (neurokit's "frequency modulation" at 0.05 Hz), beat-to-beat
    # randomness and respiratory sinus arrhythmia (RSA, added below) at rest-like levels.
    drift = float(rng.uniform(0.02, 0.05))
    ibi = float(rng.uniform(0.02, 0.06))
    rsa = float(rng.uniform(0.02, 0.05))
    # neurokit's drift always starts at the same phase: start the clip at a random point.
    offset = float(rng.uniform(_SIM_MARGIN_S, _SIM_MARGIN_S + 20.0))

    total_s = float(duration_s) + offset + _SIM_MARGIN_S
    n_sim = int(np.ceil(total_s * _SIM_FS))
    with contextlib.redirect_stdout(None):  # neurokit prints notes on skipped modulation
        rsp_sim = nk.rsp_simulate(
            duration=total_s,
            length=n_sim,
            sampling_rate=_SIM_FS,
            noise=0.0,
            respiratory_rate=br,
            random_state=rsp_seed,
        )
        # Simulated long enough to cover the RSA time warp below.
        ppg_raw = nk.ppg_simulate(
            duration=total_s * (1.0 + 2.0 * rsa) + 2.0,
            sampling_rate=_SIM_FS,
            heart_rate=hr,
            frequency_modulation=drift,
            ibi_randomness=ibi,
            drift=0.0,
            motion_amplitude=0.0,
            powerline_amplitude=0.0,
            burst_number=0,
            burst_amplitude=0.0,
            random_state=ppg_seed,
        )
    # RSA: the heart beats faster during inhalation.  Warping the time axis with
    # d(tau)/dt = 1 + rsa * resp couples the beat rate to the simulated breathing.
    resp_unit = zscore(np.asarray(rsp_sim, dtype=np.float64)) / np.sqrt(2.0)
    tau = np.concatenate([[0.0], np.cumsum(1.0 + rsa * resp_unit[:-1])]) / _SIM_FS
    ppg_sim = np.interp(tau, np.arange(ppg_raw.size) / _SIM_FS, ppg_raw)
    ppg_peaks = np.asarray(nk.ppg_findpeaks(ppg_sim, sampling_rate=_SIM_FS)["PPG_Peaks"])
    rsp_peaks = np.asarray(nk.rsp_peaks(rsp_sim, sampling_rate=_SIM_FS)[1]["RSP_Peaks"])
    hr_sim = _rate(ppg_peaks, n_sim, hr)
    br_sim = _rate(rsp_peaks, n_sim, br)

    n = round(duration_s * fs)
    time = np.arange(n) / fs
    t_sim = np.arange(n_sim) / _SIM_FS - offset

    def at(x: np.ndarray) -> np.ndarray:
        return np.interp(time, t_sim, np.asarray(x, dtype=np.float64))

    return Physiology(
        time=time,
        ppg=zscore(at(ppg_sim)),
        resp=zscore(at(rsp_sim)),
        hr=at(hr_sim),
        br=at(br_sim),
        fs=float(fs),
    )


def clip_seeds(seed: int, subject_index: int, condition: str) -> tuple[int, int]:
    """Physiology and rendering seeds of one clip, derived from its coordinates.

    Parameters
    ----------
    seed : int
        Dataset seed.
    subject_index : int
        Subject number.
    condition : str
        Condition name (hashed with CRC-32, which is stable across processes).

    Returns
    -------
    tuple of int
        ``(physiology_seed, render_seed)``.
    """
    ss = np.random.SeedSequence([seed, subject_index, zlib.crc32(condition.encode("utf-8"))])
    phys, render = ss.generate_state(2)
    return int(phys), int(render)
