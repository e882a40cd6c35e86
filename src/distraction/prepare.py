"""Preparation stage: stream a recording's frames into its Zarr store.

Two passes keep memory flat whatever the video length: the first streams decoded
frames, writes raw CAN inputs chunk by chunk and accumulates their moments; the
second standardises the stored chunks in place and averages the stored 34×34 frames over
the stable skin region (the evaluation's baselines read these per-frame values, never the
frames). Only 36×36 and 34×34 copies of a chunk of frames are ever held, never the
full-resolution video: a tracked face is followed in the first pass too, each frame
waiting in full resolution only while no face is found yet (:func:`_resized_tracked`).
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import logging
import queue
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import cv2
import numpy as np
from tqdm import tqdm

from distraction import __version__
from distraction.baselines import vertical_shifts
from distraction.blazeface import BlazeFace
from distraction.datasets import DatasetLoader, DecoderLog, Recording, decoder_errors
from distraction.errors import InputError, NoFaceError, TransientError
from distraction.facetrack import FACE_CHOICE, FaceFollower, FaceTrack
from distraction.preprocess import (
    Box,
    RunningMoments,
    SubpixelBox,
    centre_square_box,
    crop_resize,
    crop_resize_subpixel,
    face_square,
    face_square_box,
    held_box,
    normalised_difference,
    resample_series,
)
from distraction.settings import PrepareSettings, prepare_settings
from distraction.skin import SHIFT_VARIABLE, TRACE_VARIABLES, SkinTraces
from distraction.store import GroupWriter
from distraction.validation import (
    frame_rate_problems,
    ground_truth_problems,
    subject_problems,
    timestamp_problems,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

CAN_SIZE = 36
FRAME_SIZE = 34
CHANNELS = ("R", "G", "B")
GROUND_TRUTH_FIELDS = ("ppg", "resp", "hr", "br")
#: Decoding threads of a lone video (decoding beside cropping); the workflow passes its own.
DECODE_THREADS = 2


def prefetched(items: Iterable[T], depth: int = 32) -> Iterator[T]:
    """Iterate ``items`` in a background thread, at most ``depth`` ahead.

    Decoding (OpenCV releases the GIL) then overlaps the crop, resize and Zarr writes of
    the consumer on a second core. Exceptions of the producer are re-raised here.
    """
    buffer: queue.Queue = queue.Queue(depth)
    done = object()
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                buffer.put(item)
        except BaseException as exc:  # handed to the consumer
            buffer.put(exc)
            return
        buffer.put(done)

    thread = threading.Thread(target=produce, daemon=True, name="decode")
    thread.start()
    try:
        while (item := buffer.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                buffer.get_nowait()
            except queue.Empty:
                thread.join(0.01)


@contextlib.contextmanager
def _opencv_sequential() -> Iterator[None]:
    """Run each OpenCV call on its calling thread while the block runs.

    Preparation runs its own ``threads`` threads; OpenCV's pool, which the face detector
    uses, would add as many again, beyond the cores the job was given.
    """
    previous = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(previous)


def detect_face_box(frame: np.ndarray) -> tuple[int, int, int, int] | None:
    """Largest face BlazeFace finds (:mod:`distraction.blazeface`), or None."""
    faces = BlazeFace().detect(frame)
    if len(faces) == 0:
        return None
    x, y, w, h = (round(float(v)) for v in faces[0, :4])
    return x, y, w, h


def choose_crop(frame: np.ndarray, method: str, face_scale: float) -> tuple[Box, str]:
    """Crop box for a video, decided on its first frame (``face`` or ``centre``)."""
    height, width = frame.shape[:2]
    if method == "face":
        face = detect_face_box(frame)
        if face is not None:
            return face_square_box(face, height, width, face_scale), "face"
        log.warning("no face found on the first frame; using the centre square")
        return centre_square_box(height, width), "centre (no face found)"
    return centre_square_box(height, width), "centre"


ResizedFrame = tuple[float, np.ndarray, np.ndarray]


def _check_shape(recording: Recording, index: int, frame: np.ndarray, shape: tuple) -> None:
    if frame.shape != shape:
        raise InputError(
            f"{recording.source}: frame {index} is "
            f"{frame.shape[1]}x{frame.shape[0]}, the first was {shape[1]}x{shape[0]}"
        )


def _box(boxes: Sequence[T], index: int) -> T:
    """The crop of frame ``index``: one box for every frame, or one per frame."""
    return boxes[min(index, len(boxes) - 1)]


def _face_square(face: np.ndarray, shape: tuple, face_scale: float) -> SubpixelBox:
    """The square crop around a face box ``x, y, w, h`` of a frame of ``shape``, to a
    fraction of a pixel."""
    x, y, w, h = face.tolist()
    return face_square((x, y, w, h), shape[0], shape[1], face_scale)


def _resized_tracked(
    frames: Iterable[tuple[float, np.ndarray]],
    follower: FaceFollower,
    loader: DatasetLoader,
    recording: Recording,
    shape: tuple,
    face_scale: float,
    crop_tolerance: float,
    crops: list[SubpixelBox],
) -> Iterator[ResizedFrame]:
    """``(timestamp, 36×36, 34×34 crop)`` of each frame, cropped around its face to a
    fraction of a pixel (:func:`~distraction.preprocess.crop_resize_subpixel`; with a
    ``crop_tolerance`` above 0, held while the face stays within it:
    :func:`~distraction.preprocess.held_box`), in the one decoding pass that also tracks
    the face; the crop of each frame is appended to ``crops``.

    A frame waits until its box is final (:attr:`FaceFollower.ready`): not at all once a face
    is found. Until then at most ``lag + detect_every`` frames wait: older ones
    are let go and decoded again once the face is found, so a face that shows late costs a
    second read of the frames before it, not the memory of them. No face in any frame is
    bad input (:class:`~distraction.errors.NoFaceError`).
    """
    limit = follower.lag + follower.detect_every
    waiting: collections.deque[tuple[float, np.ndarray]] = collections.deque()
    dropped = done = 0

    def crop(index: int, timestamp: float, frame: np.ndarray) -> ResizedFrame:
        candidate = _face_square(follower.box(index), shape, face_scale)
        crops.append(held_box(crops[-1] if crops else None, candidate, crop_tolerance))
        return (float(timestamp), *crop_resize_subpixel(frame, crops[-1], CAN_SIZE, FRAME_SIZE))

    def emit(stop: int) -> Iterator[ResizedFrame]:
        nonlocal dropped, done
        if done >= stop:
            return
        if dropped:  # all of them ready: they are older than the frames that wait
            head = loader.iter_frames(recording)
            try:
                for timestamp, frame in itertools.islice(head, dropped):
                    yield crop(done, timestamp, frame)
                    done += 1
            finally:
                _close(head)
            if done < dropped:
                raise InputError(f"{recording.source}: ended at frame {done} when read again")
            dropped = 0
        while done < stop:
            timestamp, frame = waiting.popleft()
            yield crop(done, timestamp, frame)
            done += 1

    for index, (timestamp, frame) in enumerate(frames):
        _check_shape(recording, index, frame, shape)
        follower.add(frame)
        waiting.append((timestamp, frame))
        ready = follower.ready
        if not ready and len(waiting) > limit:
            waiting.popleft()
            dropped += 1
        yield from emit(ready)
    if follower.finish() is None:
        raise NoFaceError(f"{recording.source}: {NoFaceError.reason}")
    yield from emit(follower.count)


def _resized(
    frames: Iterable[tuple[float, np.ndarray]],
    recording: Recording,
    boxes: Sequence[Box],
    shape: tuple,
    start: int = 0,
) -> Iterator[ResizedFrame]:
    """``(timestamp, 36×36, 34×34 crop)`` of ``frames``, numbered from ``start``."""
    for index, (timestamp, frame) in enumerate(frames, start):
        _check_shape(recording, index, frame, shape)
        yield (float(timestamp), *crop_resize(frame, _box(boxes, index), CAN_SIZE, FRAME_SIZE))


def _close(frames: Iterable[Any]) -> None:
    """Close a frame generator now (releasing its decoder), not at garbage collection."""
    close = getattr(frames, "close", None)
    if close is not None:
        close()


def resized_in_parallel(
    loader: DatasetLoader,
    recording: Recording,
    boxes: Sequence[Box],
    shape: tuple,
    frame_count: int,
    *,
    workers: int,
    block_frames: int,
) -> Iterator[ResizedFrame]:
    """Decode and crop-resize blocks of frames in ``workers`` threads, yielding in order.

    For recordings with exact random access (``loader.random_access``): OpenCV releases
    the GIL in decoding and resizing, so the blocks use all cores. The output is identical
    to a sequential read: the last block reads to the end of the video whatever
    ``frame_count`` says, and a block that ends early (truncated or corrupted video) ends
    the stream there, as a sequential read would stop. At most ``workers + 1`` blocks are
    in memory, small frames only.
    """
    bounds: list[tuple[int, int | None]] = [
        (start, start + block_frames) for start in range(0, frame_count, block_frames)
    ]
    bounds[-1] = (bounds[-1][0], None)

    def read(start: int, stop: int | None) -> list[ResizedFrame]:
        frames = loader.iter_frames(recording, start)
        # islice stops before decoding the next block's first frame.
        block = frames if stop is None else itertools.islice(frames, stop - start)
        try:
            return list(_resized(block, recording, boxes, shape, start))
        finally:
            _close(frames)

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decode")
    pending: collections.deque = collections.deque()
    upcoming = iter(bounds)
    try:
        for start, stop in itertools.islice(upcoming, workers + 1):
            pending.append((start, stop, pool.submit(read, start, stop)))
        while pending:
            start, stop, future = pending.popleft()
            block = future.result()
            yield from block
            if stop is not None and len(block) < stop - start:
                return
            for start, stop in itertools.islice(upcoming, 1):
                pending.append((start, stop, pool.submit(read, start, stop)))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def prepare_recording(
    loader: DatasetLoader,
    recording: Recording,
    store: Path,
    *,
    settings: PrepareSettings | None = None,
    fmt: str | None = None,
    crop: str | None = None,
    chunk_frames: int | None = None,
    provenance: dict[str, Any] | None = None,
    threads: int = DECODE_THREADS,
) -> dict[str, Any]:
    """Decode one recording and write the ``prepared`` group of its store.

    The one way a video is prepared: the ``prepare`` job and :func:`distraction.estimate`
    both call it with their settings, and the crop is resolved here, once
    (:meth:`distraction.settings.PrepareSettings.crop_for`).

    Parameters
    ----------
    loader
        Dataset loader that lists and streams the recording.
    recording
        The recording to prepare.
    store
        Path of the video's Zarr store (``<recording>.zarr``).
    settings
        Crop, chunk length, tracking and face-scale settings (``prepare.*``; default: the
        schema's).
    fmt
        The dataset format the recording comes from (``synth`` for the workflow's synthetic
        datasets), which ``prepare.crop: auto`` resolves by; default: the loader's.
    crop
        Overrides the settings' crop: ``"centre"`` (centre square, as the original CAN),
        ``"face"`` (the face of the first frame) or ``"track"`` (the face tracked through
        the video: :class:`distraction.facetrack.FaceFollower`; its box, confidence and
        whether it was found are stored per frame).
    chunk_frames
        Overrides the settings' frames per Zarr chunk and per processing block.
    provenance
        Extra attributes recorded in the group (e.g. config hash).
    threads
        Decoding threads. With 2 or more, videos with exact random access (intra-only
        codecs, frame folders) are decoded in blocks of ``chunk_frames`` in parallel
        (:func:`resized_in_parallel`) unless the face is tracked; others, and tracked
        ones, are decoded in one background thread while this one tracks, crops, resizes
        and writes. 1 decodes inline. OpenCV's own thread pool is not used. The output
        is the same.

    Returns
    -------
    dict
        Summary: frames, fps, seconds taken.

    Raises
    ------
    InputError
        Bad video or ground truth: no usable frame rate, a variable frame rate, decoder
        errors (corrupt data, which decoders conceal), truncation, unusable ground truth;
        with a tracked crop, no face in any frame (:class:`~distraction.errors.NoFaceError`).
    """
    settings = settings or prepare_settings()
    fmt = fmt or loader.format
    # A photographed subject's clip has its provenance beside it (synth.photo).
    photographed = Path(recording.source).with_name(f"{Path(recording.source).stem}.photo.json")
    resolved = crop or settings.crop_for(fmt, photographed=photographed.is_file())
    attrs = {"format": fmt, "crop_requested": crop or settings.crop, **(provenance or {})}
    # The decoders' stderr messages are counted (and kept off the terminal): any one
    # refuses the video, as the frames came from concealed corrupt data.
    with decoder_errors() as decoder_log, _opencv_sequential():
        return _prepare_recording(
            loader,
            recording,
            store,
            decoder_log=decoder_log,
            crop=resolved,
            chunk_frames=chunk_frames or settings.chunk_frames,
            provenance=attrs,
            threads=threads,
            settings=settings,
        )


def _write_track(
    writer: GroupWriter, track: FaceTrack, boxes: Sequence[SubpixelBox], n: int
) -> None:
    """The tracked face and the crop of each of the ``n`` prepared frames.

    ``face_found`` is the gap record evaluation reads: 0 where no face is followed (before
    the face is first found, and from the detection that first missed a face that was then
    lost until it is found again); the rates of windows that hold such frames are not
    supported by the video (quality NaN).
    """
    writer.coord("box", ["x", "y", "w", "h"])
    writer.coord("square", ["x0", "y0", "side"])
    writer.create(
        "face_box",
        ["time", "box"],
        (n, 4),
        np.float32,
        chunk_len=max(n, 1),
        data=track.boxes[:n],
        attrs={"description": "tracked face box (pixels of the decoded frame)"},
    )
    writer.create(
        "face_confidence",
        ["time"],
        (n,),
        np.float32,
        chunk_len=max(n, 1),
        data=track.confidence[:n],
        attrs={"description": "score of the last detection that found the face"},
    )
    writer.create(
        "face_found",
        ["time"],
        (n,),
        np.uint8,
        chunk_len=max(n, 1),
        data=track.found[:n].astype(np.uint8),
        attrs={
            "description": "1: the face is followed; 0: a gap (no face in view: its windows "
            "are excluded from the rates), the box kept from before it"
        },
    )
    writer.create(
        "crop_box",
        ["time", "square"],
        (n, 3),
        np.float64,  # the crops were cut at these exact coordinates
        chunk_len=max(n, 1),
        data=np.asarray([_box(boxes, i) for i in range(n)], dtype=np.float64),
        attrs={"description": "square crop x0, y0, side of each frame (pixels, fractional)"},
    )


def _write_baseline_inputs(
    writer: GroupWriter,
    stable_skin: np.ndarray,
    per_frame_skin: list[np.ndarray],
    shifts: list[np.ndarray],
) -> None:
    """The per-frame inputs of the evaluation's baselines (:mod:`distraction.skin`,
    :func:`distraction.baselines.vertical_shifts`), one value or RGB triple per frame."""
    n = len(stable_skin)
    regions = {
        "stable_skin": (stable_skin, "one stable skin region for the clip"),
        "per_frame_skin": (
            np.concatenate(per_frame_skin) if per_frame_skin else np.empty((0, 3)),
            "the skin rule applied to each frame",
        ),
    }
    for region, (traces, how) in regions.items():
        writer.create(
            TRACE_VARIABLES[region],
            ["time", "channel"],
            (n, 3),
            np.float64,
            chunk_len=max(n, 1),
            data=traces,
            attrs={
                "description": f"mean RGB (0-255) of the 34x34 frame over the skin: {how} "
                "(the colour baselines' input)"
            },
        )
    writer.create(
        SHIFT_VARIABLE,
        ["time"],
        (n,),
        np.float64,
        chunk_len=max(n, 1),
        data=np.concatenate(shifts) if shifts else np.empty(0),
        attrs={
            "units": "pixel",
            "description": "vertical shift of the 34x34 frame from the one before (phase "
            "correlation; the motion baseline's input)",
        },
    )


def _prepare_recording(
    loader: DatasetLoader,
    recording: Recording,
    store: Path,
    *,
    decoder_log: DecoderLog,
    crop: str,
    chunk_frames: int,
    provenance: dict[str, Any] | None,
    threads: int,
    settings: PrepareSettings,
) -> dict[str, Any]:
    started = time.perf_counter()
    fps = float(loader.frame_rate(recording))
    for problem in frame_rate_problems(fps):
        raise InputError(f"{recording.source}: {problem}")
    expected = loader.frame_count(recording)
    attrs: dict[str, Any] = {
        "fps": fps,
        "dataset": recording.dataset,
        "recording": recording.recording_id,
        "subject": recording.subject,
        "task": recording.task,
        "source": str(recording.source),
        "distraction_version": __version__,
        **(provenance or {}),
    }
    with GroupWriter(store, "prepared", attrs=attrs) as writer:
        motion = writer.create(
            "motion",
            ["time", "y36", "x36", "channel"],
            (0, CAN_SIZE, CAN_SIZE, 3),
            np.float32,
            chunk_len=chunk_frames,
            attrs={
                "description": "standardised normalised frame difference "
                "(c(t+1)-c(t))/(c(t+1)+c(t))"
            },
        )
        appearance = writer.create(
            "appearance",
            ["time", "y36", "x36", "channel"],
            (0, CAN_SIZE, CAN_SIZE, 3),
            np.float32,
            chunk_len=chunk_frames,
            attrs={"description": "standardised appearance frame"},
        )
        frames = writer.create(
            "frames",
            ["time", "y34", "x34", "channel"],
            (0, FRAME_SIZE, FRAME_SIZE, 3),
            np.float32,
            chunk_len=chunk_frames,
            attrs={"description": "34x34 RGB frame (0-255) for corruption estimates"},
        )
        motion_moments, appearance_moments = RunningMoments(), RunningMoments()
        # What the evaluation's colour and motion baselines need of the frames, taken
        # here so that evaluation never reads the frames again.
        skin = SkinTraces()
        per_frame_skin: list[np.ndarray] = []
        shifts: list[np.ndarray] = []
        times: list[float] = []
        block_motion: list[np.ndarray] = []
        block_appearance: list[np.ndarray] = []
        block_frames: list[np.ndarray] = []
        previous: tuple[float, np.ndarray, np.ndarray] | None = None
        frames_before: list[np.ndarray] = []  # the last frame of the block flushed last

        def flush() -> None:
            if not block_motion:
                return
            m, a = np.stack(block_motion), np.stack(block_appearance)
            f = np.stack(block_frames).astype(np.float32, copy=False)  # as stored
            motion_moments.update(m)
            appearance_moments.update(a)
            per_frame_skin.append(skin.add(f))
            shifts.append(vertical_shifts(f, frames_before[-1] if frames_before else None))
            frames_before[:] = [f[-1]]
            motion.append(m, axis=0)
            appearance.append(a, axis=0)
            frames.append(f, axis=0)
            block_motion.clear()
            block_appearance.clear()
            block_frames.clear()

        resized: Iterator[ResizedFrame] = iter(())
        follower: FaceFollower | None = None
        crops: list[SubpixelBox] = []  # of a tracked face, frame by frame
        source = iter(loader.iter_frames(recording))
        first = next(source, None)
        if first is None:
            _close(source)
        else:
            shape = first[1].shape
            if crop == "track":
                follower = FaceFollower(
                    detect_every=settings.detect_every,
                    correction_frames=settings.track_smoothing_s * fps,
                    flow_every=settings.flow_every,
                )
                crop_used = "track"
                writer.group.attrs.update(
                    {
                        "detect_every": settings.detect_every,
                        "flow_every": settings.flow_every,
                        "face_scale": settings.face_scale,
                        "track_smoothing_s": settings.track_smoothing_s,
                        "face_detector": "BlazeFace short range (LiteRT)",
                        "face_choice": FACE_CHOICE,
                        "crop_tolerance": settings.crop_tolerance,
                    }
                )
            else:
                box, crop_used = choose_crop(first[1], crop, settings.face_scale)
                boxes: Sequence[Box] = [box]
                writer.group.attrs["crop_box_xy_side"] = list(box)
            writer.group.attrs.update(
                {"crop_method": crop_used, "frame_height": shape[0], "frame_width": shape[1]}
            )
            stream = itertools.chain([first], source)
            if follower is not None:
                # One decoding pass, tracking and cropping: one thread decodes, this one
                # detects, crops and resizes.
                resized = _resized_tracked(
                    prefetched(stream) if threads > 1 else stream,
                    follower,
                    loader,
                    recording,
                    shape,
                    settings.face_scale,
                    settings.crop_tolerance,
                    crops,
                )
            elif threads > 1 and expected > chunk_frames and loader.random_access(recording):
                _close(source)
                resized = resized_in_parallel(
                    loader,
                    recording,
                    boxes,
                    shape,
                    expected,
                    workers=threads,
                    block_frames=chunk_frames,
                )
            else:
                # One decoding thread; this one crops and resizes (balances two cores).
                resized = _resized(
                    prefetched(stream) if threads > 1 else stream, recording, boxes, shape
                )
        progress = tqdm(
            resized,
            total=expected or None,
            desc=f"prepare {recording.recording_id}",
            unit="frame",
            mininterval=5.0,
            leave=False,
        )
        decoded = 0
        for timestamp, can_frame, small_frame in progress:
            decoded += 1
            if previous is not None:
                t_prev, can_prev, small_prev = previous
                block_motion.append(normalised_difference(can_prev, can_frame))
                block_appearance.append(can_prev)
                block_frames.append(small_prev)
                times.append(t_prev)
                if len(block_motion) == chunk_frames:
                    flush()
            previous = (float(timestamp), can_frame, small_frame)
        flush()
        if previous is not None:
            times.append(previous[0])  # only for the timestamp check below
        problems = timestamp_problems(times, fps)
        times = times[:-1]
        n = len(times)
        if decoded < 2:
            problems.append("video has fewer than 2 decodable frames")
        elif expected and decoded < expected:
            problems.append(
                f"truncated or corrupted: {expected} frames announced, {decoded} decode"
            )
        decoder_log.sync()
        if decoder_log.count:
            problems.append(decoder_log.summary())
        for problem in problems:
            raise InputError(f"{recording.source}: {problem}")
        # Second pass: standardise in place, one chunk at a time (DeepPhys: the motion
        # input is divided by its std, the appearance input is z-scored).
        motion_std = motion_moments.std or 1.0
        appearance_mean, appearance_std = appearance_moments.mean, appearance_moments.std or 1.0
        # The stable skin region's traces need every frame's statistics first (this pass).
        stable_skin = np.empty((n, 3))
        for start in range(0, n, chunk_frames):
            stop = min(start + chunk_frames, n)
            motion[start:stop] = motion[start:stop] / motion_std
            appearance[start:stop] = (appearance[start:stop] - appearance_mean) / appearance_std
            stable_skin[start:stop] = skin.stable_traces(frames[start:stop])
        _write_baseline_inputs(writer, stable_skin, per_frame_skin, shifts)
        motion.attrs.update({"scale_divided_by": motion_std})
        appearance.attrs.update({"offset": appearance_mean, "scale_divided_by": appearance_std})
        frame_times = np.asarray(times)
        writer.coord("time", frame_times, attrs={"units": "s", "description": "frame timestamp"})
        writer.coord("channel", list(CHANNELS))
        track = follower.finish() if follower is not None else None
        if track is not None:
            _write_track(writer, track, crops, n)
        ground_truth = loader.read_ground_truth(recording)
        present: list[str] = []
        if ground_truth is not None:
            problems = ground_truth_problems(ground_truth, decoded / fps) + subject_problems(
                recording
            )
            for problem in problems:
                raise InputError(f"{ground_truth.source}: {problem}")
            for name in GROUND_TRUTH_FIELDS:
                values = getattr(ground_truth, name)
                if values is None:
                    continue
                resampled = resample_series(ground_truth.time, values, frame_times)
                writer.create(
                    name,
                    ["time"],
                    (n,),
                    np.float64,
                    chunk_len=max(n, 1),
                    data=resampled,
                    attrs={"source": str(ground_truth.source)},
                )
                present.append(name)
        writer.group.attrs.update({"frames": n, "ground_truth": present})
    elapsed = time.perf_counter() - started
    return {"frames": n + 1, "fps": fps, "seconds": elapsed, "ground_truth": present}


def prepare_job(
    fmt: str,
    root: Path,
    dataset: str,
    recording_id: str,
    store: Path,
    *,
    settings: PrepareSettings,
    threads: int,
    record_failures: bool = False,
) -> str:
    """The ``prepare`` job: one recording of a dataset into its store's ``prepared`` group.

    With ``record_failures``, any failure (bad input, and also a bug or a full disk, whose
    traceback goes to the log first) is recorded in place of the group, with a one-line
    reason naming the video and the video's identity (the later stages pass it on to the
    failures report), instead of raised. Returns the job's one-line summary.
    """
    from distraction.datasets import get_loader
    from distraction.failures import recording_failures
    from distraction.store import write_failed_group

    # What is known of the video before its loader can say more: the id's first component
    # is the subject and the rest its task (the layout of every loader's ids).
    subject, _, task = recording_id.partition("/")
    identity = {"dataset": dataset, "recording": recording_id, "subject": subject, "task": task}

    def write(failure):
        record = {**failure.attrs(), "failed_stage": "prepare", **identity}
        write_failed_group(store, "prepared", record)

    with recording_failures(
        "prepare",
        f"{dataset}/{recording_id}",
        record=record_failures,
        write=write,
        store=store,
        output=Path(store) / "prepared",
    ) as failure:
        failure.inputs.append(Path(root))
        loader = get_loader(fmt, dataset, root)
        try:
            rec = loader.recording(recording_id)
        except InputError as exc:
            # Listed when the run was planned, gone now: it may come back (a file moved
            # for a moment), so a rerun retries it.
            message = f"{root}: recording {recording_id!r} not found (it was when the run began)"
            raise TransientError(message) from exc
        identity.update(subject=rec.subject, task=rec.task, source=str(rec.source))
        failure.video = str(rec.source)
        failure.inputs += [rec.source, *([rec.ground_truth] if rec.ground_truth else [])]
        summary = prepare_recording(loader, rec, store, settings=settings, fmt=fmt, threads=threads)
    if failure.failed:
        return f"prepare {dataset}/{recording_id}: failed: {failure.reason}"
    rate = summary["frames"] / max(summary["seconds"], 1e-9)
    return (
        f"prepare {dataset}/{rec.recording_id}: {summary['frames']} frames at "
        f"{summary['fps']:g} fps, ground truth {summary['ground_truth'] or 'none'}, "
        f"{summary['seconds']:.1f} s ({rate:.0f} frames/s)"
    )
