"""Scenes to place a photographed person in: rooms, textures, gradients, and the framing.

Every portrait of a photo set shares one studio backdrop; a network trained on them
alone could learn "this backdrop is background". A scene therefore replaces the backdrop
with a procedurally drawn one (a room with a floor, doors, shelves and pictures; a
textured wall; a colour gradient; or clutter), in colours drawn over the whole hue
circle, blue and skin-like ones included, and frames the person anew: the face
``face_px`` pixels tall, centred anywhere the head still fits, slightly turned (a
horizontal squeeze stands in for a small yaw) and tilted, and lit from one side.

All of it is drawn from one seed (:func:`draw_scene`), so a subject keeps its scene in
every condition of a dataset when the seed is the subject's.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from distraction.synth.cartoon import value_noise

__all__ = ["SCENE_KINDS", "Scene", "draw_background", "draw_scene", "place_person"]

#: Kinds of background a scene draws from, and how often.
SCENE_KINDS: tuple[str, ...] = ("room", "texture", "gradient", "clutter")
_KIND_WEIGHTS: tuple[float, ...] = (0.35, 0.25, 0.15, 0.25)


@dataclass(frozen=True)
class Scene:
    """How one clip frames a person and what stands behind them.

    Attributes
    ----------
    kind : str
        One of :data:`SCENE_KINDS`.
    face_px : float
        Face box height in the frame, pixels.
    face_centre : tuple of float
        Face box centre as fractions of (width, height).
    squeeze : float
        Horizontal scale of the person relative to the vertical (a small head turn).
    tilt_deg : float
        Static in-plane tilt of the person, degrees.
    key_light : tuple of float
        ``(direction, strength)``: a static light gradient across the person (direction in
        radians from +x, image y down; the reflectance changes by ±strength across the face).
    seed : int
        Seed of the background drawing.
    """

    kind: str
    face_px: float
    face_centre: tuple[float, float]
    squeeze: float
    tilt_deg: float
    key_light: tuple[float, float]
    seed: int


def draw_scene(
    seed: int,
    *,
    width: int,
    height: int,
    face_px: tuple[float, float] = (60.0, 200.0),
) -> Scene:
    """Draw a scene for a ``width`` × ``height`` frame.

    Parameters
    ----------
    seed : int
        Seed (same seed, same scene).
    width, height : int
        Frame size.
    face_px : tuple of float
        Range of the face box height, pixels; capped at 0.6 of the frame height so that the
        head and some shoulders fit.

    Returns
    -------
    Scene
    """
    rng = np.random.default_rng([seed, 0x5CE7E])
    kind = str(rng.choice(SCENE_KINDS, p=np.asarray(_KIND_WEIGHTS) / sum(_KIND_WEIGHTS)))
    lo, hi = face_px
    hi = min(hi, 0.6 * height)
    lo = min(lo, hi)
    size = float(rng.uniform(lo, hi))
    # The face box centre keeps the face (about 1.3 box widths with the hair) in the frame.
    margin_x = min(0.5, 0.7 * size / width)
    margin_y = min(0.5, 0.75 * size / height)
    centre = (
        float(rng.uniform(margin_x, 1.0 - margin_x)),
        float(rng.uniform(margin_y, max(margin_y, 0.62))),
    )
    return Scene(
        kind=kind,
        face_px=size,
        face_centre=centre,
        squeeze=float(rng.uniform(0.88, 1.08)),
        tilt_deg=float(rng.uniform(-8.0, 8.0)),
        key_light=(float(rng.uniform(0.0, 2 * np.pi)), float(rng.uniform(0.0, 0.25))),
        seed=int(rng.integers(0, 2**31 - 1)),
    )


def _random_colour(rng: np.random.Generator) -> np.ndarray:
    """A reflectance anywhere on the hue circle, from greyish to saturated."""
    hue = rng.uniform(0.0, 180.0)
    sat = rng.uniform(0.0, 200.0)
    val = rng.uniform(60.0, 235.0)
    hsv = np.uint8([[[hue, sat, val]]])
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32) / 255.0


def _rect(canvas: np.ndarray, x0: float, y0: float, x1: float, y1: float, colour) -> None:
    h, w = canvas.shape[:2]
    a, b = int(np.clip(x0, 0, w)), int(np.clip(x1, 0, w))
    c, d = int(np.clip(y0, 0, h)), int(np.clip(y1, 0, h))
    if b > a and d > c:
        canvas[c:d, a:b] = colour


def draw_background(kind: str, seed: int, *, width: int, height: int) -> np.ndarray:
    """A procedural background of ``kind`` (one of :data:`SCENE_KINDS`).

    Returns
    -------
    ndarray
        (height, width, 3) float32 reflectance in [0.02, 0.98].
    """
    rng = np.random.default_rng([seed, 0xBAC])
    canvas = np.empty((height, width, 3), np.float32)
    wall = _random_colour(rng)
    canvas[:] = wall
    if kind == "room":
        # A wall, a floor below a horizon line, a door or a window, a picture, a shelf.
        horizon = rng.uniform(0.55, 0.85) * height
        _rect(canvas, 0, horizon, width, height, _random_colour(rng) * 0.8)
        for _ in range(int(rng.integers(1, 4))):
            w = rng.uniform(0.1, 0.35) * width
            h = rng.uniform(0.15, 0.7) * height
            x0 = rng.uniform(-0.1, 1.0) * width
            y0 = rng.uniform(0.0, 0.6) * height
            frame_colour = _random_colour(rng)
            _rect(canvas, x0, y0, x0 + w, y0 + h, frame_colour)
            inset = max(1.0, 0.06 * min(w, h))
            _rect(
                canvas, x0 + inset, y0 + inset, x0 + w - inset, y0 + h - inset, _random_colour(rng)
            )
        if rng.uniform() < 0.5:
            y = rng.uniform(0.2, 0.6) * height
            _rect(
                canvas,
                0,
                y,
                rng.uniform(0.3, 1.0) * width,
                y + 0.02 * height + 1,
                _random_colour(rng) * 0.6,
            )
    elif kind == "texture":
        second = _random_colour(rng)
        cell = rng.uniform(0.01, 0.15) * height
        mix = np.clip(0.5 + 0.5 * value_noise(rng, height, width, cell), 0.0, 1.0)
        if rng.uniform() < 0.4:
            period = rng.uniform(0.03, 0.2) * height
            angle = rng.uniform(0.0, np.pi)
            y, x = np.mgrid[0:height, 0:width].astype(np.float32)
            stripes = np.sin(2 * np.pi * (np.cos(angle) * x + np.sin(angle) * y) / period) > 0
            mix = np.where(stripes, mix, 1.0 - mix)
        canvas[:] = wall * (1.0 - mix[..., None]) + second * mix[..., None]
    elif kind == "gradient":
        second = _random_colour(rng)
        angle = rng.uniform(0.0, 2 * np.pi)
        y, x = np.mgrid[0:height, 0:width].astype(np.float32)
        s = (np.cos(angle) * (x / width - 0.5) + np.sin(angle) * (y / height - 0.5)) + 0.5
        s = np.clip(s, 0.0, 1.0)[..., None]
        canvas[:] = wall * (1.0 - s) + second * s
    elif kind == "clutter":
        for _ in range(int(rng.integers(15, 60))):
            w = rng.uniform(0.02, 0.25) * width
            h = rng.uniform(0.05, 0.5) * height
            x0 = rng.uniform(-0.1, 1.0) * width
            y0 = rng.uniform(-0.1, 1.0) * height
            _rect(canvas, x0, y0, x0 + w, y0 + h, _random_colour(rng))
    else:
        raise ValueError(f"unknown background kind {kind!r} (known: {', '.join(SCENE_KINDS)})")
    # Soft shading across the wall, mottling and grain, as on real surfaces.
    canvas *= (1.0 + 0.06 * value_noise(rng, height, width, 0.3 * height))[..., None]
    canvas *= (1.0 + 0.015 * value_noise(rng, height, width, 1.5))[..., None]
    blur = rng.uniform(0.0, 1.5)  # a background out of focus, or not
    if blur > 0.3:
        canvas = cv2.GaussianBlur(canvas, (0, 0), blur)
    return np.clip(canvas, 0.02, 0.98).astype(np.float32)


def place_person(
    image: np.ndarray,
    alpha: np.ndarray,
    skin: np.ndarray,
    face_box: tuple[float, float, float, float],
    scene: Scene,
    *,
    width: int,
    height: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[float, float, float, float], np.ndarray]:
    """Warp a segmented person into a frame as ``scene`` frames them.

    The person is scaled so that the face box is ``scene.face_px`` tall (and
    ``scene.squeeze`` times as wide), tilted by ``scene.tilt_deg`` about the face centre,
    moved to ``scene.face_centre`` and shaded by ``scene.key_light``. A portrait ends at
    the photo's lower edge, so its last rows are continued downwards (the torso reaches
    the frame's bottom).

    Parameters
    ----------
    image : ndarray
        (h, w, 3) float32 reflectance of the photo.
    alpha, skin : ndarray
        (h, w) float32 coverage of the person and of skin.
    face_box : tuple of float
        Face ``x, y, w, h`` in photo pixels.
    scene : Scene
        The framing.
    width, height : int
        Frame size.

    Returns
    -------
    image, alpha, skin, face_box, matrix
        The same layers at the frame size, the face box in frame pixels and the (2, 3)
        affine map from photo to frame pixels (to warp a backdrop alike).
    """
    x, y, w, h = face_box
    scale = scene.face_px / h
    sx, sy = scale * scene.squeeze, scale
    # Continue the photo's lowest rows far enough to reach the frame's bottom at any scale.
    pad = int(np.ceil(max(0.0, height / sy - (image.shape[0] - y))) + 2)
    if pad > 0:
        image = cv2.copyMakeBorder(image, 0, pad, 0, 0, cv2.BORDER_REPLICATE)
        alpha = cv2.copyMakeBorder(alpha, 0, pad, 0, 0, cv2.BORDER_REPLICATE)
        skin = cv2.copyMakeBorder(skin, 0, pad, 0, 0, cv2.BORDER_CONSTANT, value=0.0)
    cx, cy = x + w / 2, y + h / 2
    tx, ty = scene.face_centre[0] * width, scene.face_centre[1] * height
    angle = np.deg2rad(scene.tilt_deg)
    rot = np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])
    linear = rot @ np.diag([sx, sy])
    offset = np.array([tx, ty]) - linear @ np.array([cx, cy])
    m = np.column_stack([linear, offset]).astype(np.float64)
    size = (width, height)
    warp = {"flags": cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR}
    out_image = cv2.warpAffine(image, m, size, borderMode=cv2.BORDER_REPLICATE, **warp)
    out_alpha = cv2.warpAffine(alpha, m, size, borderMode=cv2.BORDER_CONSTANT, **warp)
    out_skin = cv2.warpAffine(skin, m, size, borderMode=cv2.BORDER_CONSTANT, **warp)
    direction, strength = scene.key_light
    if strength > 0:
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        s = (np.cos(direction) * (xx - tx) + np.sin(direction) * (yy - ty)) / max(
            scene.face_px, 1.0
        )
        out_image = out_image * np.clip(1.0 + strength * s, 0.5, 1.5)[..., None]
    box = (tx - sx * w / 2, ty - sy * h / 2, sx * w, sy * h)
    return (
        np.clip(out_image, 0.0, 1.0).astype(np.float32),
        np.clip(out_alpha, 0.0, 1.0).astype(np.float32),
        np.clip(np.minimum(out_skin, out_alpha), 0.0, 1.0).astype(np.float32),
        (float(box[0]), float(box[1]), float(box[2]), float(box[3])),
        m,
    )
