"""Heart-rate variability from a camera pulse: beats with physiological constraints, or none.

A camera pulse at 30 Hz is smooth and noisy: a plain peak finder counts the small second
bumps of a beat (the dicrotic notch) and noise as beats, which shortens some intervals and
lengthens others and so inflates RMSSD and SDNN. Here a beat is a local maximum at least a
refractory period after the previous one (a fraction of the pulse's own period, from its
spectrum), its time refined between samples by a parabola through the three samples around
it; an interval is kept only when it is physiological and close to the median of its
neighbours; the measures use kept intervals only (RMSSD: successive pairs of kept
intervals). Where too many intervals are rejected, or too few remain, HRV is withheld with
the reason instead of being computed from what is left.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.signal import find_peaks

from distraction.metrics import periodogram_rate

__all__ = [
    "HRV_MEASURES",
    "beat_times",
    "hrv_measures",
    "kept_intervals",
    "time_domain",
]

#: The time-domain measures reported (milliseconds; pNN50 in %).
HRV_MEASURES = ("HRV_MeanNN", "HRV_SDNN", "HRV_RMSSD", "HRV_MinNN", "HRV_MaxNN", "HRV_pNN50")
#: The refractory period as a fraction of the pulse's dominant period: no heart beats twice
#: within 60 % of its mean interval (beat-to-beat changes stay well below 40 %).
REFRACTORY_FRACTION = 0.6
#: Intervals outside these bounds (s) are not heart beats (200 and 30 per minute).
INTERVAL_BOUNDS_S = (0.3, 2.0)
#: An interval further than this fraction from the median of its neighbours is rejected
#: (a missed or a false beat moves an interval by about half of it or more).
OUTLIER_FRACTION = 0.2
#: Neighbours on each side whose median an interval is compared with.
NEIGHBOURS = 3
#: HRV is withheld when fewer intervals are kept, or more than this fraction is rejected.
MIN_INTERVALS = 10
MAX_REJECTED_FRACTION = 0.1


def beat_times(pulse: ArrayLike, fs: float, band: tuple[float, float]) -> NDArray[np.float64]:
    """Beat times (s from the first sample) of a pulse waveform.

    Peaks at least :data:`REFRACTORY_FRACTION` of the dominant period apart (the
    periodogram peak in ``band``) and at least a quarter of the median peak prominence
    high, each refined to a fraction of a sample by the vertex of the parabola through it
    and its two neighbours.

    Parameters
    ----------
    pulse : array_like, shape (T,)
        Band-passed pulse waveform (peaks up).
    fs : float
        Its rate, Hz.
    band : (float, float)
        Band of plausible heart rates, Hz.

    Returns
    -------
    ndarray, shape (B,)
    """
    x = np.asarray(pulse, dtype=np.float64)
    if x.size < 3 or not np.all(np.isfinite(x)) or not np.any(x != x[0]):
        return np.zeros(0)
    period_s = 60.0 / periodogram_rate(x, fs, band)
    distance = max(1, int(REFRACTORY_FRACTION * period_s * fs))
    peaks, props = find_peaks(x, distance=distance, prominence=0.0)
    if peaks.size == 0:
        return np.zeros(0)
    peaks = peaks[props["prominences"] >= 0.25 * np.median(props["prominences"])]
    peaks = peaks[(peaks > 0) & (peaks < x.size - 1)]
    left, mid, right = x[peaks - 1], x[peaks], x[peaks + 1]
    curvature = left - 2 * mid + right
    with np.errstate(divide="ignore", invalid="ignore"):
        offset = np.where(curvature < 0, 0.5 * (left - right) / curvature, 0.0)
    return (peaks + np.clip(offset, -0.5, 0.5)) / fs


def kept_intervals(beats: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """The intervals between successive beats (s) and which of them are kept.

    An interval is kept when it lies within :data:`INTERVAL_BOUNDS_S` and within
    :data:`OUTLIER_FRACTION` of the median of the :data:`NEIGHBOURS` intervals on each
    side of it (itself excluded), and when neither of its neighbours is rejected: a false
    or a missed beat also moves the boundary of the intervals beside it.
    """
    intervals = np.diff(np.asarray(beats, dtype=np.float64))
    kept = (intervals >= INTERVAL_BOUNDS_S[0]) & (intervals <= INTERVAL_BOUNDS_S[1])
    for i in range(intervals.size):
        around = np.r_[intervals[max(0, i - NEIGHBOURS) : i], intervals[i + 1 : i + 1 + NEIGHBOURS]]
        if around.size:
            reference = np.median(around)
            kept[i] &= abs(intervals[i] - reference) <= OUTLIER_FRACTION * reference
    rejected = ~kept
    kept[1:] &= ~rejected[:-1]
    kept[:-1] &= ~rejected[1:]
    return intervals, kept


def time_domain(intervals: ArrayLike, kept: ArrayLike) -> dict[str, float]:
    """:data:`HRV_MEASURES` of the kept intervals (s in, ms out): RMSSD and pNN50 over the
    successive pairs whose two intervals are both kept."""
    nn = np.asarray(intervals, dtype=np.float64) * 1000.0
    keep = np.asarray(kept, dtype=bool)
    both = keep[1:] & keep[:-1]
    successive = np.diff(nn)[both]
    good = nn[keep]
    return {
        "HRV_MeanNN": float(np.mean(good)),
        "HRV_SDNN": float(np.std(good, ddof=1)),
        "HRV_RMSSD": float(np.sqrt(np.mean(successive**2))) if successive.size else math.nan,
        "HRV_MinNN": float(np.min(good)),
        "HRV_MaxNN": float(np.max(good)),
        "HRV_pNN50": float(100.0 * np.mean(np.abs(successive) > 50))
        if successive.size
        else math.nan,
    }


def hrv_measures(
    pulse: ArrayLike,
    fs: float,
    band: tuple[float, float],
    *,
    quality_db: float,
    min_quality_db: float,
) -> dict[str, Any]:
    """Time-domain HRV of a pulse waveform, or the reason it is withheld.

    Parameters
    ----------
    pulse : array_like, shape (T,)
        The denoised pulse, band-passed.
    fs : float
        Its rate, Hz.
    band : (float, float)
        Band of plausible heart rates, Hz.
    quality_db
        The pulse's quality index (the median over its timeline windows).
    min_quality_db
        Below this quality no beats are looked for (``timeline.hrv_min_quality_db``).

    Returns
    -------
    dict
        ``status`` (``ok`` or ``withheld``), ``reason``, ``quality_db``, ``beats``,
        ``intervals_kept`` and the :data:`HRV_MEASURES` (NaN when withheld).
    """
    row: dict[str, Any] = {
        "status": "withheld",
        "reason": "",
        "quality_db": quality_db,
        "beats": 0,
        "intervals_kept": 0,
        **dict.fromkeys(HRV_MEASURES, math.nan),
    }
    if not (np.isfinite(quality_db) and quality_db >= min_quality_db):
        row["reason"] = f"quality {quality_db:.1f} dB is below {min_quality_db:g} dB"
        return row
    beats = beat_times(pulse, fs, band)
    intervals, kept = kept_intervals(beats)
    row.update(beats=int(beats.size), intervals_kept=int(kept.sum()))
    if kept.sum() < MIN_INTERVALS:
        row["reason"] = f"{int(kept.sum())} clean beat intervals, fewer than {MIN_INTERVALS}"
        return row
    rejected = 1.0 - kept.mean()
    if rejected > MAX_REJECTED_FRACTION:
        row["reason"] = (
            f"{rejected:.0%} of the beat intervals are implausible (more than "
            f"{MAX_REJECTED_FRACTION:.0%}): the beats are not reliable"
        )
        return row
    row.update(time_domain(intervals, kept), status="ok")
    return row
