"""Synthetic videos from real photographs of faces, with known physiology.

A still photograph is animated with the image-formation model of :mod:`distraction.synth`::

    value = L(t, x, y, c) * photo(x, y, c) * (1 + a_c * p(t) * skin(x, y)) + A_c(t) + noise

The physiology (:func:`~distraction.synth.simulate_physiology`), the corruption presets
(:data:`~distraction.synth.CONDITIONS`), their per-frame draws
(:func:`~distraction.synth.scene_dynamics`) and the frame loop (light field, ambient light,
sensor noise, JPEG) are the cartoon renderer's own; only the static layers differ:

* **skin** – a skin-colour model fitted to the detected face (:func:`fit_skin_map`), not a
  drawn shape;
* **person** – a GrabCut segmentation seeded by the face box and the skin; the person moves
  (breathing, head motion) over a background plate in which it is inpainted, and camera
  shake moves both.

The flicker presets get a spatial gradient of the flicker's depth and phase across the
frame (:data:`PHOTO_FLICKER_SPACE`; the cartoon presets keep uniform flicker so their clips
stay as they were).

Photos must come with a provenance record whose licence allows this use
(:func:`photo_provenance`, ``src/distraction/PHOTOS.md``).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import yaml

from distraction import synth
from distraction.atomic import atomic_path
from distraction.errors import InputError
from distraction.facetrack import detect_faces, face_detector
from distraction.files import file_sha256

__all__ = [
    "ALLOWED_LICENCES",
    "BUILTIN_PHOTOS",
    "PHOTO_FLICKER_SPACE",
    "PhotoIdentity",
    "PhotoSource",
    "builtin_photo",
    "fit_skin_map",
    "photo_identity",
    "photo_provenance",
    "read_photo",
    "render_photo_frames",
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

    Carries what :func:`distraction.synth.scene_dynamics` and the frame loop read from an
    :class:`~distraction.synth.Identity` (``face_height``, ``breath_motion_px``,
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


def photo_identity(
    image: np.ndarray,
    *,
    width: int,
    height: int,
    pulse_strength: float = 0.0042,
    breath_motion_px: float = 1.5,
    segment: bool = True,
    detector: cv2.CascadeClassifier | None = None,
) -> PhotoIdentity:
    """Prepare a face photo for rendering at ``width`` × ``height``.

    The largest frontal face (:func:`distraction.facetrack.detect_faces`, on the full
    photo) is kept; the photo is cropped to the frame's aspect around it and resized; the
    skin map comes from :func:`fit_skin_map`. With ``segment``, the person is segmented
    (GrabCut) and the background behind it inpainted (Telea), so that head motion moves
    the person over a still background; without, the whole photo moves as one (the
    background then shares the head's motion).

    Parameters
    ----------
    image : ndarray
        (H, W, 3) uint8 RGB photo.
    width, height : int
        Frame size.
    pulse_strength : float
        Relative green pulse amplitude (the cartoon subjects' range is 0.003–0.005).
    breath_motion_px : float
        Peak-to-peak breathing motion, pixels at 320 px frame height.
    segment : bool
        Segment the person (else the whole frame moves).
    detector : cv2.CascadeClassifier, optional
        Face detector (default: OpenCV's frontal-face cascade).

    Raises
    ------
    InputError
        No face found, or a face too small for a skin-colour model.
    """
    if width < 16 or height < 16:
        raise ValueError(f"frame must be at least 16x16 px, got {width}x{height}")
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise InputError(f"expected an (H, W, 3) uint8 RGB photo, got {image.shape} {image.dtype}")
    faces = detect_faces(detector or face_detector(), image)
    if len(faces) == 0:
        raise InputError("no frontal face found in the photo")
    frame, box = _crop_to_aspect(image, faces[0], width, height)
    skin = fit_skin_map(frame, box)
    if segment:
        person = _segment_person(frame, box, skin)
        hole = cv2.dilate(person.astype(np.uint8), np.ones((5, 5), np.uint8))
        plate = cv2.inpaint(frame, hole, max(3.0, 0.05 * height), cv2.INPAINT_TELEA)
        alpha = cv2.GaussianBlur(person.astype(np.float32), (0, 0), 0.6)
        alpha[person] = np.maximum(alpha[person], 0.999)  # hard inside, soft only outside
        alpha = np.clip(alpha, 0.0, 1.0)
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


def _layers(identity: PhotoIdentity) -> synth._Layers:
    """The photo as the cartoon renderer's static layers (premultiplied foreground)."""
    alpha = identity.alpha
    fg = identity.image * alpha[..., None]
    x, y, w, h = identity.face_box
    return synth._Layers(
        background=np.ascontiguousarray(identity.background, np.float32),
        fg=np.ascontiguousarray(fg, np.float32),
        fg_skin=np.ascontiguousarray(identity.image * identity.skin[..., None], np.float32),
        alpha=np.ascontiguousarray(alpha, np.float32),
        skin=identity.skin,
        pivot=(x + w / 2, y + h / 2),
    )


def photo_corruption(condition: str, *, flicker_space: bool = True) -> synth.Corruption:
    """The preset ``condition``, with :data:`PHOTO_FLICKER_SPACE` added to flicker presets
    that do not set a spatial flicker themselves."""
    if condition not in synth.CONDITIONS:
        raise InputError(f"unknown condition {condition!r} (known: {', '.join(synth.CONDITIONS)})")
    corruption = synth.CONDITIONS[condition]
    uniform = corruption.flicker_depth_gradient == 0 and corruption.flicker_phase_gradient == 0
    if flicker_space and corruption.flicker_amplitude[1] > 0 and uniform:
        corruption = dataclasses.replace(corruption, **PHOTO_FLICKER_SPACE)
    return corruption


def render_photo_frames(
    identity: PhotoIdentity,
    physiology: synth.Physiology,
    corruption: synth.Corruption,
    *,
    fps: float,
    seed: int,
) -> tuple[synth.SceneDynamics, Iterator[np.ndarray]]:
    """Render a photo clip frame by frame (see :func:`distraction.synth.render_frames`).

    Returns
    -------
    tuple
        The clip's :class:`~distraction.synth.SceneDynamics` (what was applied: head
        shift, shake, flicker) and an iterator over (H, W, 3) uint8 RGB frames.
    """
    width, height = identity.size
    dyn = synth.scene_dynamics(
        identity,  # type: ignore[arg-type]  # reads face_height and breath_motion_px
        physiology,
        corruption,
        width=width,
        height=height,
        fps=fps,
        seed=seed,
    )
    noise_rng = np.random.default_rng([seed, 4])
    frames = synth._render(_layers(identity), dyn, identity, corruption, noise_rng)  # type: ignore[arg-type]
    return dyn, frames


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
) -> PhotoIdentity:
    """Animate a face photo; write video, ground truth, skin map and provenance.

    Writes ``video_path``, ``ground_truth_path`` (CSV ``time,ppg,resp,hr,br`` at 100 Hz,
    as :func:`distraction.synth.write_clip`), ``<video stem>.skin.png`` (the soft skin
    map at rest, 0–255) and ``<video stem>.photo.json`` (the photo's provenance record,
    its SHA-256 and the detected face box), all atomically. Physiology and corruption
    seeds are :func:`distraction.synth.clip_seeds` of ``(seed, subject_index, condition)``,
    as for the cartoon subject of the same index. Deterministic by seed.

    Raises
    ------
    InputError
        Unknown condition, missing folder, a photo without an allowed provenance record,
        no face in it, or a codec that cannot be encoded.
    """
    photo_path, video_path = Path(photo_path), Path(video_path)
    ground_truth_path = Path(ground_truth_path)
    corruption = photo_corruption(condition)
    for folder in {video_path.parent, ground_truth_path.parent}:
        if not folder.is_dir():
            raise InputError(f"{folder}: output folder does not exist")
    record = photo_provenance(photo_path)
    try:
        identity = photo_identity(
            read_photo(photo_path), width=width, height=height, segment=segment
        )
    except InputError as err:
        raise InputError(f"{photo_path}: {err}") from None
    phys_seed, render_seed = synth.clip_seeds(seed, subject_index, condition)
    physiology = synth.simulate_physiology(duration_s, synth.GROUND_TRUTH_FS, phys_seed)
    mask_path = video_path.with_name(f"{video_path.stem}.skin.png")
    info_path = video_path.with_name(f"{video_path.stem}.photo.json")
    info = {
        "photo": dataclasses.asdict(record),
        "sha256": file_sha256(photo_path),
        "face_box": list(identity.face_box),
        "segmented": segment,
        "pulse_strength": identity.pulse_strength,
        "condition": condition,
    }
    with (
        atomic_path(video_path) as tmp_video,
        atomic_path(ground_truth_path) as tmp_gt,
        atomic_path(mask_path) as tmp_mask,
        atomic_path(info_path) as tmp_info,
    ):
        writer = synth._open_writer(tmp_video, codec, fps, width, height, quality)
        try:
            _, frames = render_photo_frames(
                identity, physiology, corruption, fps=fps, seed=render_seed
            )
            for frame in frames:
                writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        finally:
            writer.release()
        if tmp_video.stat().st_size == 0:
            raise InputError(f"{video_path}: the encoder wrote nothing")
        synth._write_ground_truth(tmp_gt, physiology)
        skin = np.round(identity.skin * 255.0).astype(np.uint8)
        if not cv2.imwrite(str(tmp_mask), skin):
            raise InputError(f"{mask_path}: cannot write the skin map")
        tmp_info.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return identity
