"""Drawn (cartoon) subjects: identities, their static layers and their clips."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from distraction.synth.compositor import Layers, pulse_rgb, render
from distraction.synth.dynamics import scene_dynamics
from distraction.synth.physiology import Physiology, zscore
from distraction.synth.presets import Corruption

__all__ = [
    "Identity",
    "cartoon_layers",
    "make_identity",
    "render_frames",
    "skin_mask",
    "value_noise",
]


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


def value_noise(rng: np.random.Generator, height: int, width: int, cell_px: float) -> np.ndarray:
    """Smooth zero-mean unit-std noise with features of about ``cell_px`` pixels."""
    gh = max(2, int(np.ceil(height / max(cell_px, 1.0))) + 1)
    gw = max(2, int(np.ceil(width / max(cell_px, 1.0))) + 1)
    grid = rng.standard_normal((gh, gw)).astype(np.float32)
    field = cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)
    return zscore(field).astype(np.float32)


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


def cartoon_layers(identity: Identity, width: int, height: int) -> Layers:
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
        books = value_noise(rng, height, width, max(scale * 0.15, 2.0)) > 0.4
        pattern = (shelf | (books & (x > 0.7 * width))).astype(np.float32)
    background += pattern[..., None] * (bg2 - bg_col)
    mottle = 0.08 * value_noise(rng, height, width, scale)
    grain = 0.02 * value_noise(rng, height, width, 1.5)
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
    skin_tex = 1.0 + 0.035 * value_noise(rng, height, width, 0.25 * b)
    skin_tex += 0.015 * value_noise(rng, height, width, 1.2)
    skin_img = skin_col * skin_tex[..., None]
    hair_tex = 1.0 + 0.15 * value_noise(rng, height, width, 1.0)
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
    shirt_tex = 1.0 + 0.05 * value_noise(rng, height, width, 0.2 * b)
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
    return Layers(
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
    return cartoon_layers(identity, width, height).skin > 0.5


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
    layers = cartoon_layers(identity, width, height)
    dyn = scene_dynamics(
        identity, physiology, corruption, width=width, height=height, fps=fps, seed=seed
    )
    noise_rng = np.random.default_rng([seed, 4])
    return render(layers, dyn, pulse_rgb(identity.pulse_strength), corruption, noise_rng)
