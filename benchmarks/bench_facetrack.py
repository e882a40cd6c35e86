"""Face tracking measured where the renderer knows the true face box.

Renders photo clips (``distraction.photo``) of the test identities face_050..face_060 of
``../shared/faces`` under ``motion`` (head motion and camera shake) and ``clean`` (a still
head, breathing only), and compares three crops against the true box (the photo's face box
moved by the clip's head shift and camera shake):

- ``flow``: :class:`distraction.facetrack.FaceFollower` (BlazeFace + optical flow), the
  prepare stage's crop (``crop_tolerance: 0``);
- ``held``: the tracking before it: the Haar cascade every 10 frames, held between, a 1-s
  centred moving average, and the crop held while within 0.1 of its side;
- ``truth``: the true box.

Per clip: mean per-frame IoU of the face box with the true box; crop jitter, the RMS (px) of
the crop centre's and side's departure from the true box's motion (their difference minus
its mean), and the crop's raw RMS about its mean on still clips. Also the detectors alone:
recall of BlazeFace and the cascade on every 10th frame, and their time per frame.
``--fit`` prints the fit of BlazeFace's box to the cascade's on photos face_001..face_040
(:data:`distraction.blazeface.HAAR_CONVENTION`).

    python benchmarks/bench_facetrack.py --faces ../shared/faces --json track.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO

TEST_FACES = [f"face_{i:03d}.jpg" for i in range(50, 61)]
FIT_FACES = [f"face_{i:03d}.jpg" for i in range(1, 41)]


def framed(image: np.ndarray, face_fraction: float) -> np.ndarray:
    """The photo with its edges continued (replicated) so that its face's side is about
    ``face_fraction`` of its height: the photos are tight portraits, whose face would fill
    a 4:3 frame, unlike a webcam's."""
    import cv2

    from distraction.facetrack import detect_faces, face_detector

    side = float(detect_faces(face_detector(), image)[0, 2])
    height, width = image.shape[:2]
    pad_y = max(0, round((side / face_fraction - height) / 2))
    pad_x = max(0, round(((height + 2 * pad_y) * 4 / 3 - width) / 2))
    return cv2.copyMakeBorder(image, pad_y, pad_y, pad_x, pad_x, cv2.BORDER_REPLICATE)


def render(
    photo: Path,
    condition: str,
    seconds: float,
    width: int,
    height: int,
    seed: int,
    face_fraction: float = 0.4,
):
    """Frames of a photo clip and its true face box per frame (x, y, w, h)."""
    from distraction import photo as ph
    from distraction import synth

    image = framed(ph.read_photo(photo), face_fraction)
    identity = ph.photo_identity(image, width=width, height=height)
    phys_seed, render_seed = synth.clip_seeds(seed, 0, condition)
    physiology = synth.simulate_physiology(seconds, synth.GROUND_TRUTH_FS, phys_seed)
    dyn, frames = ph.render_photo_frames(
        identity, physiology, ph.photo_corruption(condition), fps=30.0, seed=render_seed
    )
    frames = list(frames)
    shift = (dyn.head_shift + dyn.shake)[: len(frames)]
    x, y, w, h = identity.face_box
    side = max(w, h)
    cx, cy = x + w / 2 + shift[:, 0], y + h / 2 + shift[:, 1]
    truth = np.column_stack(
        [cx - side / 2, cy - side / 2, np.full(len(cx), side), np.full(len(cx), side)]
    )
    return frames, truth


def held_track(frames, detect_every: int = 10, smoothing: int = 30, tolerance: float = 0.1):
    """The tracking before the flow tracker: cascade boxes held, averaged, crop held."""
    from distraction.facetrack import _iou, detect_faces, face_detector

    cascade = face_detector()
    held, current = [], None
    for index, frame in enumerate(frames):
        if index % detect_every == 0:
            faces = detect_faces(cascade, frame, near=current) if current is not None else []
            if current is not None and len(faces):
                overlap = _iou(current, faces[:, :4])
                faces = faces[[int(np.argmax(overlap))]] if overlap.max() > 0 else []
            if len(faces) == 0:
                faces = detect_faces(cascade, frame)
            if len(faces):
                current = faces[0, :4]
        held.append(current)
    first = next(b for b in held if b is not None)
    held = np.asarray([first if b is None else b for b in held])
    before = smoothing // 2
    padded = np.pad(held, ((before, smoothing - 1 - before), (0, 0)), mode="edge")
    kernel = np.ones(smoothing) / smoothing
    boxes = np.column_stack([np.convolve(padded[:, c], kernel, "valid") for c in range(4)])
    crops, last = [], None
    for box in boxes:
        centre = np.array([box[0] + box[2] / 2, box[1] + box[3] / 2, max(box[2], box[3])])
        if last is None or np.abs(centre - last).max() > tolerance * last[2]:
            last = centre
        crops.append(last)
    return boxes, np.asarray(crops)


def centres(boxes: np.ndarray) -> np.ndarray:
    """``x, y, w, h`` → ``cx, cy, side``."""
    return np.column_stack(
        [boxes[:, 0] + boxes[:, 2] / 2, boxes[:, 1] + boxes[:, 3] / 2, boxes[:, 2:4].max(axis=1)]
    )


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    from distraction.facetrack import _iou

    return np.array([_iou(x, y[None])[0] for x, y in zip(a, b, strict=True)])


