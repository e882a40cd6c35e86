"""Synthetic face videos with known physiology.

The renderer follows a simple physical image-formation model per pixel::

    value = gain * (L(t, x, y, c) * rho(x, y, c) * (1 + a_c * p(t) * skin(x, y)) + A_c(t)) + noise

with ``L`` the illumination (global intensity, colour, flicker and a spatially
non-uniform field), ``rho`` the reflectance of face and background, ``a_c`` the
per-channel pulse strength (green strongest), ``p`` the normalised PPG waveform,
``skin`` the skin weight, ``A_c`` additive ambient light and ``noise`` shot + read
sensor noise.  Illumination, ambient light and camera shake act on the *whole
frame*: background pixels carry the same corruption as the face, which is the
premise of inverse attention.

Rendering streams frames (:func:`render_frames`); :func:`write_clip` writes a real
video file, a ground-truth CSV (``time,ppg,resp,hr,br``) and the skin mask.
Everything is deterministic by seed.
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import neurokit2 as nk
import numpy as np
from scipy.special import ndtri

from distraction.atomic import atomic_path
from distraction.errors import InputError

__all__ = [
    "CONDITIONS",
    "GROUND_TRUTH_FS",
    "PULSE_CHANNEL_RATIO",
    "Corruption",
    "Identity",
    "Physiology",
    "SceneDynamics",
    "clip_seeds",
    "make_identity",
    "render_frames",
    "scene_dynamics",
    "simulate_physiology",
    "skin_mask",
    "write_clip",
]

#: Pulse strength of (R, G, B) relative to green (haemoglobin absorbs green most).
PULSE_CHANNEL_RATIO: tuple[float, float, float] = (0.33, 1.0, 0.55)

#: Physiological ranges used when no rate is given.
HR_RANGE_BPM: tuple[float, float] = (55.0, 110.0)
BR_RANGE_BPM: tuple[float, float] = (10.0, 22.0)

#: Internal simulation rate: high enough that neurokit's landmark rounding is negligible.
_SIM_FS = 400.0
#: Seconds simulated before and after the clip so that peak detection and rate
#: interpolation have no edge effects inside it.
_SIM_MARGIN_S = 15.0
#: Full-scale gain: reflectance 1 under unit illumination maps to this grey level.
_GAIN = 0.86 * 255.0
#: Motion amplitudes are specified in pixels at this frame height and scaled.
_REF_HEIGHT = 320.0


# --------------------------------------------------------------------------------------
# Data classes
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Corruption:
    """Parameters of the corruption applied to a clip (all zero = sensor noise only).

    Relative amplitudes are fractions of the illumination; pixel amplitudes are given
    at a frame height of 320 px and scaled with the frame size.

    Attributes
    ----------
    read_noise : float
        Standard deviation of read noise, grey levels.
    shot_noise : float
        Shot-noise variance per grey level (variance = read² + shot · value).
    intensity_drift : float
        Standard deviation of the slow relative change of global intensity.
    colour_drift : float
        Standard deviation of the slow relative change of each colour channel.
    drift_cutoff_hz : float
        Bandwidth of the slow intensity / colour changes.
    illumination_steps : int
        Number of quick (0.3–2 s) intensity changes, e.g. a lamp or a cloud.
    step_amplitude : float
        Maximum relative amplitude of those changes.
    flicker_amplitude : tuple of float
        Range from which the relative amplitude of sinusoidal flicker is drawn.
    flicker_band_hz : tuple of float
        Range from which the flicker frequency is drawn.
    flicker_min_distance_bpm : float
        Minimum distance between the flicker frequency and the clip's mean rate of
        ``flicker_avoids``, per minute.
    flicker_avoids : str
        ``"hr"`` or ``"br"``: the rate the flicker keeps away from (flicker at the true
        rate could not be told from it by any method).
    background_flicker_amplitude : tuple of float
        Range of the relative amplitude of a sinusoidal light change of the *background
        only* (a screen or a lamp behind the subject), which the face does not share.
    background_flicker_band_hz : tuple of float
        Range from which its frequency is drawn (kept ``flicker_min_distance_bpm`` from
        the mean HR).
    background_flicker_tint : float
        Its colour, as ``flicker_tint`` for the shared flicker (a screen's light is coloured).
    flicker_tint : float
        Colour of the flicker: the modulation depth of each of R, G, B is the amplitude
        times ``1 + flicker_tint * u_c`` with ``u`` drawn per clip (uniform in ±1, mean
        removed). 0 is colour-neutral flicker, which CHROM and POS cancel by design; real
        in-band flicker (screens, fluorescent or mixed light) also changes colour.
    flicker_depth_gradient : float
        Spatial change of the flicker's depth: at position ``s`` in [-1, 1] along a direction
        drawn per clip (the frame's centre is 0, its edges ±1), the depth is multiplied by
        ``1 + flicker_depth_gradient * s`` (a lamp on one side of the subject). 0: uniform.
    flicker_phase_gradient : float
        Spatial change of the flicker's phase along the same direction: ``s`` times this
        many radians (two lamps on different phases). 0: in phase everywhere.
    ambient_level : float
        Additive ambient light as a fraction of full scale (coloured, per clip).
    ambient_drift : float
        Relative standard deviation of slow changes of the ambient light.
    light_gradient : float
        Strength of the linear spatial gradient of illumination (±, across the frame).
    light_motion : float
        Standard deviation (radians) of the slow rotation of the gradient direction;
        0 keeps the lighting static.
    spot_strength : float
        Relative strength of a broad moving light spot (0 = none).
    head_translation : float
        Standard deviation of head translation, fraction of face height.
    head_rotation_deg : float
        Standard deviation of in-plane head rotation, degrees.
    head_motion_cutoff_hz : float
        Bandwidth of head motion.
    camera_shake_px : float
        Standard deviation of camera shake, pixels at 320 px height.
    jpeg_quality : int or None
        When set, every rendered frame is JPEG-compressed at this quality (codec
        artefacts such as block quantisation and chroma subsampling), before and
        independent of the codec :func:`write_clip` uses.
    """

    read_noise: float = 1.0
    shot_noise: float = 0.02
    intensity_drift: float = 0.0
    colour_drift: float = 0.0
    drift_cutoff_hz: float = 0.08
    illumination_steps: int = 0
    step_amplitude: float = 0.0
    flicker_amplitude: tuple[float, float] = (0.0, 0.0)
    flicker_band_hz: tuple[float, float] = (0.7, 2.5)
    flicker_min_distance_bpm: float = 8.0
    flicker_avoids: Literal["hr", "br"] = "hr"
    flicker_tint: float = 0.0
    flicker_depth_gradient: float = 0.0
    flicker_phase_gradient: float = 0.0
    background_flicker_amplitude: tuple[float, float] = (0.0, 0.0)
    background_flicker_band_hz: tuple[float, float] = (0.7, 2.5)
    background_flicker_tint: float = 0.3
    ambient_level: float = 0.0
    ambient_drift: float = 0.0
    light_gradient: float = 0.08
    light_motion: float = 0.0
    spot_strength: float = 0.0
    head_translation: float = 0.0
    head_rotation_deg: float = 0.0
    head_motion_cutoff_hz: float = 0.5
    camera_shake_px: float = 0.0
    jpeg_quality: int | None = None


#: Named corruption presets.
CONDITIONS: dict[str, Corruption] = {
    "clean": Corruption(),
    "flicker": Corruption(
        flicker_amplitude=(0.01, 0.02),
        flicker_tint=0.3,
        intensity_drift=0.04,
        colour_drift=0.015,
    ),
    # The same flicker in grey light (all channels modulated alike): a colour-neutral
    # flicker that chrominance methods (CHROM, POS) cancel by construction, and that a
    # network can learn to reject from colour alone rather than from the background.
    "neutral_flicker": Corruption(
        flicker_amplitude=(0.01, 0.02),
        intensity_drift=0.04,
        colour_drift=0.015,
    ),
    # Slow periodic light inside the breathing band (6-27 /min): a dimmer, a screen's
    # content, a fan's shadow. The BR counterpart of "flicker".
    "slow_flicker": Corruption(
        flicker_amplitude=(0.02, 0.06),
        flicker_band_hz=(0.1, 0.45),
        flicker_min_distance_bpm=3.0,
        flicker_avoids="br",
        flicker_tint=0.3,
        intensity_drift=0.02,
        colour_drift=0.01,
    ),
    # Light changing behind the subject only (a screen, a TV): the corruption the face does
    # NOT share, against which attending to the background only adds noise.
    "background_flicker": Corruption(
        background_flicker_amplitude=(0.05, 0.15),
        intensity_drift=0.02,
        colour_drift=0.01,
    ),
    "illumination": Corruption(
        intensity_drift=0.08,
        colour_drift=0.03,
        illumination_steps=3,
        step_amplitude=0.08,
        ambient_level=0.06,
        ambient_drift=0.4,
        light_gradient=0.25,
        light_motion=1.2,
        spot_strength=0.15,
    ),
    "motion": Corruption(
        head_translation=0.04,
        head_rotation_deg=3.0,
        head_motion_cutoff_hz=0.6,
        camera_shake_px=0.8,
    ),
    "compression": Corruption(jpeg_quality=40),
    "mixed": Corruption(
        intensity_drift=0.05,
        colour_drift=0.02,
        illumination_steps=2,
        step_amplitude=0.05,
        ambient_level=0.04,
        ambient_drift=0.3,
        light_gradient=0.2,
        light_motion=0.8,
        spot_strength=0.1,
        head_translation=0.025,
        head_rotation_deg=2.0,
        camera_shake_px=0.5,
        jpeg_quality=60,
    ),
}


@dataclass(frozen=True)
class Identity:
    """Appearance of one synthetic subject, in units relative to the frame.

    Attributes
    ----------
    subject_index : int
        Index the identity was made from.
    skin_rgb : tuple of float
        Mean skin reflectance (R, G, B) in [0, 1].
    pulse_strength : float
        Relative green pulse amplitude (peak-to-peak fraction of intensity).
    face_center : tuple of float
        Face centre as fractions of (width, height).
    face_height : float
        Face (ellipse) height as a fraction of frame height.
    face_aspect : float
        Face width / face height.
    hair_rgb, iris_rgb, lip_rgb, shirt_rgb : tuple of float
        Reflectances of non-skin features.
    hair_style : int
        0 short, 1 long, 2 bald / shaved.
    hairline : float
        Hairline height above the face centre as a fraction of the half face height.
    background_rgb, background_rgb2 : tuple of float
        Background reflectances (wall and pattern).
    background_pattern : int
        0 plain, 1 stripes, 2 door/frame, 3 shelves.
    background_scale : float
        Size of background texture features relative to frame height.
    breath_motion_px : float
        Peak-to-peak vertical head motion from breathing, pixels at 320 px height.
    texture_seed : int
        Seed of the skin, hair and background textures.
    """

    subject_index: int
    skin_rgb: tuple[float, float, float]
    pulse_strength: float
    face_center: tuple[float, float]
    face_height: float
    face_aspect: float
    hair_rgb: tuple[float, float, float]
    iris_rgb: tuple[float, float, float]
    lip_rgb: tuple[float, float, float]
    shirt_rgb: tuple[float, float, float]
    hair_style: int
    hairline: float
    background_rgb: tuple[float, float, float]
    background_rgb2: tuple[float, float, float]
    background_pattern: int
    background_scale: float
    breath_motion_px: float
    texture_seed: int


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


# --------------------------------------------------------------------------------------
# Identity
# --------------------------------------------------------------------------------------

# Skin tones from light to dark (approximate Fitzpatrick I–VI, sRGB / 255).
_SKIN_TONES: tuple[tuple[float, float, float], ...] = (
    (0.94, 0.77, 0.66),
    (0.87, 0.67, 0.54),
    (0.77, 0.57, 0.43),
    (0.63, 0.43, 0.30),
    (0.45, 0.29, 0.19),
    (0.29, 0.18, 0.12),
)
_HAIR_COLOURS: tuple[tuple[float, float, float], ...] = (
    (0.05, 0.04, 0.035),
    (0.14, 0.09, 0.06),
    (0.30, 0.19, 0.11),
    (0.62, 0.48, 0.30),
    (0.52, 0.52, 0.50),
    (0.45, 0.18, 0.08),
)


def _rgb(values: np.ndarray) -> tuple[float, float, float]:
    v = np.clip(values, 0.0, 1.0)
    return (float(v[0]), float(v[1]), float(v[2]))


def make_identity(subject_index: int, seed: int) -> Identity:
    """Make the appearance of one synthetic subject.

    Subjects ``6k … 6k+5`` cover all six skin tones (light to dark) in an order
    permuted by ``seed``; everything else is drawn from ``(seed, subject_index)``.

    Parameters
    ----------
    subject_index : int
        Non-negative subject number.
    seed : int
        Dataset seed.

    Returns
    -------
    Identity
        Deterministic for the same arguments.
    """
    if subject_index < 0:
        raise ValueError(f"subject_index must be >= 0, got {subject_index}")
    tone_order = np.random.default_rng([seed, 0x5EED]).permutation(len(_SKIN_TONES))
    tone = int(tone_order[subject_index % len(_SKIN_TONES)])
    rng = np.random.default_rng([seed, subject_index, 1])
    skin = np.asarray(_SKIN_TONES[tone]) * rng.uniform(0.95, 1.05) + rng.normal(0.0, 0.015, 3)
    darkness = tone / (len(_SKIN_TONES) - 1)
    # Melanin absorbs part of the light that would otherwise be modulated by blood.
    pulse_strength = rng.uniform(0.0036, 0.005) * (1.0 - 0.15 * darkness)
    if darkness > 0.5:
        hair = np.asarray(_HAIR_COLOURS[int(rng.integers(0, 2))])
    else:
        hair = np.asarray(_HAIR_COLOURS[int(rng.integers(0, len(_HAIR_COLOURS)))])
    hair = hair * rng.uniform(0.9, 1.1)
    iris = rng.choice(np.array([[0.25, 0.15, 0.08], [0.15, 0.25, 0.35], [0.2, 0.25, 0.15]]))
    lip = skin * np.array([0.95, 0.62, 0.62]) + np.array([0.05, 0.0, 0.0])
    wall = rng.uniform(0.35, 0.85) * (1.0 + rng.normal(0.0, 0.08, 3))
    pattern_colour = np.clip(wall * rng.uniform(0.5, 1.3, 3), 0.05, 0.95)
    return Identity(
        subject_index=int(subject_index),
        skin_rgb=_rgb(skin),
        pulse_strength=float(pulse_strength),
        face_center=(0.5 + rng.uniform(-0.06, 0.06), 0.44 + rng.uniform(-0.05, 0.05)),
        face_height=float(rng.uniform(0.40, 0.56)),
        face_aspect=float(rng.uniform(0.70, 0.82)),
        hair_rgb=_rgb(hair),
        iris_rgb=_rgb(iris),
        lip_rgb=_rgb(lip),
        shirt_rgb=_rgb(rng.uniform(0.05, 0.9, 3)),
        hair_style=int(rng.choice([0, 0, 1, 1, 2])),
        hairline=float(rng.uniform(0.42, 0.62)),
        background_rgb=_rgb(wall),
        background_rgb2=_rgb(pattern_colour),
        background_pattern=int(rng.integers(0, 4)),
        background_scale=float(rng.uniform(0.08, 0.25)),
        breath_motion_px=float(rng.uniform(1.0, 2.0)),
        texture_seed=int(rng.integers(0, 2**31 - 1)),
    )


# --------------------------------------------------------------------------------------
# Physiology
# --------------------------------------------------------------------------------------


def _zscore(x: np.ndarray) -> np.ndarray:
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
    resp_unit = _zscore(np.asarray(rsp_sim, dtype=np.float64)) / np.sqrt(2.0)
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
        ppg=_zscore(at(ppg_sim)),
        resp=_zscore(at(rsp_sim)),
        hr=at(hr_sim),
        br=at(br_sim),
        fs=float(fs),
    )


# --------------------------------------------------------------------------------------
# Static scene layers
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _Layers:
    background: np.ndarray  # (H, W, 3) reflectance
    fg: np.ndarray  # (H, W, 3) premultiplied foreground reflectance
    fg_skin: np.ndarray  # (H, W, 3) fg · skin fraction (the part that pulses)
    alpha: np.ndarray  # (H, W) foreground coverage
    skin: np.ndarray  # (H, W) skin coverage (premultiplied)
    pivot: tuple[float, float]  # head rotation centre, pixels


def _value_noise(rng: np.random.Generator, height: int, width: int, cell_px: float) -> np.ndarray:
    """Smooth zero-mean unit-std noise with features of about ``cell_px`` pixels."""
    gh = max(2, int(np.ceil(height / max(cell_px, 1.0))) + 1)
    gw = max(2, int(np.ceil(width / max(cell_px, 1.0))) + 1)
    grid = rng.standard_normal((gh, gw)).astype(np.float32)
    field = cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)
    return _zscore(field).astype(np.float32)


def _ellipse(
    x: np.ndarray,
    y: np.ndarray,
    cx: float,
    cy: float,
    ax: float,
    ay: float,
) -> np.ndarray:
    """Anti-aliased ellipse coverage (about one pixel of soft edge)."""
    r = np.sqrt(((x - cx) / ax) ** 2 + ((y - cy) / ay) ** 2)
    return np.clip((1.0 - r) * min(ax, ay) + 0.5, 0.0, 1.0).astype(np.float32)


def _box(x: np.ndarray, y: np.ndarray, x0: float, x1: float, y0: float, y1: float) -> np.ndarray:
    """Anti-aliased axis-aligned rectangle coverage."""
    cover_x = np.clip(np.minimum(x - x0, x1 - x) + 0.5, 0.0, 1.0)
    cover_y = np.clip(np.minimum(y - y0, y1 - y) + 0.5, 0.0, 1.0)
    return (cover_x * cover_y).astype(np.float32)


def _build_layers(identity: Identity, width: int, height: int) -> _Layers:
    if width < 16 or height < 16:
        raise ValueError(f"frame must be at least 16x16 px, got {width}x{height}")
    rng = np.random.default_rng([identity.texture_seed, width, height])
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    y += 0.5
    x += 0.5

    # Background: wall colour with smooth mottling, grain and a pattern.
    bg_col = np.asarray(identity.background_rgb, np.float32)
    bg2 = np.asarray(identity.background_rgb2, np.float32)
    scale = identity.background_scale * height
    background = np.empty((height, width, 3), np.float32)
    background[:] = bg_col
    pattern = np.zeros((height, width), np.float32)
    if identity.background_pattern == 1:
        pattern = (np.sin(2 * np.pi * x / max(scale * 0.6, 3.0)) > 0.3).astype(np.float32)
    elif identity.background_pattern == 2:
        x0 = rng.uniform(0.0, 0.25) * width
        pattern = _box(x, y, x0, x0 + 0.22 * width, 0.1 * height, 1.2 * height)
        pattern -= 0.5 * _box(x, y, x0 + 3, x0 + 0.22 * width - 3, 0.1 * height + 3, 1.2 * height)
        pattern = np.clip(pattern, 0.0, 1.0)
    elif identity.background_pattern == 3:
        shelf = np.sin(2 * np.pi * y / max(scale, 4.0)) > 0.85
        books = _value_noise(rng, height, width, max(scale * 0.15, 2.0)) > 0.4
        pattern = (shelf | (books & (x > 0.7 * width))).astype(np.float32)
    background += pattern[..., None] * (bg2 - bg_col)
    mottle = 0.08 * _value_noise(rng, height, width, scale)
    grain = 0.02 * _value_noise(rng, height, width, 1.5)
    background *= (1.0 + mottle + grain)[..., None]

    # Foreground, painted back to front with premultiplied "over".
    fg = np.zeros((height, width, 3), np.float32)
    alpha = np.zeros((height, width), np.float32)
    skin = np.zeros((height, width), np.float32)

    def paint(cover: np.ndarray, colour: np.ndarray, is_skin: bool) -> None:
        keep = 1.0 - cover
        fg[:] = fg * keep[..., None] + colour * cover[..., None]
        alpha[:] = alpha * keep + cover
        skin[:] = skin * keep + (cover if is_skin else 0.0)

    cx = identity.face_center[0] * width
    cy = identity.face_center[1] * height
    b = 0.5 * identity.face_height * height  # vertical semi-axis
    a = b * identity.face_aspect
    skin_col = np.asarray(identity.skin_rgb, np.float32)
    hair_col = np.asarray(identity.hair_rgb, np.float32)
    skin_tex = 1.0 + 0.035 * _value_noise(rng, height, width, 0.25 * b)
    skin_tex += 0.015 * _value_noise(rng, height, width, 1.2)
    skin_img = skin_col * skin_tex[..., None]
    hair_tex = 1.0 + 0.15 * _value_noise(rng, height, width, 1.0)
    hair_img = hair_col * hair_tex[..., None]

    # Long hair behind the head.
    if identity.hair_style == 1:
        long_hair = _ellipse(x, y, cx, cy + 0.25 * b, 1.22 * a, 1.25 * b)
        long_hair *= np.clip((cy + 1.1 * b - y) / 2.0, 0.0, 1.0)
        paint(long_hair, hair_img, False)
    # Neck (skin, pulsates) and shirt over it.
    neck = _box(x, y, cx - 0.42 * a, cx + 0.42 * a, cy + 0.5 * b, cy + 1.6 * b)
    neck_shade = 0.85 - 0.1 * np.abs((x - cx) / (0.42 * a))
    paint(neck, skin_img * neck_shade[..., None], True)
    shirt = _ellipse(x, y, cx, cy + 2.25 * b, 2.3 * a, 0.95 * b)
    shirt = np.maximum(shirt, _box(x, y, cx - 2.3 * a, cx + 2.3 * a, cy + 2.25 * b, height + 2.0))
    shirt_tex = 1.0 + 0.05 * _value_noise(rng, height, width, 0.2 * b)
    paint(shirt, np.asarray(identity.shirt_rgb, np.float32) * shirt_tex[..., None], False)
    # Head: Lambertian shading of an ellipsoid under a frontal, slightly raised light.
    head = _ellipse(x, y, cx, cy, a, b)
    u = (x - cx) / a
    v = (y - cy) / b
    nz = np.sqrt(np.clip(1.0 - u * u - v * v, 0.0, 1.0))
    shade = 0.62 + 0.38 * np.clip(0.9 * nz - 0.25 * v + 0.1 * u, 0.0, 1.0)
    # Nose: a slightly brighter ridge and darker sides (still skin).
    nose = np.exp(-(((x - cx) / (0.09 * a)) ** 2) - (((y - cy - 0.1 * b) / (0.25 * b)) ** 2))
    shade = shade * (1.0 + 0.06 * nose)
    paint(head, skin_img * shade[..., None], True)
    # Hair cap above the hairline (not for style 2).
    if identity.hair_style != 2:
        cap = _ellipse(x, y, cx, cy - 0.03 * b, 1.07 * a, 1.06 * b)
        hairline_y = cy - identity.hairline * b - 0.15 * b * np.cos(np.pi * u)
        cap *= np.clip((hairline_y - y) + 0.5, 0.0, 1.0)
        paint(cap.astype(np.float32), hair_img, False)
    # Eyebrows, eyes, nostrils, mouth.
    for side in (-1.0, 1.0):
        ex = cx + side * 0.38 * a
        brow = _ellipse(x, y, ex, cy - 0.30 * b, 0.26 * a, 0.045 * b + 0.5)
        paint(brow, hair_col * 0.9, False)
        eye = _ellipse(x, y, ex, cy - 0.12 * b, 0.21 * a, 0.085 * b + 0.4)
        paint(eye, np.array([0.82, 0.80, 0.76], np.float32), False)
        iris = _ellipse(x, y, ex, cy - 0.12 * b, 0.085 * b + 0.3, 0.085 * b + 0.3) * eye
        paint(iris, np.asarray(identity.iris_rgb, np.float32), False)
        pupil = _ellipse(x, y, ex, cy - 0.12 * b, 0.035 * b + 0.2, 0.035 * b + 0.2) * eye
        paint(pupil, np.array([0.03, 0.03, 0.03], np.float32), False)
        nostril = _ellipse(x, y, cx + side * 0.1 * a, cy + 0.27 * b, 0.06 * a, 0.03 * b + 0.3)
        paint(nostril, skin_col * 0.35, False)
    mouth = _ellipse(x, y, cx, cy + 0.52 * b, 0.33 * a, 0.075 * b + 0.4)
    paint(mouth, np.asarray(identity.lip_rgb, np.float32), False)
    lip_line = _ellipse(x, y, cx, cy + 0.52 * b, 0.3 * a, 0.012 * b + 0.4)
    paint(lip_line * 0.8, np.asarray(identity.lip_rgb, np.float32) * 0.4, False)

    skin_fraction = np.where(alpha > 1e-4, skin / np.maximum(alpha, 1e-4), 0.0)
    fg_skin = fg * skin_fraction[..., None].astype(np.float32)
    return _Layers(
        background=np.ascontiguousarray(background, np.float32),
        fg=np.ascontiguousarray(fg, np.float32),
        fg_skin=np.ascontiguousarray(fg_skin, np.float32),
        alpha=np.ascontiguousarray(alpha, np.float32),
        skin=np.ascontiguousarray(skin, np.float32),
        pivot=(cx, cy),
    )


def skin_mask(identity: Identity, *, width: int, height: int) -> np.ndarray:
    """Ground-truth skin pixels of the face and neck at rest position.

    Parameters
    ----------
    identity : Identity
        Subject appearance.
    width, height : int
        Frame size, pixels.

    Returns
    -------
    ndarray of bool, shape (height, width)
        True where more than half of the pixel is skin.
    """
    return _build_layers(identity, width, height).skin > 0.5


# --------------------------------------------------------------------------------------
# Dynamics
# --------------------------------------------------------------------------------------


def _smooth_noise(rng: np.random.Generator, n: int, fs: float, cutoff_hz: float) -> np.ndarray:
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
    identity: Identity,
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
    identity : Identity
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
    px = height / _REF_HEIGHT

    # Pulse normalised so a sinusoid of the same power has peak-to-peak 1.
    pulse = np.interp(time, t_phys, _zscore(physiology.ppg)) / (2 * np.sqrt(2))
    resp = np.interp(time, t_phys, _zscore(physiology.resp)) / (2 * np.sqrt(2))

    # Head: breathing lifts the head on inhalation (image y grows downwards).
    head = np.zeros((n, 2))
    head[:, 1] = -identity.breath_motion_px * px * resp
    angle = np.zeros(n)
    face_px = identity.face_height * height
    if corruption.head_translation > 0:
        # Slow wandering plus a faster component (nodding, talking).
        slow = np.stack(
            [_smooth_noise(r_motion, n, fps, corruption.head_motion_cutoff_hz) for _ in range(2)],
            axis=1,
        )
        fast = np.stack(
            [
                _smooth_noise(r_motion, n, fps, 3.0 * corruption.head_motion_cutoff_hz)
                for _ in range(2)
            ],
            axis=1,
        )
        head += corruption.head_translation * face_px * (0.85 * slow + 0.3 * fast)
    if corruption.head_rotation_deg > 0:
        angle = corruption.head_rotation_deg * _smooth_noise(
            r_motion, n, fps, corruption.head_motion_cutoff_hz
        )
    shake = np.zeros((n, 2))
    if corruption.camera_shake_px > 0:
        # Hand / tripod tremor: broadband up to several Hz.
        shake = (
            corruption.camera_shake_px
            * px
            * np.stack([_smooth_noise(r_shake, n, fps, 6.0) for _ in range(2)], axis=1)
        )

    # Global illumination: intensity and colour drift, quick steps, flicker.
    intensity = np.ones(n)
    if corruption.intensity_drift > 0:
        intensity += corruption.intensity_drift * _smooth_noise(
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
            colour[:, c] += corruption.colour_drift * _smooth_noise(
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
        level = 1.0 + corruption.ambient_drift * _smooth_noise(
            r_ambient, n, fps, corruption.drift_cutoff_hz
        )
        ambient = corruption.ambient_level * 255.0 * np.clip(level, 0.0, None)[:, None] * tint

    # Spatially non-uniform light: a linear gradient whose direction turns slowly,
    # plus a broad light spot that wanders.
    direction = r_grad.uniform(0.0, 2 * np.pi)
    if corruption.light_motion > 0:
        direction = direction + corruption.light_motion * _smooth_noise(
            r_grad, n, fps, corruption.drift_cutoff_hz
        )
    direction = np.broadcast_to(direction, (n,))
    gradient = corruption.light_gradient * np.stack([np.cos(direction), np.sin(direction)], 1)
    spot = np.zeros((n, 3))
    if corruption.spot_strength > 0:
        spot[:, 0] = np.clip(0.6 * _smooth_noise(r_grad, n, fps, corruption.drift_cutoff_hz), -1, 1)
        spot[:, 1] = np.clip(0.6 * _smooth_noise(r_grad, n, fps, corruption.drift_cutoff_hz), -1, 1)
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


# --------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------


def _normal_quantiles(k: int) -> np.ndarray:
    q = ndtri((np.arange(k) + 0.5) / k)
    return (q / q.std()).astype(np.float32)  # unit variance after discretisation


# Inverse normal CDF at the centres of 256 equiprobable bins: a random byte looked up
# here is a (discretised) standard normal draw, much faster than standard_normal.
_GAUSS_LUT = _normal_quantiles(256)

_LIGHT_GRID = (12, 16)  # (rows, cols) of the low-resolution illumination field


def _light_field(
    gradient: np.ndarray,
    spot: np.ndarray,
    light_rgb: np.ndarray,
    grid: tuple[np.ndarray, np.ndarray],
    size: tuple[int, int],
    relative: np.ndarray | None = None,
) -> np.ndarray:
    """Full-resolution (H, W, 3) illumination, computed coarse and interpolated.

    ``relative`` is an optional coarse (rows, cols, 3) factor (the spatial flicker)."""
    gy, gx = grid
    field = 1.0 + gradient[0] * gx + gradient[1] * gy
    if spot[2] > 0:
        field = field + spot[2] * np.exp(-((gx - spot[0]) ** 2 + (gy - spot[1]) ** 2) / 0.4)
    coarse = np.clip(field, 0.05, None)[..., None] * light_rgb
    if relative is not None:
        coarse = coarse * relative
    return cv2.resize(coarse.astype(np.float32), size, interpolation=cv2.INTER_LINEAR)


def _flicker_relative(
    dyn: SceneDynamics, i: int, grid: tuple[np.ndarray, np.ndarray]
) -> np.ndarray | None:
    """Coarse (rows, cols, 3) spatial flicker of frame ``i`` relative to the frame centre's
    (already in ``light_rgb``), or None when the flicker is uniform."""
    if dyn.flicker_space is None or dyn.flicker_phase is None:
        return None
    direction, depth_gradient, phase_gradient = dyn.flicker_space
    gy, gx = grid
    s = np.cos(direction) * gx + np.sin(direction) * gy
    depth = dyn.flicker_amplitude * dyn.flicker_rgb
    theta = float(dyn.flicker_phase[i])
    local = (
        1.0
        + np.clip(1.0 + depth_gradient * s, 0.0, None)[..., None]
        * depth
        * np.sin(theta + phase_gradient * s)[..., None]
    )
    return local / (1.0 + depth * np.sin(theta))


def render_frames(
    identity: Identity,
    physiology: Physiology,
    corruption: Corruption,
    *,
    width: int,
    height: int,
    fps: float,
    seed: int,
) -> Iterator[np.ndarray]:
    """Render a clip frame by frame.

    Frames are at ``physiology.time[0] + i / fps`` for every ``i`` up to the last
    physiology sample (see :func:`scene_dynamics`).  Only static layers and the
    per-frame parameters are held in memory.

    Parameters
    ----------
    identity : Identity
        Subject appearance.
    physiology : Physiology
        Pulse and respiration driving the skin colour and head motion.
    corruption : Corruption
        Illumination, motion, noise and compression parameters.
    width, height : int
        Frame size, pixels.
    fps : float
        Frame rate, Hz.
    seed : int
        Random seed of the corruption and the sensor noise.

    Yields
    ------
    ndarray of uint8, shape (height, width, 3)
        RGB frame.
    """
    layers = _build_layers(identity, width, height)
    dyn = scene_dynamics(
        identity, physiology, corruption, width=width, height=height, fps=fps, seed=seed
    )
    noise_rng = np.random.default_rng([seed, 4])
    return _render(layers, dyn, identity, corruption, noise_rng)


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return 0, 0, 1, 1
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def _render(
    layers: _Layers,
    dyn: SceneDynamics,
    identity: Identity,
    corruption: Corruption,
    noise_rng: np.random.Generator,
) -> Iterator[np.ndarray]:
    height, width = layers.alpha.shape
    size = (width, height)
    # Foreground and its pulsating part as 4-channel (premultiplied RGB, alpha) images,
    # cropped to the foreground: per frame, fg + p(t) · pulse is one scaleAdd.
    # The crop keeps a transparent border where the frame allows, so that replicating
    # the border while warping continues only what leaves the frame (the shirt).
    sx0, sy0, sx1, sy1 = _bbox(layers.alpha > 0)
    sx0, sy0, sx1, sy1 = max(0, sx0 - 2), max(0, sy0 - 2), min(width, sx1 + 2), min(height, sy1 + 2)
    crop = (slice(sy0, sy1), slice(sx0, sx1))
    fg4 = np.ascontiguousarray(np.dstack([layers.fg, layers.alpha])[crop])
    strength = identity.pulse_strength * np.asarray(PULSE_CHANNEL_RATIO, np.float32)
    pulse4 = np.ascontiguousarray(
        np.dstack([layers.fg_skin * strength, np.zeros_like(layers.alpha)])[crop]
    )
    # Destination region: the foreground box grown by the largest excursion.
    px, py = layers.pivot
    reach = float(np.hypot(max(px - sx0, sx1 - px), max(py - sy0, sy1 - py)))
    margin = float(np.max(np.abs(dyn.head_shift + dyn.shake), initial=0.0))
    margin += reach * np.deg2rad(float(np.max(np.abs(dyn.head_angle_deg), initial=0.0))) + 2.0
    dx0, dy0 = max(0, int(sx0 - margin)), max(0, int(sy0 - margin))
    dx1, dy1 = min(width, int(np.ceil(sx1 + margin))), min(height, int(np.ceil(sy1 + margin)))
    dst = (slice(dy0, dy1), slice(dx0, dx1))
    grid = np.meshgrid(
        np.linspace(-1.0, 1.0, _LIGHT_GRID[0]),
        np.linspace(-1.0, 1.0, _LIGHT_GRID[1]),
        indexing="ij",
    )
    shaking = bool(np.any(dyn.shake))
    n_bytes = height * width * 3
    read_var = float(corruption.read_noise**2)
    shot = float(corruption.shot_noise)
    for i in range(dyn.time.size):
        # Pulsating skin: reflectance · (1 + a_c · p(t) · skin).
        pulsed = cv2.scaleAdd(pulse4, float(dyn.pulse[i]), fg4)
        # Head motion and camera shake: rotate about the face centre, then translate;
        # the matrix is rewritten from full-frame to crop coordinates.
        m = cv2.getRotationMatrix2D((px, py), float(dyn.head_angle_deg[i]), 1.0)
        m[:, 2] += dyn.head_shift[i] + dyn.shake[i]
        m[:, 2] += m[:, :2] @ np.array([sx0, sy0]) - np.array([dx0, dy0])
        moved = cv2.warpAffine(
            pulsed,
            m,
            (dx1 - dx0, dy1 - dy0),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
        if shaking:
            shift = np.array([[1.0, 0.0, dyn.shake[i, 0]], [0.0, 1.0, dyn.shake[i, 1]]])
            frame = cv2.warpAffine(
                layers.background,
                shift,
                size,
                flags=cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_REFLECT,
            )
        else:
            frame = layers.background.copy()
        if dyn.background_flicker_hz is not None:
            frame = cv2.multiply(frame, (*dyn.background_rgb[i], 0.0))
        # Composite (premultiplied over): fg + (1 - alpha) · bg.
        bg = frame[dst]
        cover = cv2.cvtColor(cv2.extractChannel(moved, 3), cv2.COLOR_GRAY2RGB)
        frame[dst] = cv2.add(
            cv2.subtract(bg, cv2.multiply(bg, cover)), cv2.cvtColor(moved, cv2.COLOR_RGBA2RGB)
        )
        # Illumination shared by face and background, ambient light, gain.
        light = _light_field(
            dyn.gradient[i],
            dyn.spot[i],
            _GAIN * dyn.light_rgb[i],
            grid,
            size,
            _flicker_relative(dyn, i, grid),
        )
        frame = cv2.add(cv2.multiply(frame, light), (*dyn.ambient_rgb[i], 0.0))
        # Sensor noise: shot (signal-dependent) + read noise.
        # (frame >= 0 here: reflectance, light, gain and ambient are all non-negative.)
        sigma = cv2.sqrt(cv2.addWeighted(frame, shot, frame, 0.0, read_var))
        raw = np.frombuffer(noise_rng.bytes(n_bytes), np.uint8).reshape(height, width, 3)
        frame = cv2.add(frame, cv2.multiply(cv2.LUT(raw, _GAUSS_LUT), sigma))
        out = cv2.convertScaleAbs(cv2.max(frame, 0.0))  # rounds and saturates at 255
        if corruption.jpeg_quality is not None:
            # The codec's colour transform expects BGR.
            ok, buf = cv2.imencode(
                ".jpg",
                cv2.cvtColor(out, cv2.COLOR_RGB2BGR),
                [cv2.IMWRITE_JPEG_QUALITY, int(corruption.jpeg_quality)],
            )
            if not ok:
                raise RuntimeError("JPEG encoding of a synthetic frame failed")
            out = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        yield out


# --------------------------------------------------------------------------------------
# Writing clips
# --------------------------------------------------------------------------------------

#: Ground-truth sampling rate of written clips (deliberately not the video rate).
GROUND_TRUTH_FS = 100.0


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


def _open_writer(
    path: Path, codec: str, fps: float, width: int, height: int, quality: int
) -> cv2.VideoWriter:
    if len(codec) != 4:
        raise InputError(f"{path}: codec must be a four-character code, got {codec!r}")
    fourcc = cv2.VideoWriter.fourcc(*codec)
    if codec.upper() == "MJPG":
        # OpenCV's own MJPEG encoder honours the quality setting (FFmpeg's ignores it).
        writer = cv2.VideoWriter(str(path), cv2.CAP_OPENCV_MJPEG, fourcc, fps, (width, height))
        if writer.isOpened():
            writer.set(cv2.VIDEOWRITER_PROP_QUALITY, float(quality))
    else:
        writer = cv2.VideoWriter(str(path), cv2.CAP_FFMPEG, fourcc, fps, (width, height))
    if not writer.isOpened():
        raise InputError(f"{path}: cannot encode video with codec {codec!r} in this container")
    return writer


def _write_ground_truth(path: Path, physiology: Physiology) -> None:
    """The ground-truth CSV ``time,ppg,resp,hr,br`` of a clip."""
    table = np.column_stack(
        [physiology.time, physiology.ppg, physiology.resp, physiology.hr, physiology.br]
    )
    np.savetxt(path, table, delimiter=",", fmt="%.6f", header="time,ppg,resp,hr,br", comments="")


def write_clip(
    video_path: Path,
    ground_truth_path: Path,
    *,
    subject_index: int,
    condition: str,
    duration_s: float,
    fps: float = 30.0,
    width: int = 160,
    height: int = 120,
    seed: int = 0,
    codec: str = "MJPG",
    quality: int = 95,
) -> None:
    """Render one synthetic clip and write video, ground truth and skin mask.

    Writes ``video_path`` (``cv2.VideoWriter``; ``"MJPG"`` in ``.avi`` at ``quality``,
    or any fourcc FFmpeg encodes here, e.g. lossless ``"FFV1"`` in ``.avi``/``.mkv``),
    ``ground_truth_path`` (CSV ``time,ppg,resp,hr,br`` at 100 Hz, time in seconds from
    the first frame) and ``<video stem>.skin.png`` next to the video.  All three are
    written to temporary names in their folders and renamed into place; on error
    the temporary files are removed.

    Parameters
    ----------
    video_path, ground_truth_path : Path
        Output files; their folders must exist.
    subject_index : int
        Subject (see :func:`make_identity`); the identity depends on ``seed`` and
        ``subject_index`` only, so a subject looks the same in every condition.
    condition : str
        Key of :data:`CONDITIONS`.
    duration_s : float
        Clip duration, seconds.
    fps : float
        Frame rate.
    width, height : int
        Frame size.
    seed : int
        Dataset seed; physiology and corruption use seeds derived from
        ``(seed, subject_index, condition)`` (:func:`clip_seeds`).
    codec : str
        Four-character code.
    quality : int
        MJPG quality (0–100); ignored by other codecs.  The "compression"
        condition is already compressed by the renderer (``jpeg_quality``); encoding
        it again at a low writer quality would remove the pulse altogether.

    Raises
    ------
    InputError
        Unknown condition, missing folder, or a codec that cannot be encoded.
    """
    video_path = Path(video_path)
    ground_truth_path = Path(ground_truth_path)
    if condition not in CONDITIONS:
        raise InputError(
            f"{video_path}: unknown condition {condition!r} (known: {', '.join(CONDITIONS)})"
        )
    for folder in {video_path.parent, ground_truth_path.parent}:
        if not folder.is_dir():
            raise InputError(f"{folder}: output folder does not exist")
    corruption = CONDITIONS[condition]
    mask_path = video_path.with_name(f"{video_path.stem}.skin.png")
    phys_seed, render_seed = clip_seeds(seed, subject_index, condition)
    identity = make_identity(subject_index, seed)
    physiology = simulate_physiology(duration_s, GROUND_TRUTH_FS, phys_seed)

    # Entered video first, so it is renamed last: its presence means the clip is complete.
    with (
        atomic_path(video_path) as tmp_video,
        atomic_path(ground_truth_path) as tmp_gt,
        atomic_path(mask_path) as tmp_mask,
    ):
        writer = _open_writer(tmp_video, codec, fps, width, height, quality)
        try:
            frames = render_frames(
                identity,
                physiology,
                corruption,
                width=width,
                height=height,
                fps=fps,
                seed=render_seed,
            )
            for frame in frames:
                writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        finally:
            writer.release()
        if tmp_video.stat().st_size == 0:
            raise InputError(f"{video_path}: the encoder wrote nothing")
        _write_ground_truth(tmp_gt, physiology)
        mask = skin_mask(identity, width=width, height=height).astype(np.uint8) * 255
        if not cv2.imwrite(str(tmp_mask), mask):
            raise InputError(f"{mask_path}: cannot write the skin mask")
