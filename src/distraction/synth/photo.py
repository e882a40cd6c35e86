"""Synthetic videos from real photographs of faces, with known physiology.

A still photograph is animated with the image-formation model of :mod:`distraction.synth`::

    value = L(t, x, y, c) * photo(x, y, c) * (1 + a_c * p(t) * skin(x, y)) + A_c(t) + noise

The physiology (:mod:`~distraction.synth.physiology`), the corruption presets
(:mod:`~distraction.synth.presets`), their per-frame draws
(:mod:`~distraction.synth.dynamics`) and the frame loop (:mod:`~distraction.synth.compositor`:
light field, ambient light, sensor noise, JPEG) are the cartoon renderer's own; only the
static layers differ:

* **skin** – a skin-colour model fitted to the face (:func:`fit_skin_map`), not a drawn
  shape. The face box of each photo the project renders (the shared set and the demo's) is
  recorded in ``photo_faces.csv`` (:func:`recorded_face`), so that these renders do not
  depend on which face detector the installed OpenCV offers; other photos are detected;
* **person** – a GrabCut segmentation seeded by the face box and the skin; the person moves
  (breathing, head motion) over a background plate in which it is inpainted, and camera
  shake moves both;
* **scene** – with ``scene="varied"``, the person is framed anew in a drawn room, texture,
  gradient or clutter (:mod:`~distraction.synth.scene`), at a face size and position drawn
  per subject;
* **pulse strength** – by the photo's skin tone (:data:`TONE_PULSE_FACTOR`, from the
  ``tones.csv`` beside the photos): melanin absorbs part of the light that blood would
  modulate, so darker skin carries a weaker pulse relative to the light it reflects.

The flicker presets get a spatial gradient of the flicker's depth and phase across the
frame (:data:`PHOTO_FLICKER_SPACE`; the cartoon presets keep uniform flicker so their clips
stay as they were).

Photos must come with a provenance record whose licence allows this use
(:func:`photo_provenance`, ``src/distraction/PHOTOS.md``).
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import cv2
import numpy as np
import yaml

from distraction.errors import InputError
from distraction.facetrack import detect_faces, face_detector
from distraction.files import file_sha256
from distraction.synth.clip import check_outputs, write_rendered
from distraction.synth.compositor import Layers, pulse_rgb, render
from distraction.synth.dynamics import SceneDynamics, scene_dynamics
from distraction.synth.physiology import (
    GROUND_TRUTH_FS,
    Physiology,
    clip_seeds,
    simulate_physiology,
)
from distraction.synth.presets import CONDITIONS, Corruption
from distraction.synth.scene import Scene, draw_background, draw_scene, place_person

__all__ = [
    "ALLOWED_LICENCES",
    "BUILTIN_PHOTOS",
    "PHOTO_FLICKER_SPACE",
    "TONE_PULSE_FACTOR",
    "PhotoIdentity",
    "PhotoSource",
    "builtin_photo",
    "fit_skin_map",
    "photo_identity",
    "photo_layers",
    "photo_provenance",
    "photo_tone",
    "read_photo",
    "render_photo_frames",
    "tone_pulse_strength",
    "write_photo_clip",
]

#: Licences under which a photo may be animated and its clips published (SPDX-style ids).
#: Anything else (non-commercial, no-derivatives, "all rights reserved", unknown) needs a
#: maintainer's decision and is refused here.
ALLOWED_LICENCES: frozenset[str] = frozenset(
    {"public-domain", "CC0-1.0", "CC-BY-2.0", "CC-BY-3.0", "CC-BY-4.0"}
)
#: Name of the provenance file in a folder of photos.
SOURCES_FILE = "sources.yaml"

#: Spatial change of the flicker across the frame in the flicker presets (Corruption fields):
#: depth ×(1 ± 0.6) and phase ±0.6 rad from the centre to the frame's edges along a random
#: direction, as from a lamp on one side or two lamps on different phases.
PHOTO_FLICKER_SPACE: dict[str, float] = {
    "flicker_depth_gradient": 0.6,
    "flicker_phase_gradient": 0.6,
}

#: Green pulse amplitude of a photographed subject before its tone's factor (the middle of
#: the cartoon subjects' 0.0036–0.005).
BASE_PULSE_STRENGTH = 0.0042
#: Pulse amplitude relative to light skin, by ``visual_tone`` (tones.csv). Melanin absorbs
#: light before and after it meets the blood, so the pulsatile part of the reflected light
#: shrinks with darker skin; a tone that is not listed gets the middle value.
TONE_PULSE_FACTOR: dict[str, float] = {
    "light": 1.0,
    "medium": 0.85,
    "medium-dark": 0.7,
    "dark": 0.55,
}
#: Name of the skin-tone table in a folder of photos.
TONES_FILE = "tones.csv"

#: Skin-colour model: Mahalanobis distance (in Cr/Cb) below which a pixel is all skin,
#: and above which it is none (linear in between).
SKIN_DISTANCE: tuple[float, float] = (2.0, 3.0)


@dataclass(frozen=True)
class PhotoSource:
    """Provenance of one photo.

    Attributes
    ----------
    name : str
        File name.
    licence : str
        Licence id (one of :data:`ALLOWED_LICENCES` to be usable).
    source : str
        Where the photo comes from (URL or package path).
    author : str
        Author or rights holder, as the licence requires it to be credited.
    note : str
        Anything else (why the licence applies).
    """

    name: str
    licence: str
    source: str
    author: str
    note: str = ""


#: Photos shipped with dependencies, usable in tests without any download.
BUILTIN_PHOTOS: dict[str, PhotoSource] = {
    "grace_hopper.jpg": PhotoSource(
        name="grace_hopper.jpg",
        licence="public-domain",
        source="matplotlib: mpl-data/sample_data/grace_hopper.jpg",
        author="U.S. Navy (official portrait of Commodore Grace M. Hopper, 1984)",
        note="A work of the U.S. federal government, in the public domain (17 U.S.C. § 105).",
    ),
}


def builtin_photo(name: str = "grace_hopper.jpg") -> Path:
    """Path of a photo of :data:`BUILTIN_PHOTOS` (from matplotlib's sample data)."""
    if name not in BUILTIN_PHOTOS:
        raise InputError(f"{name}: not a built-in photo (known: {', '.join(BUILTIN_PHOTOS)})")
    from matplotlib import cbook

    return Path(cbook.get_sample_data(name, asfileobj=False))


def photo_provenance(photo_path: Path) -> PhotoSource:
    """The provenance record of a photo, checked against the licence rule.

    The record is the photo's entry (by file name) in ``sources.yaml`` next to it::

        portrait.jpg: {licence: CC-BY-4.0, source: https://..., author: Jane Doe}

    or, for a file matplotlib ships, :data:`BUILTIN_PHOTOS`.

    Raises
    ------
    InputError
        No record, a licence outside :data:`ALLOWED_LICENCES`, or a reserved photo.
    """
    photo_path = Path(photo_path)
    name = photo_path.name
    sources = photo_path.parent / SOURCES_FILE
    record: PhotoSource | None = None
    if sources.is_file():
        table = yaml.safe_load(sources.read_text(encoding="utf-8")) or {}
        if not isinstance(table, dict):
            raise InputError(f"{sources}: expected a mapping of file names to records")
        entry = table.get(name)
        if isinstance(entry, dict):
            try:
                record = PhotoSource(
                    name=name,
                    licence=str(entry["licence"]),
                    source=str(entry["source"]),
                    author=str(entry["author"]),
                    note=str(entry.get("note", "")),
                )
            except KeyError as err:
                raise InputError(f"{sources}: {name}: missing field {err}") from None
    if record is None and name in BUILTIN_PHOTOS:
        if photo_path.resolve() == builtin_photo(name).resolve():
            record = BUILTIN_PHOTOS[name]
    if record is None:
        raise InputError(f"{photo_path}: no provenance record (add it to {sources}, see PHOTOS.md)")
    if record.licence not in ALLOWED_LICENCES:
        raise InputError(
            f"{photo_path}: licence {record.licence!r} is not one of "
            f"{', '.join(sorted(ALLOWED_LICENCES))} (PHOTOS.md)"
        )
    return record


def photo_tone(photo_path: Path) -> str | None:
    """The ``visual_tone`` of a photo in the ``tones.csv`` beside it, or None."""
    import csv

    table = Path(photo_path).parent / TONES_FILE
    if not table.is_file():
        return None
    with table.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row.get("file") == Path(photo_path).name:
                return row.get("visual_tone") or None
    return None


def tone_pulse_strength(tone: str | None) -> float:
    """The green pulse amplitude of a subject of skin tone ``tone`` (:data:`TONE_PULSE_FACTOR`)."""
    factor = TONE_PULSE_FACTOR.get(tone or "", float(np.median(list(TONE_PULSE_FACTOR.values()))))
    return BASE_PULSE_STRENGTH * factor


def read_photo(path: Path) -> np.ndarray:
    """An RGB uint8 photo (any format OpenCV reads)."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(f"{path}: cannot read the photo")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


# --------------------------------------------------------------------------------------
# Static layers of a photo
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class PhotoIdentity:
    """A photo prepared for rendering at one frame size.

    Carries what :func:`distraction.synth.scene_dynamics` and the frame loop read of a
    subject (:class:`~distraction.synth.dynamics.Subject`) (``face_height``, ``breath_motion_px``,
    ``pulse_strength``) and the static layers.

    Attributes
    ----------
    image : ndarray
        (H, W, 3) float32 reflectance in [0, 1]: the photo cropped to the frame's aspect
        around the face and resized.
    skin : ndarray
        (H, W) float32 soft skin map in [0, 1] (the part that pulses).
    alpha : ndarray
        (H, W) float32 coverage of the person (what head motion moves).
    background : ndarray
        (H, W, 3) float32 background plate: the photo with the person inpainted.
    face_box : tuple of float
        Detected face ``x, y, w, h`` in frame pixels, at rest.
    face_height : float
        Face box height over frame height.
    pulse_strength : float
        Relative green pulse amplitude.
    breath_motion_px : float
        Peak-to-peak vertical motion from breathing, pixels at 320 px height.
    """

    image: np.ndarray
    skin: np.ndarray
    alpha: np.ndarray
    background: np.ndarray
    face_box: tuple[float, float, float, float]
    face_height: float
    pulse_strength: float
    breath_motion_px: float

    @property
    def size(self) -> tuple[int, int]:
        """Frame ``(width, height)``."""
        return self.image.shape[1], self.image.shape[0]


def _crop_to_aspect(
    image: np.ndarray, box: np.ndarray, width: int, height: int
) -> tuple[np.ndarray, np.ndarray]:
    """The largest crop of ``image`` with the frame's aspect, centred on the face where the
    photo allows, resized to (width, height); and the face box in frame pixels."""
    h0, w0 = image.shape[:2]
    aspect = width / height
    cw = min(float(w0), h0 * aspect)
    ch = cw / aspect
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    x0 = float(np.clip(cx - cw / 2, 0.0, w0 - cw))
    y0 = float(np.clip(cy - ch / 2, 0.0, h0 - ch))
    ix0, iy0 = round(x0), round(y0)
    ix1, iy1 = min(w0, ix0 + round(cw)), min(h0, iy0 + round(ch))
    crop = image[iy0:iy1, ix0:ix1]
    scale_x, scale_y = width / crop.shape[1], height / crop.shape[0]
    method = cv2.INTER_AREA if scale_x < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(crop, (width, height), interpolation=method)
    frame_box = np.array(
        [(box[0] - ix0) * scale_x, (box[1] - iy0) * scale_y, box[2] * scale_x, box[3] * scale_y]
    )
    return resized, frame_box


def fit_skin_map(image: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Soft skin map of a face photo from a skin-colour model fitted to its face.

    The model is a Gaussian in the chrominance plane (Cr, Cb of YCrCb), whose mean and
    covariance are estimated over the central part of the face box (x 25–75 %, y 30–85 %:
    cheeks, nose, mouth; forehead and hair left out), fitted twice, the second time only on
    the pixels within 3 standard deviations of the first (this drops glasses frames,
    eyebrows, lips and specular highlights). A pixel is skin by its Mahalanobis distance
    ``d`` to the model: all skin below 2, none above 3, linear in between; too dark or
    too bright pixels (luma below 20 % of the face core's 95th percentile, or 250 and
    over) are not skin, their chroma is noise or clipped. The map is kept inside the face
    box grown by 30 % to the sides, 35 % up and 45 % down (the neck below the chin), so that a
    background or clothing of similar colour elsewhere is excluded, then cleaned by a
    morphological opening and softened by a slight blur.

    Parameters
    ----------
    image : ndarray
        (H, W, 3) uint8 RGB.
    box : ndarray
        Face ``x, y, w, h`` in pixels.

    Returns
    -------
    ndarray
        (H, W) float32 in [0, 1].
    """
    height, width = image.shape[:2]
    ycc = cv2.cvtColor(image, cv2.COLOR_RGB2YCrCb).astype(np.float32)
    luma, chroma = ycc[..., 0], ycc[..., 1:]
    x, y, w, h = (float(v) for v in box[:4])
    core = (
        slice(max(0, int(y + 0.30 * h)), min(height, int(np.ceil(y + 0.85 * h)))),
        slice(max(0, int(x + 0.25 * w)), min(width, int(np.ceil(x + 0.75 * w)))),
    )
    core_luma = luma[core].ravel()
    samples = chroma[core].reshape(-1, 2)
    bright = float(np.percentile(core_luma, 95))
    lit = (core_luma > 0.2 * bright) & (core_luma < 250)
    if lit.sum() < 10:
        raise InputError("the face is too small or too dark to fit a skin-colour model")
    samples = samples[lit]
    mean, inv = _gaussian(samples)
    keep = _mahalanobis2(samples, mean, inv) < 9.0
    if keep.sum() >= 10:
        mean, inv = _gaussian(samples[keep])
    d = np.sqrt(_mahalanobis2(chroma.reshape(-1, 2), mean, inv)).reshape(height, width)
    lo, hi = SKIN_DISTANCE
    skin = np.clip((hi - d) / (hi - lo), 0.0, 1.0).astype(np.float32)
    skin[(luma < 0.2 * bright) | (luma >= 250)] = 0.0
    region = np.zeros((height, width), np.float32)
    ry0, ry1 = max(0, int(y - 0.35 * h)), min(height, int(np.ceil(y + 1.45 * h)))
    rx0, rx1 = max(0, int(x - 0.3 * w)), min(width, int(np.ceil(x + 1.3 * w)))
    region[ry0:ry1, rx0:rx1] = 1.0
    skin *= region
    # Opening removes isolated skin-coloured specks (a few pixels of wood, flag, fabric).
    k = max(1, round(0.03 * h)) | 1
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    skin = cv2.morphologyEx(skin, cv2.MORPH_OPEN, kernel)
    return np.clip(cv2.GaussianBlur(skin, (0, 0), 0.7), 0.0, 1.0).astype(np.float32)


def _gaussian(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = samples.mean(axis=0)
    cov = np.cov(samples, rowvar=False) + np.eye(2) * 0.25  # floor: chroma is quantised
    return mean, np.linalg.inv(cov)


def _mahalanobis2(samples: np.ndarray, mean: np.ndarray, inv: np.ndarray) -> np.ndarray:
    diff = samples - mean
    return np.einsum("ni,ij,nj->n", diff, inv, diff)


def _segment_person(image: np.ndarray, box: np.ndarray, skin: np.ndarray) -> np.ndarray:
    """Hard (H, W) mask of the person: GrabCut seeded with a head-and-shoulders outline
    around the face box (probably person), the rest probably background, the frame's
    border beside and above the head surely background, and the face core and skin surely
    person."""
    height, width = image.shape[:2]
    x, y, w, h = (float(v) for v in box[:4])

    def rows(a: float, b: float) -> slice:
        return slice(min(height, max(0, int(a))), min(height, max(0, int(np.ceil(b)))))

    def cols(a: float, b: float) -> slice:
        return slice(min(width, max(0, int(a))), min(width, max(0, int(np.ceil(b)))))

    mask = np.full((height, width), cv2.GC_PR_BGD, np.uint8)
    border = np.zeros((height, width), bool)
    border[rows(0, y + 0.9 * h), :2] = True
    border[rows(0, y + 0.9 * h), -2:] = True
    border[:2, :] = True
    mask[border] = cv2.GC_BGD
    mask[rows(y - 0.5 * h, y + 1.1 * h), cols(x - 0.3 * w, x + 1.3 * w)] = cv2.GC_PR_FGD
    mask[rows(y + 1.1 * h, height), cols(x - 1.2 * w, x + 2.2 * w)] = cv2.GC_PR_FGD
    mask[skin > 0.5] = cv2.GC_FGD
    mask[rows(y + 0.2 * h, y + 0.9 * h), cols(x + 0.2 * w, x + 0.8 * w)] = cv2.GC_FGD
    if not np.isin(mask, (cv2.GC_BGD, cv2.GC_PR_BGD)).any():
        return np.ones((height, width), bool)
    bgd, fgd = np.zeros((1, 65)), np.zeros((1, 65))
    cv2.setRNGSeed(0)  # GrabCut's GMM initialisation draws from OpenCV's global RNG
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    cv2.grabCut(bgr, mask, None, bgd, fgd, 5, cv2.GC_INIT_WITH_MASK)
    person = (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)
    # Keep the component holding the face (GrabCut may keep stray background blobs).
    n, labels = cv2.connectedComponents(person.astype(np.uint8))
    face_label = labels[int(y + h / 2), int(x + w / 2)]
    if n > 1 and face_label > 0:
        person = labels == face_label
    return person


#: Face boxes recorded for the photos the project renders, by the photo file's SHA-256.
RECORDED_FACES = "photo_faces.csv"


@functools.cache
def _recorded_faces() -> dict[str, tuple[float, float, float, float]]:
    import csv

    text = resources.files("distraction.synth").joinpath(RECORDED_FACES).read_text()
    return {
        row["sha256"]: (float(row["x"]), float(row["y"]), float(row["w"]), float(row["h"]))
        for row in csv.DictReader(text.splitlines())
    }


def recorded_face(sha256: str) -> np.ndarray | None:
    """The recorded face box of a photo, or None for a photo not recorded.

    OpenCV 4 wheels ship the frontal-face Haar cascade and OpenCV 5 wheels do not
    (:func:`distraction.facetrack.face_detector` then uses BlazeFace), and the two place a face
    differently, so a detected box would make a render depend on the installed OpenCV.
    ``photo_faces.csv`` holds the cascade's box (OpenCV 4; ``tools/record_photo_faces.py``)
    of every photo in ``../shared/faces`` and ``synth/faces``: the boxes that the training,
    validation and test clips were rendered with.

    Parameters
    ----------
    sha256 : str
        SHA-256 of the photo file (hex).

    Returns
    -------
    ndarray, shape (4,), or None
        ``x, y, w, h`` in photo pixels.
    """
    box = _recorded_faces().get(sha256)
    return None if box is None else np.asarray(box, dtype=np.float64)


def photo_identity(
    image: np.ndarray,
    *,
    width: int,
    height: int,
    pulse_strength: float = BASE_PULSE_STRENGTH,
    breath_motion_px: float = 1.5,
    segment: bool = True,
    detector: cv2.CascadeClassifier | None = None,
    scene: Scene | None = None,
    face: np.ndarray | None = None,
) -> PhotoIdentity:
    """Prepare a face photo for rendering at ``width`` × ``height``.

    The face is ``face`` where given (:func:`recorded_face`), else the largest frontal face
    :func:`distraction.facetrack.detect_faces` finds on the full photo. Without ``scene``,
    the photo is cropped to the frame's aspect around it and resized, and the skin map
    comes from :func:`fit_skin_map`; with ``segment``, the person is segmented (GrabCut) and
    the background behind it inpainted (Telea), so that head motion moves the person over a
    still background; without, the whole photo moves as one (the background then shares the
    head's motion).

    With a ``scene`` (:func:`distraction.synth.scene.draw_scene`), the person is segmented
    on the photo itself and placed into the frame as the scene frames them
    (:func:`~distraction.synth.scene.place_person`), over the scene's drawn background.

    Parameters
    ----------
    image : ndarray
        (H, W, 3) uint8 RGB photo.
    width, height : int
        Frame size.
    pulse_strength : float
        Relative green pulse amplitude (:func:`tone_pulse_strength` gives it by skin tone).
    breath_motion_px : float
        Peak-to-peak breathing motion, pixels at 320 px frame height.
    segment : bool
        Segment the person (else the whole frame moves); a scene always segments.
    detector : cv2.CascadeClassifier, optional
        Face detector (default: :func:`distraction.facetrack.face_detector`).
    scene : Scene, optional
        A new framing and background.
    face : ndarray, optional
        The face box ``x, y, w, h`` in photo pixels, instead of detecting it.

    Raises
    ------
    InputError
        No face found, or a face too small for a skin-colour model.
    """
    if width < 16 or height < 16:
        raise ValueError(f"frame must be at least 16x16 px, got {width}x{height}")
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise InputError(f"expected an (H, W, 3) uint8 RGB photo, got {image.shape} {image.dtype}")
    if face is not None:
        faces = np.asarray(face, dtype=np.float64).reshape(1, -1)
    else:
        faces = detect_faces(detector or face_detector(), image)
    if len(faces) == 0:
        raise InputError("no frontal face found in the photo")
    if scene is not None:
        return _scene_identity(
            image, faces[0], scene, width, height, pulse_strength, breath_motion_px
        )
    frame, box = _crop_to_aspect(image, faces[0], width, height)
    skin = fit_skin_map(frame, box)
    if segment:
        alpha, plate = _person_and_plate(frame, box, skin)
    else:
        plate = frame
        alpha = np.ones((height, width), np.float32)
    skin = np.minimum(skin, alpha)
    return PhotoIdentity(
        image=np.ascontiguousarray(frame, np.float32) / np.float32(255.0),
        skin=np.ascontiguousarray(skin, np.float32),
        alpha=np.ascontiguousarray(alpha, np.float32),
        background=np.ascontiguousarray(plate, np.float32) / np.float32(255.0),
        face_box=(float(box[0]), float(box[1]), float(box[2]), float(box[3])),
        face_height=float(box[3] / height),
        pulse_strength=float(pulse_strength),
        breath_motion_px=float(breath_motion_px),
    )


#: Studio backdrop key (CIELAB, 8-bit units): a pixel whose chroma lies within the first
#: distance of the backdrop's is backdrop, beyond the second it is not (linear between),
#: and anything much darker than the backdrop is not (a dark suit of the same hue).
BACKDROP_CHROMA: tuple[float, float] = (5.0, 9.0)
#: The border counts as a plain backdrop when its chroma varies less than this (std).
BACKDROP_MAX_CHROMA_STD = 4.0


def _backdrop_key(image: np.ndarray) -> np.ndarray | None:
    """Soft (H, W) backdrop coverage of a studio portrait, or None when the photo's upper
    border is not one plain colour (then GrabCut alone segments it).

    The backdrop's colour is that of the top border and the upper 40 % of the side
    borders; backdrop is what matches it (:data:`BACKDROP_CHROMA`) and is connected to
    those borders, so a tie or a shirt of the backdrop's colour inside the person stays."""
    height, width = image.shape[:2]
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)
    b = max(2, int(0.04 * width))
    upper = int(0.4 * height)
    border = np.concatenate(
        [lab[:b].reshape(-1, 3), lab[:upper, :b].reshape(-1, 3), lab[:upper, -b:].reshape(-1, 3)]
    )
    mean, std = border.mean(axis=0), border.std(axis=0)
    if max(std[1], std[2]) > BACKDROP_MAX_CHROMA_STD:
        return None
    chroma = np.hypot(lab[..., 1] - mean[1], lab[..., 2] - mean[2])
    near, far = BACKDROP_CHROMA
    key = np.clip((far - chroma) / (far - near), 0.0, 1.0)
    key[lab[..., 0] < mean[0] - 3.0 * std[0] - 15.0] = 0.0
    _, labels = cv2.connectedComponents((key > 0.5).astype(np.uint8))
    touching = set(np.unique(labels[:b])) | set(np.unique(labels[:upper, :b]))
    touching |= set(np.unique(labels[:upper, -b:]))
    connected = np.isin(labels, [k for k in touching if k > 0])
    # Soft edges (hair strands) around the connected backdrop, hard elsewhere.
    near_backdrop = cv2.dilate(connected.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    return np.where(near_backdrop, key, 0.0).astype(np.float32)


def _person_and_plate(
    image: np.ndarray, box: np.ndarray, skin: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The person's soft coverage and the photo with the person inpainted (uint8).

    A studio portrait (a plain backdrop) is keyed on the backdrop's colour
    (:func:`_backdrop_key`); any other photo is segmented by GrabCut."""
    height = image.shape[0]
    key = _backdrop_key(image)
    if key is not None:
        alpha = 1.0 - key
        person = alpha > 0.5
        n, labels = cv2.connectedComponents(person.astype(np.uint8))
        x, y, w, h = (float(v) for v in box[:4])
        face_label = labels[int(y + h / 2), int(x + w / 2)]
        if n > 1 and face_label > 0:
            alpha = np.where(labels == face_label, alpha, np.minimum(alpha, 0.0))
            # Keep the soft fringe that touches the face's component.
            fringe = cv2.dilate((labels == face_label).astype(np.uint8), np.ones((3, 3), np.uint8))
            alpha = np.where(fringe > 0, np.maximum(alpha, 1.0 - key), alpha)
            person = labels == face_label
        alpha = np.clip(alpha, 0.0, 1.0).astype(np.float32)
    else:
        person = _segment_person(image, box, skin)
        alpha = cv2.GaussianBlur(person.astype(np.float32), (0, 0), 0.6)
        alpha[person] = np.maximum(alpha[person], 0.999)  # hard inside, soft only outside
        alpha = np.clip(alpha, 0.0, 1.0)
    hole = cv2.dilate((alpha > 0.05).astype(np.uint8), np.ones((5, 5), np.uint8))
    plate = cv2.inpaint(image, hole, max(3.0, 0.05 * height), cv2.INPAINT_TELEA)
    return alpha, plate


def _scene_identity(
    image: np.ndarray,
    box: np.ndarray,
    scene: Scene,
    width: int,
    height: int,
    pulse_strength: float,
    breath_motion_px: float,
) -> PhotoIdentity:
    skin = fit_skin_map(image, box)
    alpha, _ = _person_and_plate(image, box, skin)
    skin = np.minimum(skin, alpha)
    reflectance = image.astype(np.float32) / np.float32(255.0)
    face = (float(box[0]), float(box[1]), float(box[2]), float(box[3]))
    placed, placed_alpha, placed_skin, frame_box, _ = place_person(
        reflectance, alpha, skin, face, scene, width=width, height=height
    )
    background = draw_background(scene.kind, scene.seed, width=width, height=height)
    return PhotoIdentity(
        image=np.ascontiguousarray(placed, np.float32),
        skin=np.ascontiguousarray(placed_skin, np.float32),
        alpha=np.ascontiguousarray(placed_alpha, np.float32),
        background=np.ascontiguousarray(background, np.float32),
        face_box=frame_box,
        face_height=float(frame_box[3] / height),
        pulse_strength=float(pulse_strength),
        breath_motion_px=float(breath_motion_px),
    )


def photo_layers(identity: PhotoIdentity) -> Layers:
    """The photo as the compositor's static layers (premultiplied foreground)."""
    alpha = identity.alpha
    fg = identity.image * alpha[..., None]
    x, y, w, h = identity.face_box
    return Layers(
        background=np.ascontiguousarray(identity.background, np.float32),
        fg=np.ascontiguousarray(fg, np.float32),
        fg_skin=np.ascontiguousarray(identity.image * identity.skin[..., None], np.float32),
        alpha=np.ascontiguousarray(alpha, np.float32),
        skin=identity.skin,
        pivot=(x + w / 2, y + h / 2),
    )


def photo_corruption(condition: str, *, flicker_space: bool = True) -> Corruption:
    """The preset ``condition``, with :data:`PHOTO_FLICKER_SPACE` added to flicker presets
    that do not set a spatial flicker themselves."""
    if condition not in CONDITIONS:
        raise InputError(f"unknown condition {condition!r} (known: {', '.join(CONDITIONS)})")
    corruption = CONDITIONS[condition]
    uniform = corruption.flicker_depth_gradient == 0 and corruption.flicker_phase_gradient == 0
    if flicker_space and corruption.flicker_amplitude[1] > 0 and uniform:
        corruption = dataclasses.replace(corruption, **PHOTO_FLICKER_SPACE)
    return corruption


def render_photo_frames(
    identity: PhotoIdentity,
    physiology: Physiology,
    corruption: Corruption,
    *,
    fps: float,
    seed: int,
) -> tuple[SceneDynamics, Iterator[np.ndarray]]:
    """Render a photo clip frame by frame (see :func:`distraction.synth.render_frames`).

    Returns
    -------
    tuple
        The clip's :class:`~distraction.synth.SceneDynamics` (what was applied: head
        shift, shake, flicker) and an iterator over (H, W, 3) uint8 RGB frames.
    """
    width, height = identity.size
    dyn = scene_dynamics(
        identity, physiology, corruption, width=width, height=height, fps=fps, seed=seed
    )
    noise_rng = np.random.default_rng([seed, 4])
    pulse = pulse_rgb(identity.pulse_strength)
    return dyn, render(photo_layers(identity), dyn, pulse, corruption, noise_rng)


#: Framings of a photo clip: the photo's own (``studio``), or a scene drawn per subject.
SCENES: tuple[str, ...] = ("studio", "varied")


def write_photo_clip(
    photo_path: Path,
    video_path: Path,
    ground_truth_path: Path,
    *,
    condition: str,
    duration_s: float,
    fps: float = 30.0,
    width: int = 160,
    height: int = 120,
    seed: int = 0,
    subject_index: int = 0,
    codec: str = "MJPG",
    quality: int = 95,
    segment: bool = True,
    scene: str = "studio",
) -> PhotoIdentity:
    """Animate a face photo; write video, ground truth, skin map and provenance.

    Writes ``video_path``, ``ground_truth_path`` (CSV ``time,ppg,resp,hr,br`` at 100 Hz,
    as :func:`distraction.synth.write_clip`), ``<video stem>.skin.png`` (the soft skin
    map at rest, 0–255) and ``<video stem>.photo.json`` (the photo's provenance record,
    its SHA-256, its skin tone, the face box at rest and the scene), all atomically.
    Physiology and corruption seeds are :func:`distraction.synth.clip_seeds` of ``(seed,
    subject_index, condition)``, as for the cartoon subject of the same index; the scene
    (``scene="varied"``) is drawn from ``(seed, subject_index)``, so a subject keeps it in
    every condition. The pulse strength follows the photo's skin tone
    (:func:`tone_pulse_strength`). Deterministic by seed.

    Raises
    ------
    InputError
        Unknown condition or scene, missing folder, a photo without an allowed provenance
        record, no face in it, or a codec that cannot be encoded.
    """
    photo_path, video_path = Path(photo_path), Path(video_path)
    ground_truth_path = Path(ground_truth_path)
    if scene not in SCENES:
        raise InputError(f"{video_path}: unknown scene {scene!r} (known: {', '.join(SCENES)})")
    check_outputs(video_path, ground_truth_path, condition)
    corruption = photo_corruption(condition)
    record = photo_provenance(photo_path)
    tone = photo_tone(photo_path)
    framing = None
    if scene == "varied":
        scene_seed = int(
            np.random.SeedSequence([seed, subject_index, 0x5CE7E]).generate_state(1)[0]
        )
        framing = draw_scene(scene_seed, width=width, height=height)
    # A photo without a tone keeps the strength photo clips always had.
    strength = BASE_PULSE_STRENGTH if tone is None else tone_pulse_strength(tone)
    sha256 = file_sha256(photo_path)
    face = recorded_face(sha256)
    try:
        identity = photo_identity(
            read_photo(photo_path),
            width=width,
            height=height,
            segment=segment,
            scene=framing,
            pulse_strength=strength,
            face=face,
        )
    except InputError as err:
        raise InputError(f"{photo_path}: {err}") from None
    phys_seed, render_seed = clip_seeds(seed, subject_index, condition)
    physiology = simulate_physiology(duration_s, GROUND_TRUTH_FS, phys_seed)
    info = {
        "photo": dataclasses.asdict(record),
        "sha256": sha256,
        "face_box": list(identity.face_box),
        "face_in_photo": "recorded (photo_faces.csv)" if face is not None else "detected",
        "segmented": segment,
        "pulse_strength": identity.pulse_strength,
        "condition": condition,
    }
    if tone is not None:
        info["visual_tone"] = tone
    if framing is not None:
        info["scene"] = dataclasses.asdict(framing)
    _, frames = render_photo_frames(identity, physiology, corruption, fps=fps, seed=render_seed)
    skin = np.round(identity.skin * 255.0).astype(np.uint8)
    write_rendered(
        video_path,
        ground_truth_path,
        frames,
        physiology,
        skin,
        fps=fps,
        codec=codec,
        quality=quality,
        sidecars={".photo.json": json.dumps(info, indent=2) + "\n"},
    )
    return identity
