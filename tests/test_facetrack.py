"""Face tracking in preparation: the box follows a moving rendered face, a lost face keeps the
last box, and a video without a face fails with one line naming it."""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np
import pytest

from distraction import synth
from distraction.blazeface import BlazeFace
from distraction.datasets import DatasetLoader, Recording, get_loader
from distraction.errors import InputError
from distraction.facetrack import (
    FACE_CHOICE,
    FaceFollower,
    _iou,
    detect_any_orientation,
    interpolated_boxes,
    similarity_fit,
    track_faces,
)
from distraction.prepare import prepare_recording
from distraction.preprocess import crop_resize_subpixel
from distraction.settings import prepare_settings
from distraction.store import open_group

WIDTH, HEIGHT, FPS = 320, 240, 30.0


def _rendered(
    subject: int, condition: str, seconds: float, width: int = WIDTH
) -> tuple[list[np.ndarray], np.ndarray]:
    """Frames of a rendered clip and the true face box (x, y, w, h) of each frame: the face
    ellipse's bounding box, moved with the head and the camera."""
    identity = synth.make_identity(subject, 0)
    physiology = synth.simulate_physiology(seconds, 100.0, 5)
    corruption = synth.CONDITIONS[condition]
    frames = list(
        synth.render_frames(
            identity, physiology, corruption, width=width, height=HEIGHT, fps=FPS, seed=9
        )
    )
    dynamics = synth.scene_dynamics(
        identity, physiology, corruption, width=width, height=HEIGHT, fps=FPS, seed=9
    )
    face_h = identity.face_height * HEIGHT
    face_w = face_h * identity.face_aspect
    cx, cy = identity.face_center[0] * width, identity.face_center[1] * HEIGHT
    shift = dynamics.head_shift + dynamics.shake
    boxes = np.column_stack(
        [
            cx - face_w / 2 + shift[:, 0],
            cy - face_h / 2 + shift[:, 1],
            np.full(len(shift), face_w),
            np.full(len(shift), face_h),
        ]
    )
    return frames, boxes[: len(frames)]


def _centres(boxes: np.ndarray) -> np.ndarray:
    """``x, y, w, h`` → ``cx, cy, side`` (the larger of w and h)."""
    return np.column_stack(
        [boxes[:, 0] + boxes[:, 2] / 2, boxes[:, 1] + boxes[:, 3] / 2, boxes[:, 2:].max(axis=1)]
    )


def _departure_rms(boxes: np.ndarray, truth: np.ndarray) -> float:
    """RMS (px) of a track's centre departing from the true centre's motion (their
    difference less its mean: a constant offset between the detector's idea of a face box
    and the renderer's is not motion)."""
    diff = _centres(boxes)[:, :2] - _centres(truth)[:, :2]
    diff -= diff.mean(axis=0)
    return float(np.sqrt(np.mean(np.sum(diff**2, axis=1))))


@pytest.mark.parametrize("subject", [0, 6])
def test_the_tracked_box_follows_a_moving_face(subject: int) -> None:
    frames, truth = _rendered(subject, "motion", 4.0)
    track = track_faces(frames, detect_every=10, correction_frames=300, flow_every=2)
    assert track is not None and track.found.all()
    overlap = np.array([_iou(t, b[None])[0] for t, b in zip(truth, track.boxes, strict=True)])
    # The head moves by several pixels; the box keeps up with it, to well under a pixel.
    assert np.ptp(truth[:, 0]) > 3
    assert overlap.min() >= 0.7, overlap.min()
    assert _departure_rms(track.boxes, truth) < 0.5


def test_a_still_face_gets_a_still_box() -> None:
    # The detector alone moves its box by a fraction of a pixel from frame to frame; the
    # tracked box of a face that does not move does not move.
    frames, _ = _rendered(6, "clean", 2.0)
    still = [frames[0]] * 60
    track = track_faces(still, detect_every=10, correction_frames=300, flow_every=2)
    assert track is not None and track.found.all()
    assert np.abs(track.boxes - track.boxes[0]).max() < 0.05
    # The same face, each frame with its own sensor noise: still to a tenth of a pixel.
    rng = np.random.default_rng(3)
    noisy = [
        np.clip(frames[0] + rng.normal(0, 2.0, frames[0].shape), 0, 255).astype(np.uint8)
        for _ in range(60)
    ]
    track = track_faces(noisy, detect_every=10, correction_frames=300, flow_every=2)
    assert track is not None
    assert np.sqrt(np.mean((track.boxes - track.boxes.mean(axis=0)) ** 2)) < 0.1


