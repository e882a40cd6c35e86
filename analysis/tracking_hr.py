"""HR under head motion and camera shake with three crops: the tracker, the held crop it
replaced, and a crop that follows the true face box.

Renders photo clips (``distraction.photo``, condition ``motion``, face about 0.4 of a
320x240 frame as in ``benchmarks/bench_facetrack.py``) of test identities of
``../shared/faces``, prepares each three times and runs the shipped networks (LiteRT) and the
baselines through the workflow's own functions (``prepare_recording``, ``run_stages``,
``evaluate``). HR MAE (bpm) over the default 30-s windows, per method and crop:

- ``flow``: the prepare stage's tracker (:class:`distraction.facetrack.FaceFollower`),
  crop following it (``crop_tolerance: 0``, the default);
- ``held``: the tracking before it (``bench_facetrack.held_track``: the cascade every 10
  frames, a 1-s moving average) with the crop held within 0.1 of its side;
- ``truth``: the true box of every frame (the renderer's face box moved by the head shift
  and the shake), crop following it.

The ``held`` and ``truth`` boxes reach ``prepare_recording`` through a stand-in for the
tracker with the tracker's interface (this script only).

    python analysis/tracking_hr.py --faces ../shared/faces --seconds 40 --out /tmp/tracking_hr
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from bench_facetrack import TEST_FACES, held_track, render

REPO = Path(__file__).resolve().parents[1]
METHODS = ["can", "cancelled", "denoised", "chrom", "pos", "green", "ica"]


class ReplayedTrack:
    """A stand-in for :class:`distraction.facetrack.FaceFollower` that hands out given
    boxes (``x, y, w, h`` per frame)."""

    lag = 0
    detect_every = 1

    def __init__(self, boxes: np.ndarray) -> None:
        self._boxes = boxes
        self.count = 0

    @property
    def ready(self) -> int:
        return self.count

    def add(self, frame: np.ndarray) -> None:
        self.count += 1

    def box(self, index: int) -> np.ndarray:
        return self._boxes[min(index, len(self._boxes) - 1)]

    def finish(self):
        from distraction.facetrack import FaceTrack

        n = self.count
        return FaceTrack(self._boxes[:n], np.ones(n), np.ones(n, dtype=bool))


def write_clip(frames: list[np.ndarray], physiology, folder: Path, name: str) -> Path:
    """``folder/s01/<name>.avi`` (MJPG q95) and its ground truth CSV; the dataset root."""
    import cv2

    from distraction import synth

    video = folder / "s01" / f"{name}.avi"
    video.parent.mkdir(parents=True, exist_ok=True)
    height, width = frames[0].shape[:2]
    writer = synth._open_writer(video, "MJPG", 30.0, width, height, 95)
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    synth._write_ground_truth(video.with_suffix(".csv"), physiology)
    return folder


def run_one(root: Path, store: Path, crop_boxes, tolerance: float) -> dict[str, float]:
    """Prepare (with ``crop_boxes`` replayed, or the tracker when None), run the networks,
    evaluate: HR MAE per method."""
    import distraction.prepare as prepare_module
    from distraction.datasets import get_loader
    from distraction.evaluate import evaluate
    from distraction.infer import run_stages
    from distraction.settings import merged_config, prepare_settings, task_settings

    loader = get_loader("generic", "d", root)
    (recording,) = loader.list_recordings()
    original = prepare_module.FaceFollower
    if crop_boxes is not None:
        prepare_module.FaceFollower = lambda **_: ReplayedTrack(crop_boxes)  # type: ignore
    try:
        prepare_module.prepare_recording(
            loader, recording, store, crop="track",
            settings=prepare_settings(crop_tolerance=tolerance),
        )  # fmt: skip
    finally:
        prepare_module.FaceFollower = original
    config = merged_config()
    settings = task_settings("hr", config)
    weights = REPO / "src" / "distraction" / "weights"
    run_stages(
        store, settings, ["infer-can", "corruption", "denoise"],
        can_model=weights / "hr_can.keras", lstm_model=weights / "hr_lstm.keras",
        can_litert=weights / "hr_can.tflite", lstm_litert=weights / "hr_lstm.tflite",
        batch_size=256,
    )  # fmt: skip
    table, _ = evaluate(store, settings)
    table["abs_error"] = (table["est_rate"] - table["true_rate"]).abs()
    return {m: float(g["abs_error"].mean()) for m, g in table.groupby("method")}


def main() -> None:
    from distraction import synth

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=Path, default=REPO.parent / "shared" / "faces")
    parser.add_argument("--identities", nargs="+", default=TEST_FACES)
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--crops", nargs="+", default=["flow", "held", "truth"])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    rows = []
    for name in args.identities:
        frames, truth = render(args.faces / name, "motion", args.seconds, 320, 240, args.seed)
        phys_seed, _ = synth.clip_seeds(args.seed, 0, "motion")
        physiology = synth.simulate_physiology(args.seconds, synth.GROUND_TRUTH_FS, phys_seed)
        root = write_clip(frames, physiology, args.out / Path(name).stem, "motion")
        held_boxes, _ = held_track(frames)
        del frames
        for crop, boxes, tolerance in (
            ("flow", None, 0.0),
            ("held", held_boxes, 0.1),
            ("truth", truth, 0.0),
        ):
            if crop not in args.crops:
                continue
            store = args.out / Path(name).stem / f"{crop}.zarr"
            mae = run_one(root, store, boxes, tolerance)
            rows.append({"identity": name, "crop": crop, **mae})
            print(json.dumps(rows[-1]), flush=True)
    (args.out / f"tracking_hr_{'_'.join(args.crops)}.json").write_text(json.dumps(rows, indent=1))
    print("\n| crop | " + " | ".join(METHODS) + " |")
    print("|---|" + "---|" * len(METHODS))
    for crop in args.crops:
        sel = [r for r in rows if r["crop"] == crop]
        cells = [f"{np.mean([r[m] for r in sel if m in r]):.2f}" for m in METHODS]
        print(f"| {crop} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
