"""Face tracking in preparation: the box follows a moving rendered face, a lost face keeps the
last box, and a video without a face fails with one line naming it."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from distraction import synth
from distraction.datasets import DatasetLoader, Recording, get_loader
from distraction.errors import InputError
from distraction.facetrack import FaceFollower, _iou, detect_faces, face_detector, track_faces
from distraction.prepare import prepare_recording
from distraction.settings import prepare_settings
from distraction.store import open_group

WIDTH, HEIGHT, FPS = 320, 240, 30.0


def _rendered(subject: int, condition: str, seconds: float) -> tuple[list[np.ndarray], np.ndarray]:
    """Frames of a rendered clip and the true face box (x, y, w, h) of each frame: the face
    ellipse's bounding box, moved with the head and the camera."""
    identity = synth.make_identity(subject, 0)
    physiology = synth.simulate_physiology(seconds, 100.0, 5)
    corruption = synth.CONDITIONS[condition]
    frames = list(
        synth.render_frames(
            identity, physiology, corruption, width=WIDTH, height=HEIGHT, fps=FPS, seed=9
        )
    )
    dynamics = synth.scene_dynamics(
        identity, physiology, corruption, width=WIDTH, height=HEIGHT, fps=FPS, seed=9
    )
    height = identity.face_height * HEIGHT
    width = height * identity.face_aspect
    cx, cy = identity.face_center[0] * WIDTH, identity.face_center[1] * HEIGHT
    shift = dynamics.head_shift + dynamics.shake
    boxes = np.column_stack(
        [
            cx - width / 2 + shift[:, 0],
            cy - height / 2 + shift[:, 1],
            np.full(len(shift), width),
            np.full(len(shift), height),
        ]
    )
    return frames, boxes[: len(frames)]


@pytest.mark.parametrize("subject", [0, 6])
def test_the_tracked_box_follows_a_moving_face(subject: int) -> None:
    frames, truth = _rendered(subject, "motion", 4.0)
    track = track_faces(frames, detect_every=5, smoothing_frames=5)
    # The detector misses a detection now and then; the box is held over it.
    assert track is not None and track.found.mean() >= 0.8
    overlap = np.array([_iou(t, b[None])[0] for t, b in zip(truth, track.boxes, strict=True)])
    # The head moves by several pixels; the box keeps up with it.
    assert np.ptp(truth[:, 0]) > 3
    assert overlap.min() >= 0.7, overlap.min()


def test_a_frame_where_the_face_is_lost_keeps_the_last_box() -> None:
    frames, _ = _rendered(0, "clean", 1.0)
    blank = np.full_like(frames[0], 128)
    stream = [*frames[:10], *[blank] * 10, *frames[10:20]]
    track = track_faces(stream, detect_every=1, smoothing_frames=1)
    assert track is not None
    assert track.found[:10].all() and not track.found[10:20].any() and track.found[20:].all()
    np.testing.assert_array_equal(track.boxes[10:20], np.repeat(track.boxes[9:10], 10, axis=0))
    assert np.isfinite(track.confidence).all()
    # Nothing to track at all: None.
    assert track_faces([blank] * 5, detect_every=1, smoothing_frames=1) is None


def test_a_detection_looks_near_the_last_face_then_in_the_whole_frame() -> None:
    frames, _ = _rendered(0, "clean", 0.2)
    detector = face_detector()
    (whole,) = detect_faces(detector, frames[0])
    # Around the face, at about its size: the same face.
    (near,) = detect_faces(detector, frames[0], near=whole[:4])
    assert _iou(whole[:4], near[None, :4])[0] > 0.8
    # Moved by 3/4 of its side, beyond the search near its last box: found in the whole frame.
    shift = round(0.75 * whole[2])
    move = np.float32([[1, 0, shift], [0, 1, 0]])
    moved = cv2.warpAffine(frames[0], move, (WIDTH, HEIGHT), borderMode=cv2.BORDER_REPLICATE)
    assert len(detect_faces(detector, moved, near=whole[:4])) == 0
    track = track_faces([frames[0], moved], detect_every=1, smoothing_frames=1, detector=detector)
    assert track is not None and track.found.all()
    np.testing.assert_array_equal(track.boxes[1], detect_faces(detector, moved)[0, :4])
    assert track.boxes[1, 0] == pytest.approx(whole[0] + shift, abs=0.2 * whole[2])


