"""Tests of the synthetic face-video generator (small frames, short clips)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest
from scipy.signal import detrend, find_peaks, periodogram

from distraction import synth
from distraction.errors import InputError

W, H, FPS, DURATION = 96, 72, 30.0, 30.0


def _spectrum(trace: np.ndarray, fs: float, lo: float = 0.7, hi: float = 3.0):
    """Hann-windowed, zero-padded periodogram of a linearly detrended trace in [lo, hi] Hz."""
    f, p = periodogram(detrend(trace), fs, window="hann", nfft=1 << 15)
    band = (f >= lo) & (f <= hi)
    return f[band], p[band]


def _decode(path: Path) -> np.ndarray:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    cap.release()
    return np.stack(frames)


def _read_gt(path: Path) -> tuple[list[str], np.ndarray]:
    with open(path) as f:
        header = f.readline().strip().split(",")
    return header, np.loadtxt(path, delimiter=",", skiprows=1)


def _background(frames: np.ndarray) -> np.ndarray:
    """Mean RGB of the two top corners, far from any face, hair or shirt."""
    h, w = frames.shape[1:3]
    rows = slice(0, int(0.2 * h))
    left = frames[:, rows, : int(0.15 * w)].reshape(len(frames), -1, 3)
    right = frames[:, rows, int(0.85 * w) :].reshape(len(frames), -1, 3)
    return np.concatenate([left, right], axis=1).mean(axis=1)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    folder = tmp_path_factory.mktemp("synth")
    out = {}
    for condition in ("clean", "flicker"):
        video = folder / f"s1_{condition}.avi"
        gt = folder / f"s1_{condition}.csv"
        synth.write_clip(
            video, gt, subject_index=1, condition=condition, duration_s=DURATION,
            fps=FPS, width=W, height=H, seed=7,
        )  # fmt: skip
        header, table = _read_gt(gt)
        mask = cv2.imread(str(folder / f"s1_{condition}.skin.png"), cv2.IMREAD_GRAYSCALE) > 0
        out[condition] = {
            "video": video, "gt": gt, "header": header, "table": table,
            "frames": _decode(video), "mask": mask,
        }  # fmt: skip
    return out


# ----------------------------------------------------------------------------- identity


def test_identity_deterministic_and_varied() -> None:
    assert synth.make_identity(3, 11) == synth.make_identity(3, 11)
    ids = [synth.make_identity(i, 11) for i in range(6)]
    # Six consecutive subjects cover six distinct skin tones from light to dark.
    lum = sorted(0.3 * i.skin_rgb[0] + 0.59 * i.skin_rgb[1] + 0.11 * i.skin_rgb[2] for i in ids)
    assert lum[-1] - lum[0] > 0.4
    assert min(np.diff(lum)) > 0.03
    assert len({i.face_height for i in ids}) == 6
    for ident in ids:
        assert 0.003 <= ident.pulse_strength <= 0.005


def test_skin_mask_plausible_and_subject_specific() -> None:
    a = synth.skin_mask(synth.make_identity(0, 1), width=W, height=H)
    b = synth.skin_mask(synth.make_identity(1, 1), width=W, height=H)
    assert a.dtype == bool and a.shape == (H, W)
    assert 0.05 < a.mean() < 0.4
    assert np.array_equal(a, synth.skin_mask(synth.make_identity(0, 1), width=W, height=H))
    assert (a != b).mean() > 0.02


# -------------------------------------------------------------------------- physiology


def test_physiology_rates_and_determinism() -> None:
    p = synth.simulate_physiology(30.0, 100.0, seed=5, hr_bpm=72.0, br_bpm=15.0)
    q = synth.simulate_physiology(30.0, 100.0, seed=5, hr_bpm=72.0, br_bpm=15.0)
    assert np.array_equal(p.ppg, q.ppg) and np.array_equal(p.hr, q.hr)
    assert p.time.size == 3000 and p.time[0] == 0.0 and p.time[1] == pytest.approx(0.01)
    assert abs(p.hr.mean() - 72.0) < 4.0 and abs(p.br.mean() - 15.0) < 3.0
    assert p.hr.std() > 0.3  # heart-rate variability
    # Default draws stay in physiological ranges.
    for seed in range(5):
        r = synth.simulate_physiology(20.0, 50.0, seed=seed)
        assert 45 < r.hr.min() and r.hr.max() < 130 and 6 < r.br.min() and r.br.max() < 30
        assert np.all(np.isfinite(r.ppg)) and np.all(np.isfinite(r.resp))


# --------------------------------------------------------------------------- rendering


def test_render_streams_deterministic_frames() -> None:
    phys = synth.simulate_physiology(2.0, 100.0, seed=1)
    ident = synth.make_identity(2, 0)
    cond = synth.CONDITIONS["motion"]
    it = synth.render_frames(ident, phys, cond, width=W, height=H, fps=FPS, seed=3)
    assert iter(it) is it  # a stream, not a list
    first = list(it)
    again = list(synth.render_frames(ident, phys, cond, width=W, height=H, fps=FPS, seed=3))
    assert len(first) == 60  # frames at 0, 1/30, …, 59/30 ≤ last sample 1.99 s
    assert first[0].dtype == np.uint8 and first[0].shape == (H, W, 3)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    other_seed = next(synth.render_frames(ident, phys, cond, width=W, height=H, fps=FPS, seed=4))
    assert not np.array_equal(first[0], other_seed)
    other = synth.make_identity(3, 0)
    other_face = next(synth.render_frames(other, phys, cond, width=W, height=H, fps=FPS, seed=3))
    assert np.abs(first[0].astype(int) - other_face).mean() > 10


def test_illumination_is_shared_by_face_and_background() -> None:
    phys = synth.simulate_physiology(20.0, 100.0, seed=2)
    ident = synth.make_identity(4, 0)
    mask = synth.skin_mask(ident, width=64, height=48)

    def traces(corruption: synth.Corruption) -> tuple[np.ndarray, np.ndarray]:
        it = synth.render_frames(ident, phys, corruption, width=64, height=48, fps=15.0, seed=9)
        frames = np.stack(list(it))
        return frames[:, mask, 1].mean(axis=1), _background(frames)[:, 1]

    # Global intensity drift alone: face and background move together.
    drift = dataclasses.replace(synth.CONDITIONS["clean"], intensity_drift=0.1)
    face, back = traces(drift)
    assert back.std() > 2.0 and np.corrcoef(face, back)[0, 1] > 0.9
    # The full preset changes the background light a lot; clean does not.
    _, back_ill = traces(synth.CONDITIONS["illumination"])
    _, back_clean = traces(synth.CONDITIONS["clean"])
    assert back_ill.std() > 2.0 > 0.5 > back_clean.std()


# ------------------------------------------------------------------------ written clips


def test_clean_clip_pulse_measurable(clips: dict[str, dict]) -> None:
    clip = clips["clean"]
    frames, table = clip["frames"], clip["table"]
    assert len(frames) == int(DURATION * FPS)
    assert frames.shape[1:] == (H, W, 3)
    # Average the interior of the skin mask (edges move with breathing).
    mask = cv2.erode(clip["mask"].astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    rgb = frames[:, mask].astype(float).mean(axis=1)
    f, p_green = _spectrum(rgb[:, 1] / rgb[:, 1].mean(), FPS)
    estimate = 60.0 * f[np.argmax(p_green)]
    assert abs(estimate - table[:, 3].mean()) < 2.0
    # Green carries the strongest pulse (relative), red about a third of it.
    k = np.argmax(p_green)
    _, p_red = _spectrum(rgb[:, 0] / rgb[:, 0].mean(), FPS)
    assert np.sqrt(p_green[k] / p_red[k]) > 1.5
    # Relative green amplitude is sub-percent, as in real rPPG.
    t = np.arange(len(rgb)) / FPS
    basis = np.column_stack([np.sin(2 * np.pi * f[k] * t), np.cos(2 * np.pi * f[k] * t)])
    coef, *_ = np.linalg.lstsq(basis, detrend(rgb[:, 1] / rgb[:, 1].mean()), rcond=None)
    assert 0.0005 < np.hypot(*coef) < 0.005


def test_flicker_is_shared_by_the_background(clips: dict[str, dict]) -> None:
    fl, cl = clips["flicker"], clips["clean"]
    back = _background(fl["frames"])[:, 1]
    f, p = _spectrum(back, FPS)
    k = np.argmax(p)
    assert p[k] > 100 * np.median(p)  # a strong line
    flicker_hz = f[k]
    assert 0.7 <= flicker_hz <= 2.5
    assert abs(60 * flicker_hz - fl["table"][:, 3].mean()) >= 7.5
    # It is the flicker the renderer drew, with a 1–2 % amplitude.
    phys_seed, render_seed = synth.clip_seeds(7, 1, "flicker")
    dyn = synth.scene_dynamics(
        synth.make_identity(1, 7),
        synth.simulate_physiology(DURATION, synth.GROUND_TRUTH_FS, phys_seed),
        synth.CONDITIONS["flicker"], width=W, height=H, fps=FPS, seed=render_seed,
    )  # fmt: skip
    assert flicker_hz == pytest.approx(dyn.flicker_hz, abs=0.01)
    t = np.arange(len(back)) / FPS
    basis = np.column_stack(
        [np.sin(2 * np.pi * flicker_hz * t), np.cos(2 * np.pi * flicker_hz * t)]
    )
    coef, *_ = np.linalg.lstsq(basis, detrend(back / back.mean()), rcond=None)
    # Green modulation depth = amplitude x the green share of the flicker's colour.
    assert 0.01 <= dyn.flicker_amplitude <= 0.02
    assert np.hypot(*coef) == pytest.approx(dyn.flicker_amplitude * dyn.flicker_rgb[1], rel=0.2)
    # The flicker is coloured: the channels' depths differ, around a mean of 1.
    assert dyn.flicker_rgb.mean() == pytest.approx(1.0)
    assert np.ptp(dyn.flicker_rgb) > 0.05
    # The clean background has no such line at that frequency.
    fc, pc = _spectrum(_background(cl["frames"])[:, 1], FPS)
    assert pc[np.argmin(np.abs(fc - flicker_hz))] < 1e-3 * p[k]
    # On the face, the flicker dominates the pulse.
    rgb = fl["frames"][:, fl["mask"]].astype(float).mean(axis=1)
    ff, pf = _spectrum(rgb[:, 1], FPS)
    assert ff[np.argmax(pf)] == pytest.approx(flicker_hz, abs=0.02)


def test_ground_truth_csv(clips: dict[str, dict]) -> None:
    clip = clips["clean"]
    assert clip["header"] == ["time", "ppg", "resp", "hr", "br"]
    time, ppg, _resp, hr, br = clip["table"].T
    fs = 1.0 / np.median(np.diff(time))
    assert fs == pytest.approx(100.0) and fs != FPS
    assert time[0] == 0.0 and time[-1] == pytest.approx(DURATION - 0.01)
    assert 45 < hr.min() and hr.max() < 130 and 6 < br.min() and br.max() < 30
    # Beats counted on the waveform agree with the integrated instantaneous rate.
    peaks, _ = find_peaks(ppg, distance=int(0.3 * fs), prominence=0.5)
    assert abs(len(peaks) - np.trapezoid(hr / 60.0, time)) <= 1.5


def test_same_seed_gives_identical_files(clips: dict[str, dict], tmp_path: Path) -> None:
    clip = clips["clean"]
    video, gt = tmp_path / "again.avi", tmp_path / "again.csv"
    synth.write_clip(video, gt, subject_index=1, condition="clean", duration_s=DURATION,
                     fps=FPS, width=W, height=H, seed=7)  # fmt: skip
    assert gt.read_bytes() == clip["gt"].read_bytes()
    assert np.array_equal(_decode(video), clip["frames"])


def test_lossless_codec_round_trip(tmp_path: Path) -> None:
    video, gt = tmp_path / "l.mkv", tmp_path / "l.csv"
    synth.write_clip(video, gt, subject_index=0, condition="compression", duration_s=1.0,
                     fps=10.0, width=48, height=36, seed=3, codec="FFV1")  # fmt: skip
    phys_seed, render_seed = synth.clip_seeds(3, 0, "compression")
    expected = np.stack(
        list(synth.render_frames(
            synth.make_identity(0, 3),
            synth.simulate_physiology(1.0, synth.GROUND_TRUTH_FS, phys_seed),
            synth.CONDITIONS["compression"], width=48, height=36, fps=10.0, seed=render_seed,
        ))
    )  # fmt: skip
    assert np.array_equal(_decode(video), expected)  # RGB in, RGB out, bit-exact


def test_atomic_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synth.write_clip(tmp_path / "a.avi", tmp_path / "a.csv", subject_index=0,
                     condition="clean", duration_s=1.0, width=32, height=24)  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.avi", "a.csv", "a.skin.png"]

    failing = tmp_path / "fail"
    failing.mkdir()

    original = synth.render_frames

    def broken(*args, **kwargs):
        yield next(original(*args, **kwargs))
        raise RuntimeError("disk on fire")

    # The clip writer looks the renderer up in its own module.
    from distraction.synth import clip

    monkeypatch.setattr(clip, "render_frames", broken)
    with pytest.raises(RuntimeError, match="disk on fire"):
        synth.write_clip(failing / "b.avi", failing / "b.csv", subject_index=0,
                         condition="clean", duration_s=1.0, width=32, height=24)  # fmt: skip
    assert list(failing.iterdir()) == []
    monkeypatch.undo()

    with pytest.raises(InputError, match="codec"):
        synth.write_clip(failing / "c.avi", failing / "c.csv", subject_index=0,
                         condition="clean", duration_s=1.0, codec="XX")  # fmt: skip
    with pytest.raises(InputError, match="unknown condition"):
        synth.write_clip(failing / "d.avi", failing / "d.csv", subject_index=0,
                         condition="fog", duration_s=1.0)  # fmt: skip
    assert list(failing.iterdir()) == []


def test_condition_presets() -> None:
    assert {"clean", "flicker", "illumination", "motion", "compression"} <= set(synth.CONDITIONS)
    clean = synth.CONDITIONS["clean"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        clean.read_noise = 0.0  # type: ignore[misc]
    flicker = synth.CONDITIONS["flicker"]
    assert flicker.flicker_amplitude[0] >= 0.01 >= 2 * 0.005  # well above the pulse
    assert synth.CONDITIONS["compression"].jpeg_quality is not None
    assert synth.CONDITIONS["motion"].head_translation > 0


def _drawn_flicker(condition: str, subject: int, duration_s: float):
    """A clip's physiology and scene dynamics, and the depth of its light's oscillation at
    the drawn flicker frequency per channel (least squares beside a linear drift)."""
    phys_seed, render_seed = synth.clip_seeds(0, subject, condition)
    physiology = synth.simulate_physiology(duration_s, synth.GROUND_TRUTH_FS, phys_seed)
    dyn = synth.scene_dynamics(
        synth.make_identity(subject, 0), physiology, synth.CONDITIONS[condition],
        width=W, height=H, fps=FPS, seed=render_seed,
    )  # fmt: skip
    t = dyn.time - dyn.time[0]
    w = 2 * np.pi * dyn.flicker_hz * t
    basis = np.column_stack([np.sin(w), np.cos(w), np.ones_like(t), t])
    coef, *_ = np.linalg.lstsq(basis, dyn.light_rgb / dyn.light_rgb.mean(axis=0), rcond=None)
    return physiology, dyn, np.hypot(coef[0], coef[1])


@pytest.mark.parametrize("subject", range(6))
def test_slow_flicker_is_in_the_breathing_band_away_from_the_breath(subject: int) -> None:
    # BR counterpart of "flicker": a 2-6 % light oscillation at 6-27 /min, never within
    # 3 /min of the clip's breathing rate (then no method could tell the two apart).
    physiology, dyn, depth = _drawn_flicker("slow_flicker", subject, 60.0)
    assert 0.1 <= dyn.flicker_hz <= 0.45
    assert abs(60 * dyn.flicker_hz - physiology.br.mean()) >= 3.0
    assert 0.02 <= dyn.flicker_amplitude <= 0.06
    # The drawn flicker is in the light, at the drawn depth (beside a slow drift).
    np.testing.assert_allclose(depth, dyn.flicker_amplitude * dyn.flicker_rgb, rtol=0.25)


def test_flicker_avoids_names_a_rate() -> None:
    bad = dataclasses.replace(synth.CONDITIONS["flicker"], flicker_avoids="spo2")
    physiology = synth.simulate_physiology(10.0, synth.GROUND_TRUTH_FS, 0)
    with pytest.raises(ValueError, match="flicker_avoids"):
        synth.scene_dynamics(synth.make_identity(0, 0), physiology, bad,
                             width=W, height=H, fps=FPS, seed=0)  # fmt: skip


def test_background_flicker_leaves_the_face_alone(tmp_path: Path) -> None:
    # A screen behind the subject: a strong line in the background at the drawn frequency
    # and depth, absent from the skin (the corruption inverse attention cannot remove).
    video, gt = tmp_path / "s.avi", tmp_path / "s.csv"
    synth.write_clip(video, gt, subject_index=1, condition="background_flicker",
                     duration_s=DURATION, fps=FPS, width=W, height=H, seed=7)  # fmt: skip
    frames = _decode(video)
    skin = cv2.imread(str(tmp_path / "s.skin.png"), cv2.IMREAD_GRAYSCALE) > 0
    phys_seed, render_seed = synth.clip_seeds(7, 1, "background_flicker")
    physiology = synth.simulate_physiology(DURATION, synth.GROUND_TRUTH_FS, phys_seed)
    dyn = synth.scene_dynamics(
        synth.make_identity(1, 7), physiology, synth.CONDITIONS["background_flicker"],
        width=W, height=H, fps=FPS, seed=render_seed,
    )  # fmt: skip
    assert dyn.background_flicker_hz is not None and 0.7 <= dyn.background_flicker_hz <= 2.5
    assert abs(60 * dyn.background_flicker_hz - physiology.hr.mean()) >= 8.0
    back = _background(frames)[:, 1]
    f, p = _spectrum(back, FPS)
    assert f[np.argmax(p)] == pytest.approx(dyn.background_flicker_hz, abs=0.02)
    t = np.arange(len(back)) / FPS
    w = 2 * np.pi * dyn.background_flicker_hz * t
    coef, *_ = np.linalg.lstsq(
        np.column_stack([np.sin(w), np.cos(w)]), detrend(back / back.mean()), rcond=None
    )
    depth = np.ptp(dyn.background_rgb[:, 1]) / 2
    assert 0.05 * 0.7 <= depth <= 0.15 * 1.3
    assert np.hypot(*coef) == pytest.approx(depth, rel=0.2)
    # On the skin, the background's frequency carries under 1 % of the background's power.
    face = frames[:, skin].astype(float).mean(axis=1)[:, 1]
    ff, pf = _spectrum(face / face.mean() * back.mean(), FPS)
    at = np.argmin(np.abs(ff - dyn.background_flicker_hz))
    assert pf[at] < 0.01 * p.max()


@pytest.mark.parametrize("subject", range(4))
def test_neutral_flicker_modulates_every_channel_alike(subject: int) -> None:
    # In-band flicker in grey light: R, G and B of the light oscillate at one depth, so a
    # chrominance method (or a network) can reject it from colour alone.
    physiology, dyn, depth = _drawn_flicker("neutral_flicker", subject, 30.0)
    assert 0.7 <= dyn.flicker_hz <= 2.5
    assert abs(60 * dyn.flicker_hz - physiology.hr.mean()) >= 8.0
    assert 0.01 <= dyn.flicker_amplitude <= 0.02
    # Every channel at the drawn depth (beside a slow drift), and within 5 % of each other.
    np.testing.assert_allclose(depth, dyn.flicker_amplitude, rtol=0.25)
    assert np.ptp(depth) < 0.05 * depth.mean()
