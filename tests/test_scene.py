"""Scenes for photographed people: framing, drawn backgrounds, backdrop keying, tone."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from distraction.synth import photo
from distraction.synth.scene import SCENE_KINDS, Scene, draw_background, draw_scene, place_person

FACES = Path(__file__).resolve().parents[2] / "shared" / "faces"


def test_draw_scene_is_deterministic_and_in_its_ranges():
    scenes = [draw_scene(seed, width=320, height=240) for seed in range(200)]
    assert draw_scene(7, width=320, height=240) == scenes[7]
    sizes = np.array([s.face_px for s in scenes])
    # 60-200 px, capped at 0.6 of a 240-px frame.
    assert sizes.min() >= 60.0 and sizes.max() <= 144.0
    assert {s.kind for s in scenes} == set(SCENE_KINDS)
    for s in scenes:
        # The face box stays inside the frame.
        cx, cy = s.face_centre[0] * 320, s.face_centre[1] * 240
        assert s.face_px / 2 <= cx <= 320 - s.face_px / 2
        assert s.face_px / 2 <= cy <= 240 - s.face_px / 2
    large = [draw_scene(seed, width=640, height=480).face_px for seed in range(200)]
    assert max(large) > 180.0 and max(large) <= 200.0


@pytest.mark.parametrize("kind", SCENE_KINDS)
def test_backgrounds_are_reflectances_with_structure(kind):
    bg = draw_background(kind, 3, width=96, height=72)
    assert bg.shape == (72, 96, 3) and bg.dtype == np.float32
    assert 0.02 <= bg.min() and bg.max() <= 0.98
    assert bg.std() > 0.005  # not a flat colour
    assert np.array_equal(bg, draw_background(kind, 3, width=96, height=72))


def test_background_colours_cover_the_hue_circle():
    # Blue walls are as likely as any other: no colour means "background".
    hues = []
    for seed in range(60):
        bg = draw_background("gradient", seed, width=16, height=16)
        hsv = cv2.cvtColor((bg * 255).astype(np.uint8), cv2.COLOR_RGB2HSV)
        hues.append(float(np.median(hsv[..., 0])))
    counts, _ = np.histogram(hues, bins=6, range=(0, 180))
    assert (counts > 0).all()


def test_place_person_scales_and_moves_the_face_box():
    # A 40x50 "photo" whose face box is the inner 20x20 square at (10, 10).
    image = np.full((50, 40, 3), 0.5, np.float32)
    alpha = np.ones((50, 40), np.float32)
    skin = np.zeros((50, 40), np.float32)
    skin[10:30, 10:30] = 1.0
    scene = Scene("room", face_px=60.0, face_centre=(0.5, 0.4), squeeze=1.0, tilt_deg=0.0,
                  key_light=(0.0, 0.0), seed=0)  # fmt: skip
    img, a, s, box, m = place_person(
        image, alpha, skin, (10, 10, 20, 20), scene, width=200, height=150
    )
    # Scale 3, face centre (20, 20) to (100, 60): box (70, 30, 60, 60).
    assert box == pytest.approx((70.0, 30.0, 60.0, 60.0))
    assert m[0, 0] == pytest.approx(3.0) and m[0, 2] == pytest.approx(100 - 3 * 20)
    ys, xs = np.nonzero(s > 0.5)
    assert xs.min() == pytest.approx(70, abs=2) and xs.max() == pytest.approx(129, abs=2)
    assert ys.min() == pytest.approx(30, abs=2) and ys.max() == pytest.approx(89, abs=2)
    # The photo's last rows continue down to the frame's bottom (the torso).
    assert a[-1, 100] == pytest.approx(1.0)
    assert img.shape == (150, 200, 3) and (s <= a + 1e-6).all()


def test_backdrop_key_separates_a_plain_backdrop():
    # A blue-grey backdrop with a brightness gradient, a skin-coloured head, a dark suit
    # of the backdrop's hue and a blue tie inside the suit.
    h, w = 120, 100
    y = np.linspace(0.8, 1.1, h)[:, None, None]
    image = (np.array([120, 140, 165], np.float32) * y * np.ones((1, w, 1))).clip(0, 255)
    yy, xx = np.mgrid[0:h, 0:w]
    head = ((xx - 50) / 18) ** 2 + ((yy - 45) / 24) ** 2 <= 1
    head |= (yy >= 60) & (yy < 80) & (np.abs(xx - 50) < 8)  # the neck
    suit = yy >= 80
    tie = suit & (np.abs(xx - 50) < 3)
    image[head] = (200, 150, 120)
    image[suit] = (30, 35, 48)
    image[tie] = (120, 140, 165)
    image = image.astype(np.uint8)
    skin = head.astype(np.float32)
    alpha, plate = photo._person_and_plate(image, np.array([32, 21, 36, 48]), skin)
    assert alpha[head].min() > 0.99 and alpha[suit].min() > 0.99
    assert alpha[tie].min() > 0.99  # backdrop-coloured, but not connected to the border
    backdrop = ~(head | suit)
    assert alpha[backdrop & (np.abs(xx - 50) > 25)].max() < 0.01
    assert plate.shape == image.shape


def test_tone_sets_the_pulse_strength(tmp_path):
    assert photo.tone_pulse_strength("light") == pytest.approx(photo.BASE_PULSE_STRENGTH)
    assert photo.tone_pulse_strength("dark") == pytest.approx(0.55 * photo.BASE_PULSE_STRENGTH)
    assert photo.tone_pulse_strength(None) == pytest.approx(0.775 * photo.BASE_PULSE_STRENGTH)
    (tmp_path / "tones.csv").write_text("file,visual_tone\na.jpg,medium-dark\n")
    assert photo.photo_tone(tmp_path / "a.jpg") == "medium-dark"
    assert photo.photo_tone(tmp_path / "b.jpg") is None


def test_a_real_face_in_a_varied_scene(tmp_path):
    if not (FACES / "face_016.jpg").is_file():
        pytest.skip(f"{FACES} is absent (the shared photo set)")
    for name in ("face_016.jpg", "sources.yaml", "tones.csv"):
        shutil.copy(FACES / name, tmp_path / name)
    identity = photo.write_photo_clip(
        tmp_path / "face_016.jpg", tmp_path / "v.avi", tmp_path / "v.csv", condition="clean",
        duration_s=1.0, width=160, height=120, seed=0, subject_index=5, scene="varied",
    )  # fmt: skip
    info = json.loads((tmp_path / "v.photo.json").read_text())
    assert info["visual_tone"] == "dark"
    assert info["pulse_strength"] == pytest.approx(photo.tone_pulse_strength("dark"))
    scene = Scene(**{k: tuple(v) if isinstance(v, list) else v for k, v in info["scene"].items()})
    assert dataclasses.asdict(scene) == info["scene"] | {
        "face_centre": tuple(info["scene"]["face_centre"]),
        "key_light": tuple(info["scene"]["key_light"]),
    }
    # The face box is where the scene put it, and skin lies inside it.
    x, y, w, h = identity.face_box
    assert h == pytest.approx(scene.face_px, rel=1e-6)
    assert x + w / 2 == pytest.approx(scene.face_centre[0] * 160)
    ys, xs = np.nonzero(identity.skin > 0.5)
    inside = (xs >= x - 0.2 * w) & (xs < x + 1.2 * w) & (ys >= y - 0.2 * h) & (ys < y + 1.5 * h)
    assert np.mean(inside) > 0.95
    # The studio backdrop is gone: little of the frame outside the person is its blue.
    lab = cv2.cvtColor((identity.background * 255).astype(np.uint8), cv2.COLOR_RGB2LAB)
    chroma = np.hypot(lab[..., 1].astype(float) - 122, lab[..., 2].astype(float) - 115)
    outside = identity.alpha < 0.05
    assert np.mean(chroma[outside] < 5) < 0.5
    cap = cv2.VideoCapture(str(tmp_path / "v.avi"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 30