def test_a_face_that_leaves_the_frame_is_a_gap_and_is_found_when_it_returns() -> None:
    frames, truth = _rendered(6, "clean", 4.0)
    # The face slides out to the right (frames 30-44), stays out (45-74), slides back in
    # (75-89); the frame's edge continues where the picture moved away.
    offsets = np.concatenate(
        [np.zeros(30), np.linspace(0, WIDTH, 15), np.full(30, WIDTH), np.linspace(WIDTH, 0, 15)]
    )
    offsets = np.concatenate([offsets, np.zeros(len(frames) - len(offsets))])
    moved = [
        cv2.warpAffine(f, np.float32([[1, 0, dx], [0, 1, 0]]), (WIDTH, HEIGHT),
                       borderMode=cv2.BORDER_REPLICATE)
        for f, dx in zip(frames, offsets, strict=True)
    ]  # fmt: skip
    track = track_faces(moved, detect_every=10, correction_frames=300, flow_every=2)
    assert track is not None
    # Followed until it leaves, a gap while it is out, followed again once back.
    assert track.found[:30].all()
    assert not track.found[45:75].any()
    assert track.found[100:].all()
    (gap,) = track.gaps()
    assert 30 <= gap[0] <= 45 and 75 <= gap[1] <= 100
    overlap = [_iou(t, b[None])[0] for t, b in zip(truth[100:], track.boxes[100:], strict=True)]
    assert min(overlap) >= 0.7


