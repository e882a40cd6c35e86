"""Tests of the photo mode of the synthetic renderer, on the public-domain Grace Hopper portrait
that matplotlib ships (small frames, short clips)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from scipy.signal import detrend, periodogram

from distraction import synth
from distraction.errors import InputError
from distraction.facetrack import _iou, track_faces
from distraction.files import file_sha256
from distraction.synth import photo

W, H, FPS = 120, 140, 30.0


def _peak_bpm(trace: np.ndarray, fs: float, lo: float = 0.7, hi: float = 3.0) -> tuple:
    """Frequency (per minute) of the periodogram's peak in [lo, hi] Hz and its SNR (power
    within ±6 /min of the peak over the rest of the band)."""
    f, p = periodogram(detrend(trace), fs, window="hann", nfft=1 << 14)
    band = (f >= lo) & (f <= hi)
    f, p = f[band], p[band]
    peak = f[int(np.argmax(p))]
    near = np.abs(f - peak) <= 0.1
    return 60.0 * peak, float(p[near].sum() / max(p[~near].sum(), 1e-30))


def _snr_db(trace: np.ndarray, hr_bpm: float, fs: float = FPS) -> float:
    """Power within ±6 /min of the HR and its harmonic over the rest of 0.7-4 Hz, dB."""
    f, p = periodogram(detrend(trace), fs, window="hann", nfft=1 << 14)
    band = (f >= 0.7) & (f <= 4.0)
    f0 = hr_bpm / 60.0
    near = band & ((np.abs(f - f0) <= 0.1) | (np.abs(f - 2 * f0) <= 0.1))
    return float(10 * np.log10(p[near].sum() / p[band & ~near].sum()))


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


@pytest.fixture(scope="module")
def hopper() -> np.ndarray:
    return photo.read_photo(photo.builtin_photo())


@pytest.fixture(scope="module")
def identity(hopper: np.ndarray) -> photo.PhotoIdentity:
    return photo.photo_identity(hopper, width=W, height=H)


def _render(identity, condition: str, duration_s: float, seed: int, hr=None, fps=FPS):
    physiology = synth.simulate_physiology(duration_s, synth.GROUND_TRUTH_FS, seed, hr_bpm=hr)
    corruption = photo.photo_corruption(condition)
    dyn, frames = photo.render_photo_frames(identity, physiology, corruption, fps=fps, seed=seed)
    return physiology, dyn, np.stack(list(frames)).astype(np.float64)


def test_skin_map_covers_the_face_only(identity: photo.PhotoIdentity) -> None:
    # Hand-checked on the 120 x 140 frame: the face (forehead below the cap to the chin,
    # between the ears) lies within x 36-88, y 38-84, the neck within x 46-76, y 80-92;
    # the cap above y 36, the uniform below y 92 (its white collar is not skin).
    skin = identity.skin > 0.5
    assert identity.skin.min() >= 0.0 and identity.skin.max() <= 1.0
    face = np.zeros_like(skin)
    face[36:94, 33:91] = True
    inside = (skin & face).sum() / skin.sum()
    assert inside > 0.9, inside
    # The face's central part (cheeks, nose, mouth) is mostly skin.
    assert skin[50:78, 45:78].mean() > 0.75
    # Nothing in the uniform, the cap or the background corners.
    assert not skin[100:].any()
    assert not skin[:30].any()
    assert not skin[:, :25].any() and not skin[:, 100:].any()
    # The detected box holds most of the skin (the rest is neck and chin below it).
    x, y, w, h = (round(v) for v in identity.face_box)
    assert skin[y : y + h, x : x + w].sum() / skin.sum() > 0.75
    # The person is segmented: the top corners are background, the face is person.
    assert identity.alpha[:10, :10].max() == 0.0 and identity.alpha[:10, -10:].max() == 0.0
    assert identity.alpha[y + h // 5 : y + h - h // 5, x + w // 5 : x + w - w // 5].min() > 0.99


def test_pulse_on_skin_none_on_background(identity: photo.PhotoIdentity) -> None:
    physiology, _, frames = _render(identity, "clean", 10.0, seed=3)
    skin = identity.skin > 0.5
    background = cv2.erode((identity.alpha < 0.01).astype(np.uint8), np.ones((7, 7))) > 0
    assert background.sum() > 500
    green_skin = frames[:, skin, 1].mean(axis=1)
    green_background = frames[:, background, 1].mean(axis=1)
    bpm, _ = _peak_bpm(green_skin, FPS)
    true_hr = float(np.mean(physiology.hr))
    assert abs(bpm - true_hr) < 3.0, (bpm, true_hr)
    # Measured (seed 3): skin +4.9 dB, background -7.7 dB.
    snr_skin, snr_background = _snr_db(green_skin, true_hr), _snr_db(green_background, true_hr)
    assert snr_skin > 1.0 and snr_background < -3.0, (snr_skin, snr_background)
    # Pulse amplitude on skin vs the designed one (green, peak-to-peak about a · mean).
    assert np.std(green_skin) > 0.05


def test_flicker_has_its_frequency_and_a_spatial_gradient(
    identity: photo.PhotoIdentity,
) -> None:
    _, dyn, frames = _render(identity, "flicker", 6.0, seed=5)
    assert dyn.flicker_hz is not None and dyn.flicker_space is not None
    background = cv2.erode((identity.alpha < 0.01).astype(np.uint8), np.ones((7, 7))) > 0
    bpm, _ = _peak_bpm(frames[:, background].mean(axis=(1, 2)), FPS, 0.5, 3.0)
    assert abs(bpm - 60 * dyn.flicker_hz) < 3.0
    # Depth and phase at the two ends of the gradient's direction.
    direction, depth_gradient, phase_gradient = dyn.flicker_space
    yy, xx = np.mgrid[0:H, 0:W]
    s = np.cos(direction) * (2 * (xx + 0.5) / W - 1) + np.sin(direction) * (2 * (yy + 0.5) / H - 1)
    t = np.arange(len(frames)) / FPS
    design = np.column_stack(
        [np.sin(2 * np.pi * dyn.flicker_hz * t), np.cos(2 * np.pi * dyn.flicker_hz * t)]
    )
    ends = []
    for region in (s < -0.4, s > 0.4):
        trace = frames[:, region, 1].mean(axis=1)
        trace = trace / trace.mean() - 1.0
        coef = np.linalg.lstsq(np.column_stack([design, np.ones_like(t)]), trace, rcond=None)[0]
        a, b = coef[:2]
        ends.append((np.hypot(a, b), np.arctan2(b, a), s[region].mean()))
    (depth_lo, phase_lo, s_lo), (depth_hi, phase_hi, s_hi) = ends
    expected_ratio = (1 + depth_gradient * s_hi) / (1 + depth_gradient * s_lo)
    assert depth_hi / depth_lo == pytest.approx(expected_ratio, rel=0.25)
    assert depth_hi / depth_lo > 1.5
    dphase = np.angle(np.exp(1j * (phase_hi - phase_lo)))
    assert dphase == pytest.approx(phase_gradient * (s_hi - s_lo), abs=0.2)


def test_tracker_follows_the_moving_face(identity: photo.PhotoIdentity) -> None:
    _, dyn, frames = _render(identity, "motion", 4.0, seed=7, fps=15.0)
    assert np.ptp(dyn.head_shift[:, 0]) > 2.0  # the head really moves
    track = track_faces(
        frames.astype(np.uint8), detect_every=10, correction_frames=300, flow_every=2
    )
    assert track is not None and track.found.mean() > 0.9
    rest = np.asarray(identity.face_box)
    ious = []
    for i, box in enumerate(track.boxes):
        known = rest + np.r_[dyn.head_shift[i] + dyn.shake[i], 0.0, 0.0]
        ious.append(float(_iou(known, box[None])[0]))
    assert np.median(ious) >= 0.8 and np.min(ious) >= 0.7, ious


def test_write_photo_clip_outputs_and_determinism(tmp_path: Path) -> None:
    source = photo.builtin_photo()
    outputs = []
    for run in ("a", "b"):
        folder = tmp_path / run
        folder.mkdir()
        photo.write_photo_clip(
            source,
            folder / "clip.avi",
            folder / "clip.csv",
            condition="mixed",
            duration_s=1.0,
            fps=15.0,
            width=64,
            height=48,
            seed=11,
        )
        outputs.append({p.name: p.read_bytes() for p in sorted(folder.iterdir())})
    assert sorted(outputs[0]) == ["clip.avi", "clip.csv", "clip.photo.json", "clip.skin.png"]
    assert outputs[0] == outputs[1]
    folder = tmp_path / "a"
    assert (folder / "clip.csv").read_text().splitlines()[0] == "time,ppg,resp,hr,br"
    assert _decode(folder / "clip.avi").shape == (15, 48, 64, 3)
    info = json.loads((folder / "clip.photo.json").read_text())
    assert info["photo"]["licence"] == "public-domain"
    assert len(info["sha256"]) == 64
    skin = cv2.imread(str(folder / "clip.skin.png"), cv2.IMREAD_GRAYSCALE)
    assert skin.shape == (48, 64) and skin.max() == 255


def test_provenance_rule(tmp_path: Path, hopper: np.ndarray) -> None:
    copy = tmp_path / "portrait.png"
    cv2.imwrite(str(copy), cv2.cvtColor(hopper, cv2.COLOR_RGB2BGR))
    with pytest.raises(InputError, match="no provenance record"):
        photo.photo_provenance(copy)
    sources = tmp_path / "sources.yaml"
    sources.write_text("portrait.png: {licence: CC-BY-NC-4.0, source: x, author: y}\n")
    with pytest.raises(InputError, match="licence"):
        photo.photo_provenance(copy)
    sources.write_text("portrait.png: {licence: public-domain, source: US Navy, author: USN}\n")
    assert photo.photo_provenance(copy).author == "USN"
    with pytest.raises(InputError, match="provenance"):
        photo.write_photo_clip(
            tmp_path / "missing.jpg",
            tmp_path / "x.avi",
            tmp_path / "x.csv",
            condition="clean",
            duration_s=1.0,
        )


def test_cartoon_presets_keep_uniform_flicker() -> None:
    assert all(
        c.flicker_depth_gradient == 0 and c.flicker_phase_gradient == 0
        for c in synth.CONDITIONS.values()
    )
    assert photo.photo_corruption("flicker").flicker_depth_gradient > 0
    assert photo.photo_corruption("clean") == synth.CONDITIONS["clean"]


def _photo_folder(folder: Path, hopper: np.ndarray, count: int) -> Path:
    folder.mkdir()
    entries = []
    for k in range(count):
        cv2.imwrite(str(folder / f"p{k}.png"), cv2.cvtColor(hopper, cv2.COLOR_RGB2BGR))
        entries.append(f"p{k}.png: {{licence: public-domain, source: matplotlib, author: USN}}")
    (folder / "sources.yaml").write_text("\n".join(entries) + "\n")
    return folder


def test_cli_synth_photo(tmp_path: Path, hopper: np.ndarray) -> None:
    from distraction.cli import main

    folder = _photo_folder(tmp_path / "photos", hopper, 1)
    video = tmp_path / "out" / "s0" / "clean.avi"
    args = ["synth", f"--video={video}", f"--ground-truth={video.with_suffix('.csv')}"]
    args += ["--subject=0", "--condition=clean", "--duration=1", "--fps=10"]
    args += ["--width=64", "--height=48", f"--photo={folder / 'p0.png'}"]
    assert main(args) == 0
    assert json.loads(video.with_name("clean.photo.json").read_text())["photo"]["name"] == "p0.png"


def test_workflow_renders_the_kth_photo(tmp_path: Path, hopper: np.ndarray) -> None:
    import subprocess
    import sys

    import yaml

    repo = Path(__file__).resolve().parents[1]
    folder = _photo_folder(tmp_path / "photos", hopper, 2)
    text = (repo / "tests" / "data" / "tiny_config.yaml").read_text()
    config = yaml.safe_load(text.replace("RESULTS", str(tmp_path / "results")))
    config["datasets"]["tr"]["synth"]["photos"] = str(folder)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    target = tmp_path / "results" / "tr" / "videos" / "s1" / "clean.avi"
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(repo / "Snakefile")]
    command += ["--directory", str(tmp_path), "--configfile", str(tmp_path / "config.yaml")]
    command += ["--cores", "1", "-n", "-p", str(target)]
    result = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"--photo={folder / 'p1.png'}" in result.stdout + result.stderr


DEMO_FACES = sorted((Path(photo.__file__).parent / "faces").glob("*.jpg"))


def test_every_demo_photo_has_a_recorded_face() -> None:
    assert len(DEMO_FACES) == 6
    for path in DEMO_FACES:
        box = photo.recorded_face(file_sha256(path))
        assert box is not None, path
        # The portraits are 225x275 with one face of 125-175 px (../shared/faces/README.md).
        assert 120 <= box[2] == box[3] <= 180 and 0 <= box[0] and box[0] + box[2] <= 225


@pytest.mark.skipif(
    not hasattr(cv2, "CascadeClassifier"), reason="this OpenCV ships no Haar cascade"
)
def test_recorded_faces_are_the_cascades_boxes() -> None:
    from distraction.facetrack import detect_faces, face_detector

    for path in DEMO_FACES:
        detected = detect_faces(face_detector(), photo.read_photo(path))[0][:4]
        np.testing.assert_allclose(photo.recorded_face(file_sha256(path)), detected, atol=1e-9)


def test_a_recorded_photo_renders_the_same_without_a_detector(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Renders of the recorded photos do not depend on the installed OpenCV's detector."""

    def no_detector(*args, **kwargs):
        raise AssertionError("the detector ran")

    monkeypatch.setattr(photo, "detect_faces", no_detector)
    kwargs = dict(condition="clean", duration_s=0.2, fps=10.0, width=64, height=48)
    photo.write_photo_clip(DEMO_FACES[0], tmp_path / "a.avi", tmp_path / "a.csv", **kwargs)
    info = json.loads((tmp_path / "a.photo.json").read_text())
    assert info["face_in_photo"] == "recorded (photo_faces.csv)"
    with pytest.raises(AssertionError, match="the detector ran"):  # Hopper is not recorded
        photo.write_photo_clip(
            photo.builtin_photo(), tmp_path / "b.avi", tmp_path / "b.csv", **kwargs
        )