def _moving_average(values: np.ndarray, length: int) -> np.ndarray:
    """Centred moving average along time, the ends padded with their edge values."""
    before = length // 2
    padded = np.pad(values, ((before, length - 1 - before), (0, 0)), mode="edge")
    kernel = np.ones(length) / length
    return np.column_stack([np.convolve(padded[:, c], kernel, "valid") for c in range(4)])


def test_a_frames_box_is_final_once_the_frames_it_is_smoothed_over_are_in() -> None:
    frames, _ = _rendered(6, "motion", 0.9)
    follower = FaceFollower(detect_every=5, smoothing_frames=7)
    assert follower.lag == 3
    early = []
    for count, frame in enumerate(frames, 1):
        follower.add(frame)
        assert follower.ready == count - 3 or (count <= 3 and follower.ready == 0)
        early += [follower.box(i).copy() for i in range(len(early), follower.ready)]
    track = follower.finish()
    assert track is not None and len(track.boxes) == len(frames) == 27
    # The boxes handed out as soon as they were ready are those of the whole track.
    np.testing.assert_array_equal(np.asarray(early), track.boxes[:24])
    held = track_faces(frames, detect_every=5, smoothing_frames=1)
    assert held is not None and np.ptp(held.boxes[:, 0]) > 0  # the boxes move
    np.testing.assert_allclose(track.boxes, _moving_average(held.boxes, 7), rtol=1e-12)
    same = track_faces(frames, detect_every=5, smoothing_frames=7)
    assert same is not None
    np.testing.assert_array_equal(same.boxes, track.boxes)
    np.testing.assert_array_equal(same.found, track.found)
    np.testing.assert_array_equal(same.confidence, track.confidence)


def _write_video(path: Path, frames: list[np.ndarray]) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), FPS, (WIDTH, HEIGHT))
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()


def _one_video(root: Path, name: str, frames: list[np.ndarray]) -> tuple[DatasetLoader, Recording]:
    """A generic dataset of one video ``s01/<name>.avi`` of ``frames``: its loader and
    recording."""
    (root / "s01").mkdir()
    _write_video(root / "s01" / f"{name}.avi", frames)
    loader = get_loader("generic", "d", root)
    (recording,) = loader.list_recordings()
    return loader, recording


def test_preparation_tracks_the_face_and_stores_it_per_frame(tmp_path: Path) -> None:
    frames, truth = _rendered(6, "motion", 3.0)
    loader, recording = _one_video(tmp_path, "move", frames)
    store = tmp_path / "s.zarr"
    prepare_recording(loader, recording, store, crop="track", settings=prepare_settings())
    prepared = open_group(store, "prepared")
    n = prepared.sizes["time"]
    assert prepared.attrs["crop_method"] == "track"
    assert prepared["face_box"].shape == (n, 4) and prepared["crop_box"].shape == (n, 3)
    assert prepared["face_found"].values.mean() >= 0.8
    # The crop is the face box enlarged by face_scale and centred on it.
    face, crop = prepared["face_box"].values[0], prepared["crop_box"].values[0]
    side = prepare_settings().face_scale * max(face[2], face[3])
    assert crop[2] == pytest.approx(side, abs=1)
    assert crop[0] + crop[2] / 2 == pytest.approx(face[0] + face[2] / 2, abs=1)
    boxes = prepared["face_box"].values
    overlap = [_iou(t, b[None])[0] for t, b in zip(truth[: len(boxes)], boxes, strict=True)]
    assert min(overlap) >= 0.7
    # The crop follows the moving face: every frame's face lies inside its crop.
    crops = prepared["crop_box"].values
    assert (boxes[:, 0] >= crops[:, 0]).all() and (boxes[:, 1] >= crops[:, 1]).all()
    assert (boxes[:, 0] + boxes[:, 2] <= crops[:, 0] + crops[:, 2]).all()
    assert (boxes[:, 1] + boxes[:, 3] <= crops[:, 1] + crops[:, 2]).all()