def _two_faces(seconds: float) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Two rendered faces side by side, the right one shrunk to 0.7: the frames and the
    true box of each face."""
    half = WIDTH // 2
    left_frames, left_truth = _rendered(0, "motion", seconds, width=half)
    right_frames, right_truth = _rendered(6, "motion", seconds, width=half)
    shrink = np.float32([[0.7, 0, 0.15 * half], [0, 0.7, 0.15 * HEIGHT]])
    frames = [
        np.hstack([a, cv2.warpAffine(b, shrink, (half, HEIGHT), borderMode=cv2.BORDER_REPLICATE)])
        for a, b in zip(left_frames, right_frames, strict=True)
    ]
    right_truth = right_truth * 0.7 + [0.15 * half + half, 0.15 * HEIGHT, 0, 0]
    return frames, left_truth, right_truth


def test_of_two_faces_the_larger_is_followed_throughout() -> None:
    frames, larger, smaller = _two_faces(3.0)
    assert (larger[:, 2] > smaller[:, 2]).all()
    track = track_faces(frames, detect_every=5, correction_frames=300, flow_every=1)
    assert track is not None and track.found.all()
    on_larger = [_iou(t, b[None])[0] for t, b in zip(larger, track.boxes, strict=True)]
    assert min(on_larger) >= 0.6
    # Started on the smaller face (a detector that finds only it at first), the track stays
    # on it, the larger face notwithstanding.
    follower = FaceFollower(detect_every=5, correction_frames=300, flow_every=1)
    left_hidden = frames[0].copy()
    left_hidden[:, : WIDTH // 2] = left_hidden[:, WIDTH // 2 - 1 : WIDTH // 2]
    follower.add(left_hidden)
    for frame in frames[1:]:
        follower.add(frame)
    track = follower.finish()
    assert track is not None and track.found.all()
    on_smaller = [_iou(t, b[None])[0] for t, b in zip(smaller[1:], track.boxes[1:], strict=True)]
    assert min(on_smaller) >= 0.5


def test_a_sideways_face_is_found_turned_a_quarter() -> None:
    frames, _ = _rendered(6, "clean", 0.1)
    upright = detect_any_orientation(BlazeFace(), frames[0])
    # Turned a quarter counter-clockwise, the face lies on its side: (x, y) of the frame
    # goes to (y, W - 1 - x) of the turned one.
    turned = np.ascontiguousarray(np.rot90(frames[0]))
    faces = detect_any_orientation(BlazeFace(), turned)
    assert len(faces) == 1 and len(upright) == 1
    cx, cy = upright[0, 0] + upright[0, 2] / 2, upright[0, 1] + upright[0, 3] / 2
    assert faces[0, 0] + faces[0, 2] / 2 == pytest.approx(cy, abs=0.1 * upright[0, 2])
    assert faces[0, 1] + faces[0, 3] / 2 == pytest.approx(WIDTH - cx, abs=0.1 * upright[0, 2])


def test_the_similarity_fit_recovers_a_known_motion_despite_outliers() -> None:
    rng = np.random.default_rng(1)
    source = rng.uniform(0, 100, (40, 2))
    angle, scale, shift = np.deg2rad(4.0), 1.03, np.array([2.5, -1.25])
    rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    target = source @ rotation.T + shift
    target[:5] += 15.0  # five points that slid off (an occlusion)
    fitted_scale, fitted_angle, fitted_shift, inliers = similarity_fit(source, target)
    assert fitted_scale == pytest.approx(scale, abs=1e-9)
    assert fitted_angle == pytest.approx(angle, abs=1e-9)
    np.testing.assert_allclose(fitted_shift, shift, atol=1e-7)
    assert not inliers[:5].any() and inliers[5:].all()


def test_boxes_between_two_frames_are_interpolated() -> None:
    # Two frames between a box at x=10 and one at x=16 (w, h 30 -> 33): a third and two
    # thirds of the way.
    between = interpolated_boxes(np.array([10.0, 20, 30, 30]), np.array([16.0, 17, 33, 33]), 2)
    np.testing.assert_allclose(between, [[12, 19, 31, 31], [14, 18, 32, 32]])
    held = interpolated_boxes(np.array([1.0, 2, 3, 3]), np.array([1.0, 2, 3, 3]), 3)
    np.testing.assert_array_equal(held, [[1, 2, 3, 3]] * 3)


def test_with_the_flow_every_other_frame_a_box_is_final_at_the_next_flowed_frame() -> None:
    frames, _ = _rendered(6, "motion", 0.9)
    follower = FaceFollower(detect_every=5, correction_frames=300, flow_every=2)
    assert follower.lag == 1
    for count, frame in enumerate(frames, 1):
        follower.add(frame)
        # Frames 0, 2, 4, ... are flowed (and the detector's 0, 5, 10, ...): the frame
        # after a flowed one waits for the next.
        index = count - 1
        flowed = index % 2 == 0 or index % 5 == 0
        assert follower.ready == (count if flowed else count - 1)
    track = follower.finish()
    assert track is not None and track.found.all() and len(track.boxes) == len(frames)
    # Frame 1 lies halfway between frames 0 and 2; the last frame (26, flowed) is final.
    np.testing.assert_allclose(track.boxes[1], (track.boxes[0] + track.boxes[2]) / 2)
    every = track_faces(frames, detect_every=5, correction_frames=300, flow_every=1)
    assert every is not None
    assert np.abs(track.boxes - every.boxes).mean() < 0.2


def test_a_frames_box_is_final_when_it_is_added_and_runs_repeat() -> None:
    frames, _ = _rendered(6, "motion", 0.9)
    follower = FaceFollower(detect_every=5, correction_frames=300, flow_every=1)
    early = []
    for count, frame in enumerate(frames, 1):
        follower.add(frame)
        assert follower.ready == count
        early.append(follower.box(count - 1).copy())
    track = follower.finish()
    assert track is not None and len(track.boxes) == len(frames) == 27
    np.testing.assert_array_equal(np.asarray(early), track.boxes)
    same = track_faces(frames, detect_every=5, correction_frames=300, flow_every=1)
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


def test_a_still_face_keeps_a_still_crop_that_follows_real_motion(tmp_path: Path) -> None:
    # A face still but for breathing (about 1.5 px peak to peak): the crop follows that
    # motion to a fraction of a pixel, and does not move by the detector's jitter.
    frames, truth = _rendered(6, "clean", 3.0)
    loader, recording = _one_video(tmp_path, "still", frames)
    store = tmp_path / "s.zarr"
    prepare_recording(loader, recording, store, crop="track", settings=prepare_settings())
    prepared = open_group(store, "prepared")
    crops = prepared["crop_box"].values.astype(float)
    n = len(crops)
    assert _departure_rms(np.column_stack([crops, crops[:, 2:]]), truth[:n]) < 0.5
    assert prepared.attrs["crop_tolerance"] == 0.0


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
    assert not found[:45].any() and found[50:].all()
    assert (crops[:45] == crops[50]).all()
    capture = cv2.VideoCapture(str(recording.source))
    stored = prepared["frames"].values
    for index, box in enumerate(crops):
        ok, bgr = capture.read()
        assert ok
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        (expected,) = crop_resize_subpixel(rgb, tuple(map(float, box)), 34)
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


def _rotation_flagged_mp4(path: Path, frames: list[np.ndarray]) -> None:
    """An MP4 of ``frames`` stored turned a quarter counter-clockwise (as a phone held
    upright stores them) with the display matrix that turns them back: a quarter clockwise
    (ISO/IEC 14496-12 track header matrix a=0, b=1, c=-1, d=0)."""
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), FPS, (height, width))
    for frame in frames:
        writer.write(cv2.cvtColor(np.ascontiguousarray(np.rot90(frame)), cv2.COLOR_RGB2BGR))
    writer.release()
    data = bytearray(path.read_bytes())
    header = data.find(b"tkhd")
    assert header > 0 and data[header + 4] == 0  # a version-0 track header
    # type, version/flags, 2 times, track id, reserved, duration, 8 reserved, layer,
    # group, volume, reserved: then the 3x3 matrix of 32-bit fixed-point numbers.
    matrix = header + 4 + 4 + 4 + 4 + 4 + 4 + 4 + 8 + 2 + 2 + 2 + 2
    data[matrix : matrix + 36] = struct.pack(">9i", 0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x40000000)
    path.write_bytes(bytes(data))


def test_a_portrait_flagged_video_is_prepared_upright(tmp_path: Path) -> None:
    frames, truth = _rendered(6, "clean", 1.0)
    (tmp_path / "s01").mkdir()
    video = tmp_path / "s01" / "phone.mp4"
    _rotation_flagged_mp4(video, frames)
    loader = get_loader("generic", "d", tmp_path)
    (recording,) = loader.list_recordings()
    store = tmp_path / "s.zarr"
    prepare_recording(loader, recording, store, crop="track", settings=prepare_settings())
    prepared = open_group(store, "prepared")
    # Decoded as displayed: the landscape frames again, the face upright where it was.
    assert (prepared.attrs["frame_height"], prepared.attrs["frame_width"]) == (HEIGHT, WIDTH)
    assert prepared["face_found"].values.all()
    boxes = prepared["face_box"].values
    overlap = [_iou(t, b[None])[0] for t, b in zip(truth[: len(boxes)], boxes, strict=True)]
    assert min(overlap) >= 0.7


def test_preparation_records_the_gap_and_the_face_chosen(tmp_path: Path) -> None:
    # Two faces; the larger one leaves the frame (frames 30-44), stays out, then returns:
    # the store marks the gap, and the track is on the larger face before and after it.
    frames, larger, _ = _two_faces(4.0)
    half = WIDTH // 2
    out = np.concatenate([np.zeros(30), np.linspace(0, -half, 15), np.full(30, -half)])
    out = np.concatenate([out, np.linspace(-half, 0, 15), np.zeros(len(frames) - 90)])
    moved = []
    for frame, dx in zip(frames, out, strict=True):
        left = cv2.warpAffine(frame[:, :half], np.float32([[1, 0, dx], [0, 1, 0]]), (half, HEIGHT),
                              borderMode=cv2.BORDER_REPLICATE)  # fmt: skip
        moved.append(np.hstack([left, frame[:, half:]]))
    loader, recording = _one_video(tmp_path, "two", moved)
    store = tmp_path / "s.zarr"
    prepare_recording(loader, recording, store, crop="track", settings=prepare_settings())
    prepared = open_group(store, "prepared")
    found, boxes = prepared["face_found"].values, prepared["face_box"].values
    assert prepared.attrs["face_choice"] == FACE_CHOICE
    assert found[:30].all() and not found[45:75].any() and found[100:].all()
    for index in [*range(30), *range(100, len(boxes))]:
        assert _iou(larger[index], boxes[index][None])[0] >= 0.6, index


def test_a_small_plain_face_gets_a_steady_box(tmp_path: Path) -> None:
    # A 96x72 MJPG clip: the face is about 23 px, with too few feature points for the flow;
    # the box then averages the detections (run on every frame) instead of jumping to each.
    video = tmp_path / "small.avi"
    synth.write_clip(
        video, tmp_path / "small.csv", subject_index=4, condition="clean", duration_s=20.0,
        width=96, height=72, seed=2,
    )  # fmt: skip
    capture, frames = cv2.VideoCapture(str(video)), []
    while len(frames) < 150 and (read := capture.read())[0]:
        frames.append(cv2.cvtColor(read[1], cv2.COLOR_BGR2RGB))
    capture.release()
    track = track_faces(frames, detect_every=10, correction_frames=300, flow_every=2)
    assert track is not None and track.found.all()
    steps = np.diff(_centres(track.boxes), axis=0)
    assert np.sqrt(np.mean(steps**2)) < 0.1
