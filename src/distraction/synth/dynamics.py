"""Per-frame motion and illumination of a clip (the exact corruption a clip gets)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from distraction.synth.physiology import Physiology, zscore
from distraction.synth.presets import Corruption

__all__ = ["REF_HEIGHT", "SceneDynamics", "Subject", "scene_dynamics", "smooth_noise"]

#: Motion amplitudes are specified in pixels at this frame height and scaled.
REF_HEIGHT = 320.0


class Subject(Protocol):
    """What the dynamics read of a subject (a drawn identity or a photographed one)."""

    @property
    def face_height(self) -> float:
        """Face height over frame height."""
        ...

    @property
    def breath_motion_px(self) -> float:
        """Peak-to-peak breathing motion, pixels at :data:`REF_HEIGHT`."""
        ...


@dataclass(frozen=True, eq=False)
class SceneDynamics:
    """Per-frame parameters of a rendered clip (the exact corruption applied).

    Attributes
    ----------
    time : ndarray
        Frame times, seconds.
    pulse : ndarray
        Normalised PPG at frame times (peak-to-peak about 1).
    head_shift : ndarray
        (n, 2) head translation (x, y) in pixels, breathing included.
    head_angle_deg : ndarray
        In-plane head rotation, degrees.
    shake : ndarray
        (n, 2) camera shake (x, y), pixels.
    light_rgb : ndarray
        (n, 3) global multiplicative illumination per channel (intensity, colour,
        flicker), 1 = nominal.
    ambient_rgb : ndarray
        (n, 3) additive ambient light, grey levels.
    gradient : ndarray
        (n, 2) linear illumination gradient (x, y components, relative per half frame).
    spot : ndarray
        (n, 3) light spot (x, y in [-1, 1], relative strength).
    flicker_hz : float or None
        Flicker frequency, or None without flicker.
    flicker_amplitude : float
        Relative flicker amplitude (0 without flicker).
    flicker_rgb : ndarray
        (3,) relative modulation depth of the flicker per channel (mean 1).
    background_rgb : ndarray
        (n, 3) multiplicative light of the background only, 1 = nominal.
    background_flicker_hz : float or None
        Frequency of the background-only flicker, or None without it.
    flicker_phase : ndarray or None
        (n,) phase of the flicker at the frame centre, radians (None without flicker).
    flicker_space : tuple of float or None
        ``(direction, depth_gradient, phase_gradient)`` of the flicker's spatial change
        (direction in radians from the +x axis, image y down), or None when it is uniform:
        ``light_rgb`` holds the flicker at the frame centre, and at position ``s`` along
        the direction (frame edges ±1) the modulation is
        ``1 + flicker_amplitude · flicker_rgb · (1 + depth_gradient · s) · sin(flicker_phase
        + phase_gradient · s)``.
    """

    time: np.ndarray
    pulse: np.ndarray
    head_shift: np.ndarray
    head_angle_deg: np.ndarray
    shake: np.ndarray
    light_rgb: np.ndarray
    ambient_rgb: np.ndarray
    gradient: np.ndarray
    spot: np.ndarray
    flicker_hz: float | None
    flicker_amplitude: float
    flicker_rgb: np.ndarray
    background_rgb: np.ndarray
    background_flicker_hz: float | None
    flicker_phase: np.ndarray | None = None
    flicker_space: tuple[float, float, float] | None = None


def smooth_noise(rng: np.random.Generator, n: int, fs: float, cutoff_hz: float) -> np.ndarray:
    """Zero-mean, unit-std Gaussian noise low-passed with a Gaussian of ``cutoff_hz``."""
    m = 2 * n + 16  # padding avoids the circular wrap of the FFT filter
    spectrum = np.fft.rfft(rng.standard_normal(m))
    freqs = np.fft.rfftfreq(m, 1.0 / fs)
    spectrum *= np.exp(-0.5 * (freqs / max(cutoff_hz, 1e-6)) ** 2)
    spectrum[0] = 0.0
    out = np.fft.irfft(spectrum, m)[:n]
    out = out - out.mean()
    std = float(out.std())
    return out / std if std > 0 else out


def _draw_flicker_hz(
    rng: np.random.Generator,
    band_hz: tuple[float, float],
    min_distance: float,
    mean_rate: float,
    rate_name: str,
) -> float:
    lo, hi = band_hz
    for _ in range(1000):
        f = float(rng.uniform(lo, hi))
        if abs(60.0 * f - mean_rate) >= min_distance:
            return f
    raise ValueError(
        f"no flicker frequency in {lo}-{hi} Hz is {min_distance} /min "
        f"away from {rate_name.upper()} {mean_rate:.1f}"
    )


def _sinusoidal_light(
    rng: np.random.Generator,
    time: np.ndarray,
    *,
    band_hz: tuple[float, float],
    amplitude: tuple[float, float],
    tint: float,
    min_distance: float,
    mean_rate: float,
    rate_name: str,
) -> tuple[float, float, np.ndarray, np.ndarray, np.ndarray]:
    """A coloured sinusoidal light change: frequency (kept ``min_distance`` per minute from
    ``mean_rate``), amplitude, per-channel depth (mean 1), the (n, 3) modulation
    ``1 + amplitude · sin(2π f t + φ) · depth`` and its (n,) phase ``2π f t + φ``. Draws in
    this order: frequency, amplitude, phase, then the colour only when ``tint > 0``."""
    hz = _draw_flicker_hz(rng, band_hz, min_distance, mean_rate, rate_name)
    amp = float(rng.uniform(*amplitude))
    phase = rng.uniform(0.0, 2 * np.pi)
    depth = np.ones(3)
    if tint > 0:
        u = rng.uniform(-1.0, 1.0, 3)
        depth = 1.0 + tint * (u - u.mean())
    theta = 2 * np.pi * hz * (time - time[0]) + phase
    return hz, amp, depth, 1.0 + amp * np.sin(theta)[:, None] * depth, theta


def scene_dynamics(
    identity: Subject,
    physiology: Physiology,
    corruption: Corruption,
    *,
    width: int,
    height: int,
    fps: float,
    seed: int,
) -> SceneDynamics:
    """Draw the per-frame motion and illumination of a clip.

    Frames are at ``time[0] + i / fps`` up to the last physiology sample.  This is
    what :func:`render_frames` applies; it is public so that tests and benchmarks
    know the exact corruption (e.g. the flicker frequency).

    Parameters
    ----------
    identity : Subject
        Subject appearance (breathing motion amplitude).
    physiology : Physiology
        Source of the pulse and respiration waveforms.
    corruption : Corruption
        Corruption parameters.
    width, height : int
        Frame size, pixels.
    fps : float
        Frame rate, Hz.
    seed : int
        Random seed.

    Returns
    -------
    SceneDynamics
    """
    del width  # motion scales with height only (pixels at 320 px height)
    t_phys = physiology.time
    n = int(np.floor((t_phys[-1] - t_phys[0]) * fps + 1e-6)) + 1
    time = t_phys[0] + np.arange(n) / fps
    ss = np.random.SeedSequence([seed, 3])
    # A new stream goes last: child i of a SeedSequence does not depend on how many are
    # spawned, so clips rendered before it existed stay identical.
    r_motion, r_shake, r_light, r_flicker, r_ambient, r_grad, r_background, r_space = (
        np.random.default_rng(s) for s in ss.spawn(8)
    )
    px = height / REF_HEIGHT

    # Pulse normalised so a sinusoid of the same power has peak-to-peak 1.
    pulse = np.interp(time, t_phys, zscore(physiology.ppg)) / (2 * np.sqrt(2))
    resp = np.interp(time, t_phys, zscore(physiology.resp)) / (2 * np.sqrt(2))

    # Head: breathing lifts the head on inhalation (image y grows downwards).
    head = np.zeros((n, 2))
    head[:, 1] = -identity.breath_motion_px * px * resp
    angle = np.zeros(n)
    face_px = identity.face_height * height
    if corruption.head_translation > 0:
        # Slow wandering plus a faster component (nodding, talking).
        slow = np.stack(
            [smooth_noise(r_motion, n, fps, corruption.head_motion_cutoff_hz) for _ in range(2)],
            axis=1,
        )
        fast = np.stack(
            [
                smooth_noise(r_motion, n, fps, 3.0 * corruption.head_motion_cutoff_hz)
                for _ in range(2)
            ],
            axis=1,
        )
        head += corruption.head_translation * face_px * (0.85 * slow + 0.3 * fast)
    if corruption.head_rotation_deg > 0:
        angle = corruption.head_rotation_deg * smooth_noise(
            r_motion, n, fps, corruption.head_motion_cutoff_hz
        )
    shake = np.zeros((n, 2))
    if corruption.camera_shake_px > 0:
        # Hand / tripod tremor: broadband up to several Hz.
        shake = (
            corruption.camera_shake_px
            * px
            * np.stack([smooth_noise(r_shake, n, fps, 6.0) for _ in range(2)], axis=1)
        )

    # Global illumination: intensity and colour drift, quick steps, flicker.
    intensity = np.ones(n)
    if corruption.intensity_drift > 0:
        intensity += corruption.intensity_drift * smooth_noise(
            r_light, n, fps, corruption.drift_cutoff_hz
        )
    for _ in range(corruption.illumination_steps):
        t0 = r_light.uniform(time[0], time[-1])
        dur = r_light.uniform(0.3, 2.0)
        amp = corruption.step_amplitude * r_light.uniform(0.4, 1.0) * r_light.choice([-1, 1])
        intensity += amp * 0.5 * (1.0 + np.tanh((time - t0) / (dur / 4.0)))
    colour = np.ones((n, 3))
    if corruption.colour_drift > 0:
        for c in range(3):
            colour[:, c] += corruption.colour_drift * smooth_noise(
                r_light, n, fps, corruption.drift_cutoff_hz
            )
    flicker_hz: float | None = None
    flicker_amp = 0.0
    flicker = np.ones((n, 3))
    flicker_rgb = np.ones(3)
    flicker_phase: np.ndarray | None = None
    flicker_space: tuple[float, float, float] | None = None
    if corruption.flicker_amplitude[1] > 0:
        if corruption.flicker_avoids not in ("hr", "br"):
            raise ValueError(f"flicker_avoids: 'hr' or 'br', got {corruption.flicker_avoids!r}")
        avoided = physiology.hr if corruption.flicker_avoids == "hr" else physiology.br
        flicker_hz, flicker_amp, flicker_rgb, flicker, flicker_phase = _sinusoidal_light(
            r_flicker,
            time,
            band_hz=corruption.flicker_band_hz,
            amplitude=corruption.flicker_amplitude,
            tint=corruption.flicker_tint,
            min_distance=corruption.flicker_min_distance_bpm,
            mean_rate=float(np.mean(avoided)),
            rate_name=corruption.flicker_avoids,
        )
        if corruption.flicker_depth_gradient != 0 or corruption.flicker_phase_gradient != 0:
            flicker_space = (
                float(r_space.uniform(0.0, 2 * np.pi)),
                float(corruption.flicker_depth_gradient),
                float(corruption.flicker_phase_gradient),
            )
    light_rgb = np.clip(intensity, 0.2, None)[:, None] * colour * flicker

    # Additive ambient light (e.g. a second, differently coloured source).
    ambient = np.zeros((n, 3))
    if corruption.ambient_level > 0:
        tint = r_ambient.uniform(0.7, 1.3, 3)
        level = 1.0 + corruption.ambient_drift * smooth_noise(
            r_ambient, n, fps, corruption.drift_cutoff_hz
        )
        ambient = corruption.ambient_level * 255.0 * np.clip(level, 0.0, None)[:, None] * tint

    # Spatially non-uniform light: a linear gradient whose direction turns slowly,
    # plus a broad light spot that wanders.
    direction = r_grad.uniform(0.0, 2 * np.pi)
    if corruption.light_motion > 0:
        direction = direction + corruption.light_motion * smooth_noise(
            r_grad, n, fps, corruption.drift_cutoff_hz
        )
    direction = np.broadcast_to(direction, (n,))
    gradient = corruption.light_gradient * np.stack([np.cos(direction), np.sin(direction)], 1)
    spot = np.zeros((n, 3))
    if corruption.spot_strength > 0:
        spot[:, 0] = np.clip(0.6 * smooth_noise(r_grad, n, fps, corruption.drift_cutoff_hz), -1, 1)
        spot[:, 1] = np.clip(0.6 * smooth_noise(r_grad, n, fps, corruption.drift_cutoff_hz), -1, 1)
        spot[:, 2] = corruption.spot_strength
    background_rgb = np.ones((n, 3))
    background_hz: float | None = None
    if corruption.background_flicker_amplitude[1] > 0:
        background_hz, _, _, background_rgb, _ = _sinusoidal_light(
            r_background,
            time,
            band_hz=corruption.background_flicker_band_hz,
            amplitude=corruption.background_flicker_amplitude,
            tint=corruption.background_flicker_tint,
            min_distance=corruption.flicker_min_distance_bpm,
            mean_rate=float(np.mean(physiology.hr)),
            rate_name="hr",
        )
    return SceneDynamics(
        time=time,
        pulse=pulse,
        head_shift=head,
        head_angle_deg=angle,
        shake=shake,
        light_rgb=light_rgb,
        ambient_rgb=ambient,
        gradient=gradient,
        spot=spot,
        flicker_hz=flicker_hz,
        flicker_amplitude=flicker_amp,
        flicker_rgb=flicker_rgb,
        background_rgb=background_rgb,
        background_flicker_hz=background_hz,
        flicker_phase=flicker_phase,
        flicker_space=flicker_space,
    )
