"""The compositor: static layers and per-frame dynamics through the image-formation model."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np
from scipy.special import ndtri

from distraction.synth.dynamics import SceneDynamics
from distraction.synth.presets import Corruption

__all__ = ["GAIN", "PULSE_CHANNEL_RATIO", "Layers", "pulse_rgb", "render"]

#: Pulse strength of (R, G, B) relative to green (haemoglobin absorbs green most).
PULSE_CHANNEL_RATIO: tuple[float, float, float] = (0.33, 1.0, 0.55)
#: Full-scale gain: reflectance 1 under unit illumination maps to this grey level.
GAIN = 0.86 * 255.0


@dataclass(frozen=True, eq=False)
class Layers:
    """The static layers of a scene, at the frame's size, that :func:`render` animates.

    Any subject (a drawn face, a photographed person) becomes these layers; the compositor
    knows nothing else of it.

    Attributes
    ----------
    background : ndarray
        (H, W, 3) float32 reflectance of what stands still (camera shake moves it).
    fg : ndarray
        (H, W, 3) float32 premultiplied reflectance of the person (head motion moves it).
    fg_skin : ndarray
        (H, W, 3) float32 ``fg`` times the skin fraction: the part that pulses.
    alpha : ndarray
        (H, W) float32 coverage of the person.
    skin : ndarray
        (H, W) float32 skin coverage (premultiplied).
    pivot : tuple of float
        Head rotation centre ``(x, y)``, pixels.
    """

    background: np.ndarray
    fg: np.ndarray
    fg_skin: np.ndarray
    alpha: np.ndarray
    skin: np.ndarray
    pivot: tuple[float, float]


def pulse_rgb(pulse_strength: float) -> np.ndarray:
    """Relative pulse amplitude of (R, G, B) for a green amplitude of ``pulse_strength``."""
    return pulse_strength * np.asarray(PULSE_CHANNEL_RATIO, np.float32)


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


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return 0, 0, 1, 1
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def render(
    layers: Layers,
    dyn: SceneDynamics,
    pulse: np.ndarray,
    corruption: Corruption,
    noise_rng: np.random.Generator,
) -> Iterator[np.ndarray]:
    """Render the frames of a scene (the image-formation model of :mod:`distraction.synth`).

    Parameters
    ----------
    layers : Layers
        Static layers at the frame size.
    dyn : SceneDynamics
        Per-frame motion and light (:func:`distraction.synth.dynamics.scene_dynamics`).
    pulse : ndarray
        (3,) relative pulse amplitude of R, G, B on skin (:func:`pulse_rgb`).
    corruption : Corruption
        Noise and compression settings (the rest is already in ``dyn``).
    noise_rng : numpy.random.Generator
        Source of the sensor noise.

    Yields
    ------
    ndarray
        (H, W, 3) uint8 RGB frames.
    """
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
    strength = np.asarray(pulse, np.float32)
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
            GAIN * dyn.light_rgb[i],
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