def test_a_still_face_keeps_one_crop(tmp_path: Path) -> None:
    # The detector's box jitters by a few pixels from one detection to the next; a crop that
    # followed it would step by a pixel now and then, a motion the network would see.
    frames, _ = _rendered(6, "clean", 3.0)
    loader, recording = _one_video(tmp_path, "still", frames)
    store = tmp_path / "s.zarr"
    prepare_recording(loader, recording, store, crop="track", settings=prepare_settings())
    prepared = open_group(store, "prepared")
    faces = prepared["face_box"].values
    assert np.ptp(faces[:, 0]) > 0 or np.ptp(faces[:, 2]) > 0  # the detections do jitter
    assert len(np.unique(prepared["crop_box"].values, axis=0)) == 1
    assert prepared.attrs["crop_tolerance"] == prepare_settings().crop_tolerance


def test_tracked_preparation_is_the_same_whatever_the_threads_and_run(tmp_path: Path) -> None:
    frames, _ = _rendered(3, "motion", 2.0)
    loader, recording = _one_video(tmp_path, "move", frames)
    settings = prepare_settings(chunk_frames=16)
    contents = []
    for run, threads in enumerate((1, 2, 2)):
        store = tmp_path / f"run{run}.zarr"
        prepare_recording(
            loader, recording, store, crop="track", threads=threads, settings=settings
        )
        files = sorted(p for p in store.rglob("*") if p.is_file())
        contents.append({str(p.relative_to(store)): p.read_bytes() for p in files})
    assert "prepared/face_box/c/0/0" in contents[0]
    assert contents[1] == contents[0] and contents[2] == contents[0]


@pytest.mark.parametrize("threads", [1, 2])
def test_a_face_that_shows_late_crops_every_frame_where_it_is(tmp_path: Path, threads: int) -> None:
    # 45 frames without a face, more than wait for it (lag + detect_every): those let go
    # are decoded again once the face is found. Every stored frame is its decoded frame
    # cropped at the stored crop box, the first ones at the first face's.
    frames, _ = _rendered(6, "motion", 2.0)
    blank = np.full_like(frames[0], 120)
    loader, recording = _one_video(tmp_path, "late", [blank] * 45 + frames)
    store = tmp_path / "s.zarr"
    settings = prepare_settings(chunk_frames=16, detect_every=10, track_smoothing_s=0.5)
    prepare_recording(loader, recording, store, crop="track", threads=threads, settings=settings)
    prepared = open_group(store, "prepared")
    found, crops = prepared["face_found"].values, prepared["crop_box"].values
    assert not found[:50].any() and found[50:].mean() >= 0.8
    assert (crops[:45] == crops[50]).all()
    capture = cv2.VideoCapture(str(recording.source))
    stored = prepared["frames"].values
    for index, (x0, y0, side) in enumerate(crops):
        ok, bgr = capture.read()
        assert ok
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)[y0 : y0 + side, x0 : x0 + side]
        expected = cv2.resize(rgb.astype(np.float32), (34, 34), interpolation=cv2.INTER_AREA)
        np.testing.assert_array_equal(stored[index], expected, err_msg=f"frame {index}")
    capture.release()


def test_a_video_without_a_face_fails_with_one_line(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    frames = [rng.integers(90, 110, (HEIGHT, WIDTH, 3), dtype=np.uint8) for _ in range(40)]
    (tmp_path / "s01").mkdir()
    video = tmp_path / "s01" / "wall.avi"
    _write_video(video, frames)
    loader = get_loader("generic", "d", tmp_path)
    (recording,) = loader.list_recordings()
    with pytest.raises(InputError) as info:
        prepare_recording(loader, recording, tmp_path / "s.zarr", crop="track")
    assert str(info.value) == f"{video}: no face found in any frame"
    assert face_detector() is not None
