"""distraction.estimate() on rendered clips with known heart rate, and the quality index
on clean and heavily corrupted clips."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

import distraction
from distraction.errors import InputError
from distraction.store import open_group

CLIP = {"subject_index": 3, "duration_s": 20.0, "width": 320, "height": 240, "seed": 0}
#: A demo face (a validation identity: no shipped network trained on it).
FACE = (
    Path(__file__).resolve().parents[1] / "src" / "distraction" / "synth" / "faces" / "face_035.jpg"
)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean and a heavily corrupted ('mixed': illumination, motion, compression) 20-s
    clip of a photographed person in a drawn scene, each with its ground truth in a
    separate CSV."""
    from distraction.synth.photo import write_photo_clip

    root = tmp_path_factory.mktemp("api")
    for condition in ("clean", "mixed"):
        write_photo_clip(
            FACE, root / f"{condition}.avi", root / f"{condition}.truth.csv",
            condition=condition, scene="varied", **CLIP,
        )  # fmt: skip
    return root


def test_estimate_returns_the_rendered_heart_rate(clips: Path, tmp_path: Path) -> None:
    true_hr = pd.read_csv(clips / "clean.truth.csv")["hr"].median()
    result = distraction.estimate(clips / "clean.avi", store=tmp_path / "kept.zarr")
    assert isinstance(result, distraction.Estimate) and result.br is None
    rates = result.hr.rates
    # 10-s windows every second over 20 s (less the frame that differencing drops).
    assert len(rates) == 10 and rates["time_s"].iloc[0] == 5.0
    assert abs(result.hr.median_rate - true_hr) < 3
    # No <stem>.csv beside the video: no true rate (NaN, a number as in rates.csv).
    assert rates["true_rate"].dtype == float and rates["true_rate"].isna().all()
    waveforms = result.hr.waveforms
    assert {"time_s", "can", "denoised"} <= set(waveforms.columns)
    assert np.allclose(np.diff(waveforms["time_s"]), 1 / 30)
    assert result.store == tmp_path / "kept.zarr" and (result.store / "denoised_hr").is_dir()
    hrv = result.hr.hrv.iloc[0]
    assert hrv["status"] == "ok" or (hrv["status"] == "withheld" and hrv["reason"])


def test_quality_separates_clean_from_heavily_corrupted_clips(clips: Path) -> None:
    clean = distraction.estimate(clips / "clean.avi")
    corrupted = distraction.estimate(clips / "mixed.avi")
    assert clean.store is None  # the temporary store is gone
    q_clean = clean.hr.rates["quality_db"].median()
    q_corrupted = corrupted.hr.rates["quality_db"].median()
    # The HR output is the cancellation, whose spectrum is less clean than an LSTM's: a
    # clean clip's windows score a few dB, a heavily corrupted one's below zero.
    assert q_clean > 1.0 and q_corrupted < 0 and q_clean - q_corrupted > 3
    # HRV only where the quality allows it.
    hrv = corrupted.hr.hrv.iloc[0]
    assert hrv["status"] == "withheld" and hrv["reason"]
    assert np.isnan(hrv["HRV_RMSSD"])


def test_estimate_and_the_cli_stages_agree_to_the_sample(clips: Path, tmp_path: Path) -> None:
    """The API and the workflow's jobs (`distraction prepare`, `infer`, `timeline`, as the
    rules call them for `distraction run`'s folder dataset) give the same rates."""
    from distraction.cli import main

    api = distraction.estimate(clips / "clean.avi").hr.rates
    store = tmp_path / "clean.zarr"
    weights = Path(distraction.__file__).parent / "weights"
    assert main(["prepare", "--format=folder", f"--root={clips}", "--dataset=videos",
                 "--recording=clean", f"--store={store}"]) == 0  # fmt: skip
    networks = [
        f"--{kind}-{engine}={weights / f'hr_{kind}.{suffix}'}"
        for kind in ("can", "lstm")
        for engine, suffix in (("model", "keras"), ("litert", "tflite"))
    ]
    assert main(["infer", f"--store={store}", "--task=hr", *networks]) == 0
    out = {kind: tmp_path / f"clean.{kind}.csv" for kind in ("rates", "waveforms", "hrv")}
    assert main(["timeline", f"--store={store}", "--task=hr", f"--rates={out['rates']}",
                 f"--waveforms={out['waveforms']}", f"--hrv={out['hrv']}"]) == 0  # fmt: skip
    cli = pd.read_csv(out["rates"])
    assert len(cli) == len(api) == 10
    for column in ("rate", "peak_rate", "quality_db", "pulse_db"):
        assert np.allclose(cli[column], api[column], atol=0.05, equal_nan=True), column
    assert open_group(store, "prepared").attrs["crop_method"] == "track"


