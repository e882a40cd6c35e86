"""The timeline's gate on validation clips with and without a pulse.

Renders validation clips that carry a pulse (photographed faces and cartoon faces, clean
and under flicker) and clips that carry none (a still photo, the same with camera noise,
black frames, pixel noise, and a face that leaves the frame half-way), runs
:func:`distraction.estimate` on each (every window keeps its ``pulse_db`` and ``peak_rate``,
gated or not) and prints, per candidate pair of thresholds (``timeline.hr_min_quality_db``
and ``timeline.hr_min_pulse_db``), the share of each clip's windows it keeps, and the share
of the windows within 3 /min of the truth it keeps. The schema's pair rejects every window
of the clips without a pulse and keeps the most windows within 3 /min of the truth.

Run from the repo root with the venv active (a few minutes on 2 cores)::

    python analysis/quality_threshold.py ../shared/faces /tmp/quality-clips
"""

from __future__ import annotations

import sys
from pathlib import Path

import _common
import cv2
import numpy as np

SECONDS = 30.0
WIDTH, HEIGHT, FPS = 160, 120, 30.0
#: Photographs and cartoon subjects of the validation clips (not those of the tests).
PHOTOS = (11, 23, 35, 47)
CARTOONS = (21, 22)
#: (timeline.hr_min_quality_db, timeline.hr_min_pulse_db) pairs.
CANDIDATES = (
    (-99, -3.0),
    (-99, -1.0),
    (0.0, -3.0),
    (1.0, -3.0),
    (1.5, -3.0),
    (2.0, -3.0),
    (1.5, -2.0),
)


def _write(path: Path, frames: list[np.ndarray]) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (WIDTH, HEIGHT))
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()


def _frames(path: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            return frames
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))


def clips(faces: Path, folder: Path) -> dict[str, tuple[Path, bool]]:
    """Every validation clip: its video and whether it carries a pulse."""
    from distraction.synth import write_clip
    from distraction.synth.photo import write_photo_clip

    folder.mkdir(parents=True, exist_ok=True)
    photos = sorted(p for p in faces.iterdir() if p.suffix.lower() in (".jpg", ".png"))
    made: dict[str, tuple[Path, bool]] = {}
    common = {"duration_s": SECONDS, "width": WIDTH, "height": HEIGHT, "seed": 5}
    for index in PHOTOS:
        for condition in ("clean", "flicker"):
            video = folder / f"photo{index}_{condition}.avi"
            if not video.exists():
                write_photo_clip(
                    photos[index], video, folder / f"photo{index}_{condition}.truth.csv",
                    condition=condition, subject_index=index, **common,
                )  # fmt: skip
            made[video.stem] = (video, True)
    for index in CARTOONS:
        video = folder / f"cartoon{index}_clean.avi"
        if not video.exists():
            write_clip(
                video, folder / f"cartoon{index}_clean.truth.csv",
                condition="clean", subject_index=index, **common,
            )  # fmt: skip
        made[video.stem] = (video, True)
    rng = np.random.default_rng(0)
    first = _frames(made[f"photo{PHOTOS[0]}_clean"][0])
    n = len(first)
    still = first[0].astype(np.float64)
    noisy = [
        np.clip(still + rng.normal(0, 2, still.shape), 0, 255).astype(np.uint8) for _ in range(n)
    ]
    background = np.full_like(first[0], 90)
    leaving = first[: n // 2] + [
        np.clip(background + rng.normal(0, 2, still.shape), 0, 255).astype(np.uint8)
        for _ in range(n - n // 2)
    ]
    negatives = {
        "still_photo": [first[0]] * n,
        "still_photo_noise": noisy,
        "black": [
            np.clip(rng.normal(0, 1, still.shape), 0, 255).astype(np.uint8) for _ in range(n)
        ],
        "pixel_noise": [rng.integers(0, 256, still.shape, dtype=np.uint8) for _ in range(n)],
        "face_leaves": leaving,
    }
    for name, frames in negatives.items():
        video = folder / f"{name}.avi"
        if not video.exists():
            _write(video, frames)
        made[name] = (video, name == "face_leaves")
    return made


def main(faces: Path, folder: Path) -> None:
    import pandas as pd

    import distraction
    from distraction.errors import InputError

    refused, windows = [], []
    for name, (video, pulse) in clips(faces, folder).items():
        try:
            rates = distraction.estimate(video).hr.rates
        except InputError as error:
            refused.append(f"{name}: {error}")
            continue
        truth_path = video.with_suffix(".truth.csv")
        truth = pd.read_csv(truth_path) if truth_path.exists() else None
        for _, w in rates.iterrows():
            error = np.nan
            if truth is not None:
                inside = truth["time"].between(w["window_start_s"], w["window_end_s"])
                # The rate of a gated window is NaN: its error is measured on the rate the
                # window would have had, which the quality columns belong to.
                error = abs(w["peak_rate"] - truth.loc[inside, "hr"].median())
            windows.append(
                {
                    "clip": name,
                    "pulse": pulse,
                    "quality_db": w["quality_db"],
                    "pulse_db": w["pulse_db"],
                    "face": w["reason"] != "no face",
                    "error": error,
                }
            )
    table = pd.DataFrame(windows)
    table.to_csv(folder / "windows.csv", index=False)
    rows = []
    right = table["error"] < 3
    for min_quality, min_pulse in CANDIDATES:
        kept = (table["quality_db"] >= min_quality) & (table["pulse_db"] >= min_pulse)
        kept &= table["face"]
        row = {"min_quality_db": min_quality, "min_pulse_db": min_pulse}
        row.update(kept.groupby(table["clip"]).mean().round(2).to_dict())
        row["right windows kept"] = round(float(kept[right & table["face"]].mean()), 2)
        rows.append(row)
    _common.print_table(rows, list(rows[0]))
    print("\n".join(refused))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