def jitter(crop: np.ndarray, truth: np.ndarray) -> float:
    """RMS px of the crop's (cx, cy, side) departure from the true box's motion, scaled to
    the crop (the true box's side times the crop's mean ratio to it)."""
    ratio = float(np.mean(crop[:, 2]) / np.mean(truth[:, 2]))
    target = truth.copy()
    target[:, 2] *= ratio
    diff = crop - target
    diff -= diff.mean(axis=0)
    return float(np.sqrt(np.mean(np.sum(diff**2, axis=1))))


def measure(args) -> list[dict]:
    from distraction.blazeface import BlazeFace
    from distraction.facetrack import FaceFollower, detect_faces, face_detector
    from distraction.settings import prepare_settings

    if args.flow_every is None:
        args.flow_every = prepare_settings().flow_every
    blaze, cascade = BlazeFace(), face_detector()
    rows = []
    for name in args.identities:
        for condition in args.conditions:
            frames, truth = render(
                args.faces / name, condition, args.seconds, args.width, args.height, args.seed
            )
            true_c = centres(truth)
            started = time.perf_counter()
            follower = FaceFollower(
                detect_every=args.detect_every, correction_frames=args.correction_s * 30.0,
                flow_every=args.flow_every, detector=blaze,
            )  # fmt: skip
            for frame in frames:
                follower.add(frame)
            flow_s = (time.perf_counter() - started) / len(frames)
            track = follower.finish()
            flow_c = centres(track.boxes)
            flow_crop = flow_c * [1, 1, 1.6]
            held_boxes, held_crop = held_track(frames)
            sample = frames[:: args.detect_every]
            t0 = time.perf_counter()
            blaze_hits = [len(blaze.detect(f)) > 0 for f in sample]
            t1 = time.perf_counter()
            haar_hits = [len(detect_faces(cascade, f)) > 0 for f in sample]
            t2 = time.perf_counter()
            row = {
                "identity": name,
                "condition": condition,
                "iou_flow": float(iou(track.boxes, truth).mean()),
                "iou_flow_min": float(iou(track.boxes, truth).min()),
                "iou_held": float(iou(held_boxes, truth).mean()),
                "jitter_flow_px": jitter(flow_crop, true_c),
                "jitter_held_px": jitter(held_crop * [1, 1, 1.6], true_c),
                "crop_rms_flow_px": float(
                    np.sqrt(np.mean(np.sum((flow_crop - flow_crop.mean(0)) ** 2, 1)))
                ),
                "crop_rms_truth_px": float(
                    np.sqrt(
                        np.mean(
                            np.sum((true_c * [1, 1, 1.6] - (true_c * [1, 1, 1.6]).mean(0)) ** 2, 1)
                        )
                    )
                ),
                "found": float(track.found.mean()),
                "flow_ms_per_frame": 1e3 * flow_s,
                "blaze_recall": float(np.mean(blaze_hits)),
                "haar_recall": float(np.mean(haar_hits)),
                "blaze_ms": 1e3 * (t1 - t0) / len(sample),
                "haar_ms": 1e3 * (t2 - t1) / len(sample),
            }
            rows.append(row)
            print(
                json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}),
                flush=True,
            )
    return rows


def fit(args) -> None:
    """BlazeFace's detection against the cascade's box on the first frame of clean clips of
    the fitting photos: the constants of :data:`distraction.blazeface.HAAR_CONVENTION`."""
    from distraction import photo as ph
    from distraction.blazeface import BlazeFace
    from distraction.facetrack import detect_faces, face_detector

    blaze, cascade = BlazeFace(), face_detector()
    rows = []
    for name in FIT_FACES:
        image = framed(ph.read_photo(args.faces / name), 0.4)
        identity = ph.photo_identity(image, width=args.width, height=args.height)
        frame = np.round(identity.image * 255).astype(np.uint8)
        haar, raw = detect_faces(cascade, frame), blaze.detect_raw(frame)
        if len(haar) and len(raw):
            (hx, hy, hs), box, eyes = centres(haar[:1, :4])[0], raw[0, :4], raw[0, 4:8]
            across = eyes[2:4] - eyes[0:2]
            down = np.array([-across[1], across[0]])
            offset = np.array([hx, hy]) - (eyes[0:2] + eyes[2:4]) / 2
            length2 = float(across @ across)
            rows.append(
                [offset @ across / length2, offset @ down / length2, hs / (box[2] - box[0])]
            )
    r = np.asarray(rows)
    print(
        f"{len(r)} photos: median dx, dy, scale = {np.median(r, axis=0).round(3)}, "
        f"std {r.std(axis=0).round(3)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=Path, default=REPO.parent / "shared" / "faces")
    parser.add_argument("--identities", nargs="+", default=TEST_FACES)
    parser.add_argument("--conditions", nargs="+", default=["motion", "clean"])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--detect-every", type=int, default=10)
    parser.add_argument("--correction-s", type=float, default=1.0)
    parser.add_argument(
        "--flow-every", type=int, help="default: the prepare stage's (prepare.flow_every)"
    )
    parser.add_argument("--fit", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.fit:
        fit(args)
        return
    rows = measure(args)
    for condition in args.conditions:
        sel = [r for r in rows if r["condition"] == condition]
        means = {
            k: float(np.mean([r[k] for r in sel])) for k in sel[0] if isinstance(sel[0][k], float)
        }
        print(f"## {condition}: " + ", ".join(f"{k} {v:.3g}" for k, v in means.items()))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