def test_a_still_photo_and_black_frames_give_no_rate(tmp_path: Path) -> None:
    from distraction.synth.photo import builtin_photo, write_photo_clip

    clip = tmp_path / "hopper.avi"
    write_photo_clip(builtin_photo(), clip, tmp_path / "truth.csv", condition="clean",
                     duration_s=20.0, width=160, height=120, seed=0)  # fmt: skip
    capture = cv2.VideoCapture(str(clip))
    ok, first = capture.read()
    capture.release()
    assert ok
    still = tmp_path / "still.avi"
    black = tmp_path / "black.avi"
    rng = np.random.default_rng(0)
    for path, frames in (
        (still, [first] * 600),
        (black, [rng.normal(0, 1, first.shape).clip(0, 255).astype(np.uint8) for _ in range(600)]),
    ):
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (160, 120))
        for frame in frames:
            writer.write(frame)
        writer.release()
    result = distraction.estimate(still).hr
    assert result.status == "no reliable estimate" and np.isnan(result.median_rate)
    assert result.rates["rate"].isna().all() and len(result.rates) == 10
    # Either check refuses the windows: a low quality, or a rate the frames do not show.
    reasons = result.rates["reason"]
    assert (reasons.str.startswith("quality below") | reasons.str.startswith("no pulse")).all()
    assert result.hrv["status"].iloc[0] == "withheld"
    black_result = distraction.estimate(black).hr
    assert black_result.status == "no reliable estimate" and np.isnan(black_result.median_rate)


def _write_avi(path: Path, frames: list[np.ndarray]) -> None:
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (width, height))
    for frame in frames:
        writer.write(frame)
    writer.release()


@pytest.mark.parametrize("content", ["black", "noise"])
def test_no_face_in_any_frame_is_no_reliable_estimate(content: str, tmp_path: Path) -> None:
    """Black frames and pixel noise hold no face: no rate and the reason, not an error."""
    rng = np.random.default_rng(0)
    shape = (48, 64, 3)
    frames = [
        np.zeros(shape, np.uint8) if content == "black" else rng.integers(0, 256, shape, np.uint8)
        for _ in range(105)  # 3.5 s at 30 fps
    ]
    clip = tmp_path / f"{content}.avi"
    _write_avi(clip, frames)
    result = distraction.estimate(clip, task="both", store=tmp_path / "kept.zarr")
    assert result.video == clip
    for timeline in (result.hr, result.br):
        assert timeline.status == "no reliable estimate"
        assert timeline.reason == "no face found in any frame"
        assert np.isnan(timeline.median_rate) and timeline.rates.empty
    hrv = result.hr.hrv.iloc[0]
    assert hrv["status"] == "withheld" and hrv["reason"] == "no face found in any frame"
    assert result.br.hrv is None
    assert result.store is None  # nothing was prepared to keep


def test_estimate_refuses_what_is_not_a_video(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="video file not found"):
        distraction.estimate(tmp_path / "missing.avi")
    with pytest.raises(InputError, match="is a folder"):
        distraction.estimate(tmp_path)
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(InputError, match="not a video"):
        distraction.estimate(tmp_path / "notes.txt")
    with pytest.raises(ValueError, match="task"):
        distraction.estimate(tmp_path / "notes.txt", task="spo2")
