"""Writing clips: the video, its ground truth and sidecar files, all atomically.

One writer (:func:`write_rendered`) serves drawn and photographed subjects alike;
:func:`write_clip` renders a drawn subject through it, and
:func:`distraction.synth.photo.write_photo_clip` a photographed one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from pathlib import Path

import cv2
import numpy as np

from distraction.atomic import atomic_path
from distraction.errors import InputError
from distraction.synth.cartoon import make_identity, render_frames, skin_mask
from distraction.synth.physiology import (
    GROUND_TRUTH_FS,
    Physiology,
    clip_seeds,
    simulate_physiology,
)
from distraction.synth.presets import CONDITIONS

__all__ = ["check_outputs", "open_writer", "write_clip", "write_ground_truth", "write_rendered"]


def open_writer(
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


def check_outputs(video_path: Path, ground_truth_path: Path, condition: str) -> None:
    """Refuse an unknown condition or a missing output folder (one line naming it)."""
    if condition not in CONDITIONS:
        raise InputError(
            f"{video_path}: unknown condition {condition!r} (known: {', '.join(CONDITIONS)})"
        )
    for folder in {Path(video_path).parent, Path(ground_truth_path).parent}:
        if not folder.is_dir():
            raise InputError(f"{folder}: output folder does not exist")


def write_rendered(
    video_path: Path,
    ground_truth_path: Path,
    frames: Iterable[np.ndarray],
    physiology: Physiology,
    skin: np.ndarray,
    *,
    fps: float,
    codec: str = "MJPG",
    quality: int = 95,
    sidecars: Mapping[str, str] | None = None,
) -> None:
    """Write a rendered clip: video, ground truth, skin map and text sidecars.

    Writes ``video_path`` (``cv2.VideoWriter``; ``"MJPG"`` in ``.avi`` at ``quality``, or
    any fourcc FFmpeg encodes here, e.g. lossless ``"FFV1"``), ``ground_truth_path`` (CSV
    ``time,ppg,resp,hr,br``), ``<video stem>.skin.png`` (``skin``, 0–255) and, for each
    ``suffix: text`` of ``sidecars``, ``<video stem><suffix>``. Every file is written to
    a temporary name in its folder and renamed into place, the video last, so that its
    presence means the clip is complete; on error the temporary files are removed.

    Parameters
    ----------
    video_path, ground_truth_path : Path
        Output files; their folders must exist.
    frames : iterable of ndarray
        (H, W, 3) uint8 RGB frames.
    physiology : Physiology
        The clip's ground truth.
    skin : ndarray
        (H, W) uint8 skin map at rest.
    fps : float
        Frame rate.
    codec : str
        Four-character code.
    quality : int
        MJPG quality (0–100); ignored by other codecs.
    sidecars : mapping, optional
        File-name suffix to text.

    Raises
    ------
    InputError
        A codec that cannot be encoded, or an encoder that wrote nothing.
    """
    video_path, ground_truth_path = Path(video_path), Path(ground_truth_path)
    height, width = skin.shape[:2]
    mask_path = video_path.with_name(f"{video_path.stem}.skin.png")
    extra = {
        video_path.with_name(video_path.stem + suffix): text
        for suffix, text in (sidecars or {}).items()
    }
    with contextlib.ExitStack() as stack:
        # Entered video first, so it is renamed last.
        tmp_video = stack.enter_context(atomic_path(video_path))
        tmp_gt = stack.enter_context(atomic_path(ground_truth_path))
        tmp_mask = stack.enter_context(atomic_path(mask_path))
        tmp_extra = {stack.enter_context(atomic_path(path)): text for path, text in extra.items()}
        writer = open_writer(tmp_video, codec, fps, width, height, quality)
        try:
            for frame in frames:
                writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        finally:
            writer.release()
        if tmp_video.stat().st_size == 0:
            raise InputError(f"{video_path}: the encoder wrote nothing")
        write_ground_truth(tmp_gt, physiology)
        if not cv2.imwrite(str(tmp_mask), skin):
            raise InputError(f"{mask_path}: cannot write the skin map")
        for tmp, text in tmp_extra.items():
            tmp.write_text(text, encoding="utf-8")


def write_ground_truth(path: Path, physiology: Physiology) -> None:
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
    check_outputs(video_path, ground_truth_path, condition)
    phys_seed, render_seed = clip_seeds(seed, subject_index, condition)
    identity = make_identity(subject_index, seed)
    physiology = simulate_physiology(duration_s, GROUND_TRUTH_FS, phys_seed)
    frames = render_frames(
        identity,
        physiology,
        CONDITIONS[condition],
        width=width,
        height=height,
        fps=fps,
        seed=render_seed,
    )
    mask = skin_mask(identity, width=width, height=height).astype(np.uint8) * 255
    write_rendered(
        video_path,
        ground_truth_path,
        frames,
        physiology,
        mask,
        fps=fps,
        codec=codec,
        quality=quality,
    )
