"""Corruption presets of the renderer: what light, motion, noise and compression do to a clip."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["CONDITIONS", "Corruption"]


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
