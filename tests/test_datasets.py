"""Tests of the dataset loaders on tiny fixture trees written in each published layout."""

from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from distraction.datasets import DatasetLoader, GroundTruth, Recording, get_loader
from distraction.errors import InputError
from distraction.layouts import FORMATS

SIZE = 8
# RGB colours, one per frame; a saturated primary survives JPEG/MJPG compression clearly.
RED, GREEN, BLUE, WHITE, BLACK = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255), (0, 0, 0)
COLOURS = [RED, GREEN, BLUE, WHITE, BLACK]


def _bgr_frame(rgb: tuple[int, int, int]) -> np.ndarray:
    frame = np.empty((SIZE, SIZE, 3), dtype=np.uint8)
    frame[:] = rgb[::-1]  # OpenCV writes BGR
    return frame


def _write_video(path: Path, colours: list[tuple[int, int, int]], fps: float = 30.0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (SIZE, SIZE))
    assert writer.isOpened(), path
    for colour in colours:
        writer.write(_bgr_frame(colour))
    writer.release()


def _write_image(path: Path, rgb: tuple[int, int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, data = cv2.imencode(path.suffix, _bgr_frame(rgb))
    assert ok
    path.write_bytes(data.tobytes())


def _assert_colour(frame: np.ndarray, rgb: tuple[int, int, int]) -> None:
    assert frame.dtype == np.uint8
    assert frame.shape == (SIZE, SIZE, 3)
    mean = frame.reshape(-1, 3).mean(axis=0)
    np.testing.assert_allclose(mean, rgb, atol=40)


# --------------------------------------------------------------------------- generic


@pytest.fixture
def generic_root(tmp_path: Path) -> Path:
    root = tmp_path / "gen data"
    # Subject folder with a space, a quote and non-ASCII letters.
    subject = root / "sübject 1 'ä'"
    _write_video(subject / "clean.avi", COLOURS, fps=30.0)
    time = np.arange(6) * 0.25
    ppg = np.sin(2 * np.pi * 1.2 * time)
    lines = ["time,ppg,hr,br,extra"]
    lines += [f"{float(t)!r},{float(p)!r},72.5,15,x" for t, p in zip(time, ppg, strict=True)]
    (subject / "clean.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (subject / "clean.skin.png").write_bytes(b"not a video")
    # A video without ground truth, at another frame rate.
    _write_video(root / "s02" / "talk.avi", [GREEN, GREEN, BLUE], fps=25.0)
    (root / "readme.txt").write_text("ignored")
    return root


def test_generic_lists_recordings(generic_root: Path) -> None:
    loader = get_loader("generic", "mine", generic_root)
    assert isinstance(loader, DatasetLoader)
    assert loader.name == "mine" and loader.root == generic_root
    recs = loader.list_recordings()
    subject = "sübject 1 'ä'"
    assert recs == [
        Recording(
            "mine",
            "s02/talk",
            "s02",
            "talk",
            generic_root / "s02" / "talk.avi",
            None,
        ),
        Recording(
            "mine",
            f"{subject}/clean",
            subject,
            "clean",
            generic_root / subject / "clean.avi",
            generic_root / subject / "clean.csv",
        ),
    ]
    assert loader.list_recordings() == recs


def test_generic_frames_and_ground_truth(generic_root: Path) -> None:
    loader = get_loader("generic", "mine", generic_root)
    talk, clean = loader.list_recordings()
    assert loader.frame_rate(clean) == pytest.approx(30.0)
    assert loader.frame_rate(talk) == pytest.approx(25.0)
    assert loader.frame_count(clean) == 5
    frames = list(loader.iter_frames(clean))
    assert [t for t, _ in frames] == pytest.approx([0, 1 / 30, 2 / 30, 3 / 30, 4 / 30])
    for (_, frame), colour in zip(frames, COLOURS, strict=True):
        _assert_colour(frame, colour)
    red = frames[0][1].reshape(-1, 3).mean(axis=0)
    assert red[0] > 200 and red[1] < 50 and red[2] < 50  # RGB order, not BGR

    gt = loader.read_ground_truth(clean)
    assert isinstance(gt, GroundTruth)
    time = np.arange(6) * 0.25
    np.testing.assert_array_equal(gt.time, time)
    np.testing.assert_array_equal(gt.ppg, np.sin(2 * np.pi * 1.2 * time))
    np.testing.assert_array_equal(gt.hr, np.full(6, 72.5))
    np.testing.assert_array_equal(gt.br, np.full(6, 15.0))
    assert gt.resp is None
    assert gt.time.dtype == np.float64
    assert 1 / np.median(np.diff(gt.time)) == pytest.approx(4.0)
    assert gt.source == clean.ground_truth
    assert loader.read_ground_truth(talk) is None  # no CSV: first-class, not an error
    assert [t for t, _ in loader.iter_frames(talk)] == pytest.approx([0, 0.04, 0.08])
    # MJPEG: every frame a key frame, so reading can start at any frame, exactly.
    assert loader.random_access(clean)
    later = list(loader.iter_frames(clean, 3))
    assert [t for t, _ in later] == pytest.approx([3 / 30, 4 / 30])
    for (_, frame), colour in zip(later, [WHITE, BLACK], strict=True):
        _assert_colour(frame, colour)


def test_inter_coded_video_is_read_sequentially(tmp_path: Path) -> None:
    # Codecs with predicted frames seek to key frames only: no block-parallel decoding.
    path = tmp_path / "s01" / "clip.avi"
    path.parent.mkdir(parents=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"XVID"), 30.0, (SIZE, SIZE))
    if not writer.isOpened():
        pytest.skip("this OpenCV build cannot encode XVID")
    for colour in COLOURS:
        writer.write(_bgr_frame(colour))
    writer.release()
    loader = get_loader("generic", "mine", tmp_path)
    (rec,) = loader.list_recordings()
    assert not loader.random_access(rec)


def test_generic_fps_override(generic_root: Path) -> None:
    loader = get_loader("generic", "mine", generic_root, fps=10)
    talk = loader.list_recordings()[0]
    assert loader.frame_rate(talk) == 10.0
    assert [t for t, _ in loader.iter_frames(talk)] == pytest.approx([0, 0.1, 0.2])


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("t,ppg\n0,1\n1,2\n", "missing column 'time'"),
        ("time,foo\n0,1\n1,2\n", "no signal column"),
        ("time,ppg\n0,1\n0,2\n", "not strictly increasing"),
        ("time,ppg\n0,1\n1,abc\n", "column 'ppg' is not numeric"),
        ("time,ppg\n", "no samples"),
        ("", "cannot parse CSV"),
    ],
)
def test_generic_malformed_csv(tmp_path: Path, content: str, problem: str) -> None:
    root = tmp_path / "root"
    _write_video(root / "s1" / "t.avi", [RED])
    csv = root / "s1" / "t.csv"
    csv.write_text(content)
    loader = get_loader("generic", "g", root)
    (rec,) = loader.list_recordings()
    with pytest.raises(InputError) as info:
        loader.read_ground_truth(rec)
    message = str(info.value)
    assert message.startswith(f"{csv}: ") and problem in message and "\n" not in message


def test_generic_unreadable_video(tmp_path: Path) -> None:
    bad = tmp_path / "s1" / "broken.avi"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"this is not a video" * 10)
    loader = get_loader("generic", "g", tmp_path)
    (rec,) = loader.list_recordings()
    with pytest.raises(InputError, match=r"broken\.avi: "):
        list(loader.iter_frames(rec))
    with pytest.raises(InputError, match=r"broken\.avi: "):
        loader.frame_count(rec)


def test_errors_on_roots_and_formats(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    for fmt in FORMATS:
        with pytest.raises(
            InputError, match=f"^{re.escape(str(missing))}: dataset root not found$"
        ):
            get_loader(fmt, "x", missing)
    empty = tmp_path / "empty"
    (empty / "s1").mkdir(parents=True)
    for fmt in FORMATS:
        with pytest.raises(InputError, match="no recordings found"):
            get_loader(fmt, "x", empty).list_recordings()
    with pytest.raises(InputError, match="unknown dataset format 'cohface'"):
        get_loader("cohface", "x", empty)
    with pytest.raises(InputError, match="invalid option"):
        get_loader("generic", "x", empty, colour="red")
    with pytest.raises(InputError, match="fps must be a positive number"):
        get_loader("generic", "x", empty, fps=0)


def test_generic_duplicate_recording_id(tmp_path: Path) -> None:
    _write_video(tmp_path / "s1" / "t.avi", [RED])
    (tmp_path / "s1" / "t.mp4").write_bytes((tmp_path / "s1" / "t.avi").read_bytes())
    with pytest.raises(InputError, match="duplicate recording id 's1/t'"):
        get_loader("generic", "g", tmp_path).list_recordings()


# --------------------------------------------------------------------------- UBFC-rPPG


def _ubfc_ground_truth(ppg: np.ndarray, hr: np.ndarray, time: np.ndarray) -> str:
    # The published files: space-separated rows in scientific notation, leading spaces.
    return "\n".join("  " + "  ".join(f"{v:.7e}" for v in row) for row in (ppg, hr, time)) + "\n"


@pytest.fixture
def ubfc_root(tmp_path: Path) -> Path:
    root = tmp_path / "DATASET_2"
    for n in (10, 2, 1):
        _write_video(root / f"subject{n}" / "vid.avi", [RED, GREEN, BLUE, WHITE], fps=30.0)
    time = np.arange(4) / 30.0
    (root / "subject1" / "ground_truth.txt").write_text(
        _ubfc_ground_truth(np.array([0.5, -1.25, 2.0, 3.5]), np.full(4, 80.0), time)
    )
    # Time row not starting at 0 and with a repeated stamp.
    (root / "subject2" / "ground_truth.txt").write_text(
        _ubfc_ground_truth(
            np.array([1.0, 2.0, 3.0, 4.0]),
            np.array([60.0, 61.0, 62.0, 63.0]),
            np.array([5.0, 5.5, 5.5, 6.0]),
        )
    )
    (root / "notes").mkdir()
    return root


def test_ubfc(ubfc_root: Path) -> None:
    loader = get_loader("ubfc", "UBFC", ubfc_root)
    recs = loader.list_recordings()
    assert [r.recording_id for r in recs] == ["subject1", "subject2", "subject10"]
    assert [(r.subject, r.task) for r in recs] == [
        ("subject1", ""),
        ("subject2", ""),
        ("subject10", ""),
    ]
    s1, s2, s10 = recs
    assert s1.source == ubfc_root / "subject1" / "vid.avi"
    assert s1.ground_truth == ubfc_root / "subject1" / "ground_truth.txt"
    assert s10.ground_truth is None and loader.read_ground_truth(s10) is None

    assert loader.frame_rate(s1) == pytest.approx(30.0)
    assert loader.frame_count(s1) == 4
    frames = list(loader.iter_frames(s1))
    assert [t for t, _ in frames] == pytest.approx(np.arange(4) / 30.0)
    for (_, frame), colour in zip(frames, [RED, GREEN, BLUE, WHITE], strict=True):
        _assert_colour(frame, colour)

    gt = loader.read_ground_truth(s1)
    np.testing.assert_allclose(gt.time, np.arange(4) / 30.0, rtol=1e-7)
    np.testing.assert_array_equal(gt.ppg, [0.5, -1.25, 2.0, 3.5])
    np.testing.assert_array_equal(gt.hr, [80.0] * 4)
    assert gt.resp is None and gt.br is None
    assert 1 / np.mean(np.diff(gt.time)) == pytest.approx(30.0)

    gt2 = loader.read_ground_truth(s2)
    np.testing.assert_array_equal(gt2.time, [0.0, 0.5, 1.0])  # shifted; repeat dropped
    np.testing.assert_array_equal(gt2.ppg, [1.0, 2.0, 4.0])
    np.testing.assert_array_equal(gt2.hr, [60.0, 61.0, 63.0])


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("1 2 3\n4 5 6\n", "expected 3 rows"),
        ("1 2 3\n4 5\n0 1 2\n", "rows have different lengths"),
        ("1 2 3\n4 5 6\n0 one 2\n", "line 3 is not numeric"),
    ],
)
def test_ubfc_malformed_ground_truth(ubfc_root: Path, content: str, problem: str) -> None:
    path = ubfc_root / "subject1" / "ground_truth.txt"
    path.write_text(content)
    loader = get_loader("ubfc", "UBFC", ubfc_root)
    with pytest.raises(InputError, match=f"^{re.escape(str(path))}: .*{problem}"):
        loader.read_ground_truth(loader.list_recordings()[0])


# --------------------------------------------------------------------------- PURE

T0_NS = 1392643993642815000  # a real PURE first-frame stamp (epoch ns)
FRAME_OFFSETS_NS = [0, 33_345_000, 66_690_000, 100_035_000]  # ~29.985 fps, irregular-safe
PURE_COLOURS = [RED, GREEN, BLUE, WHITE]


def _pure_json(first_ns: int) -> dict:
    samples = []
    for i in range(7):  # oximeter at 60 Hz, starting 4 ms after the first frame
        samples.append(
            {
                "Timestamp": first_ns + 4_000_000 + i * 16_666_667,
                "Value": {
                    "waveform": 40 + i,
                    "pulseRate": 70 + (i // 3),
                    "o2saturation": 96,
                    "signalStrength": 4,
                },
            }
        )
    images = [{"Timestamp": first_ns + off} for off in FRAME_OFFSETS_NS]
    return {"/FullPackage": samples, "/Image": images}


def _write_pure(folder: Path, json_path: Path, first_ns: int) -> None:
    # Written in reverse so that order must come from the stamps, not from creation.
    for off, colour in reversed(list(zip(FRAME_OFFSETS_NS, PURE_COLOURS, strict=True))):
        _write_image(folder / f"Image{first_ns + off}.png", colour)
    (folder / "Thumbs.db").write_bytes(b"\x00\x01")
    json_path.write_text(json.dumps(_pure_json(first_ns)))


def test_pure_nested_layout(tmp_path: Path) -> None:
    root = tmp_path / "PURE"
    _write_pure(root / "01-01" / "01-01", root / "01-01" / "01-01.json", T0_NS)
    _write_pure(root / "10-06" / "10-06", root / "10-06" / "10-06.json", T0_NS + 10**12)
    (root / "06-02").mkdir()  # empty in the public release: not a recording
    loader = get_loader("pure", "PURE", root)
    recs = loader.list_recordings()
    assert [(r.recording_id, r.subject, r.task) for r in recs] == [
        ("01-01", "01", "01"),
        ("10-06", "10", "06"),
    ]
    rec = recs[0]
    assert rec.source == root / "01-01" / "01-01"
    assert rec.ground_truth == root / "01-01" / "01-01.json"
    assert loader.frame_rate(rec) == 30.0
    assert loader.frame_count(rec) == 4
    frames = list(loader.iter_frames(rec))
    np.testing.assert_allclose([t for t, _ in frames], np.array(FRAME_OFFSETS_NS) / 1e9, atol=1e-12)
    for (_, frame), colour in zip(frames, PURE_COLOURS, strict=True):
        np.testing.assert_array_equal(frame[0, 0], colour)  # PNG is lossless

    gt = loader.read_ground_truth(rec)
    expected_time = (4_000_000 + np.arange(7) * 16_666_667) / 1e9
    np.testing.assert_allclose(gt.time, expected_time, atol=1e-12)
    np.testing.assert_array_equal(gt.ppg, 40 + np.arange(7))
    np.testing.assert_array_equal(gt.hr, [70, 70, 70, 71, 71, 71, 72])
    assert gt.resp is None and gt.br is None
    assert 1 / np.mean(np.diff(gt.time)) == pytest.approx(60.0, rel=1e-6)


def test_pure_flat_layout(tmp_path: Path) -> None:
    root = tmp_path / "pure flat é"
    _write_pure(root / "02-03", root / "02-03.json", T0_NS)
    loader = get_loader("pure", "PURE", root)
    (rec,) = loader.list_recordings()
    assert (rec.recording_id, rec.subject, rec.task) == ("02-03", "02", "03")
    assert rec.source == root / "02-03" and rec.ground_truth == root / "02-03.json"
    assert loader.frame_count(rec) == 4
    assert loader.read_ground_truth(rec).time[0] == pytest.approx(0.004)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "invalid JSON"),
        ('{"/Image": []}', "missing '/FullPackage'"),
        ('{"/FullPackage": [{"Timestamp": 1}]}', "Value.waveform/pulseRate"),
    ],
)
def test_pure_malformed_json(tmp_path: Path, content: str, problem: str) -> None:
    _write_pure(tmp_path / "01-01" / "01-01", tmp_path / "01-01" / "01-01.json", T0_NS)
    path = tmp_path / "01-01" / "01-01.json"
    path.write_text(content)
    loader = get_loader("pure", "PURE", tmp_path)
    with pytest.raises(InputError, match=f"^{re.escape(str(path))}: .*{problem}"):
        loader.read_ground_truth(loader.list_recordings()[0])


# --------------------------------------------------------------------------- MMSE-HR


def _write_lines(path: Path, values: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{float(v)!r}\n" for v in values))


@pytest.fixture
def mmse_root(tmp_path: Path) -> Path:
    root = tmp_path / "MMSE-HR"
    frames = root / "first 10 subjects 2D" / "F013" / "T1"
    colours = [RED] + [GREEN] * 9 + [BLUE]  # 11 frames: 10.jpg must come after 9.jpg
    for i, colour in enumerate(colours):
        _write_image(frames / f"{i}.jpg", colour)
    phys = root / "first 10 subjects Phydata released" / "Phydata" / "F013" / "T1"
    n = 3000
    t = np.arange(n) / 1000.0
    _write_lines(phys / "BP_mmHg.txt", 90 + 20 * np.sin(2 * np.pi * 1.5 * t))
    _write_lines(phys / "Pulse Rate_BPM.txt", np.full(n, 90.0))
    _write_lines(phys / "Resp_Volts.txt", np.sin(2 * np.pi * 0.25 * t))
    _write_lines(phys / "Respiration Rate_BPM.txt", np.full(n + 5, 15.0))  # longer: cut
    for i in range(3):
        _write_image(root / "T10_T11_30Subjects" / "M014" / "T10" / f"{i:04d}.jpg", BLUE)
    _write_lines(
        root / "T10_T11_30PhyBPHRData" / "M014" / "T10" / "Pulse Rate_BPM.txt",
        np.array([70.0, 71.0]),
    )
    _write_image(root / "T10_T11_30Subjects" / "F001" / "T11" / "0.jpg", WHITE)  # no physiology
    return root


def test_mmse(mmse_root: Path) -> None:
    loader = get_loader("mmse", "MMSE-HR", mmse_root)
    recs = loader.list_recordings()
    assert [(r.recording_id, r.subject, r.task) for r in recs] == [
        ("F001/T11", "F001", "T11"),
        ("F013/T1", "F013", "T1"),
        ("M014/T10", "M014", "T10"),
    ]
    f001, f013, m014 = recs
    assert f013.source == mmse_root / "first 10 subjects 2D" / "F013" / "T1"
    assert f013.ground_truth == (
        mmse_root / "first 10 subjects Phydata released" / "Phydata" / "F013" / "T1"
    )
    assert f001.ground_truth is None and loader.read_ground_truth(f001) is None

    assert loader.frame_rate(f013) == 25.0
    assert loader.frame_count(f013) == 11
    frames = list(loader.iter_frames(f013))
    assert [t for t, _ in frames] == pytest.approx(np.arange(11) / 25.0)
    _assert_colour(frames[0][1], RED)
    _assert_colour(frames[9][1], GREEN)
    _assert_colour(frames[10][1], BLUE)
    red = frames[0][1].reshape(-1, 3).mean(axis=0)
    assert red[0] > 200 and red[2] < 50
    assert loader.random_access(f013)
    later = list(loader.iter_frames(f013, 9))
    assert [t for t, _ in later] == pytest.approx([9 / 25.0, 10 / 25.0])
    _assert_colour(later[0][1], GREEN)

    gt = loader.read_ground_truth(f013)
    t = np.arange(3000) / 1000.0
    np.testing.assert_array_equal(gt.time, t)
    np.testing.assert_array_equal(gt.ppg, 90 + 20 * np.sin(2 * np.pi * 1.5 * t))
    np.testing.assert_array_equal(gt.hr, np.full(3000, 90.0))
    np.testing.assert_array_equal(gt.resp, np.sin(2 * np.pi * 0.25 * t))
    np.testing.assert_array_equal(gt.br, np.full(3000, 15.0))
    assert 1 / np.mean(np.diff(gt.time)) == pytest.approx(1000.0)

    gt2 = loader.read_ground_truth(m014)
    np.testing.assert_array_equal(gt2.time, [0.0, 0.001])
    np.testing.assert_array_equal(gt2.hr, [70.0, 71.0])
    assert gt2.ppg is None and gt2.resp is None and gt2.br is None


def test_mmse_bp4d_fallback_layout(tmp_path: Path) -> None:
    # No MMSE-HR release folders: root/<subject>/<task>/*.jpg, BP4D+ Physiology/ folder.
    _write_image(tmp_path / "F002" / "T3" / "0.jpg", RED)
    _write_lines(tmp_path / "Physiology" / "F002" / "T3" / "BP_mmHg.txt", np.array([1.0, 2.0]))
    loader = get_loader("mmse", "bp4d", tmp_path, fps=30)
    (rec,) = loader.list_recordings()
    assert rec.recording_id == "F002/T3"
    assert rec.ground_truth == tmp_path / "Physiology" / "F002" / "T3"
    assert loader.frame_rate(rec) == 30.0
    np.testing.assert_array_equal(loader.read_ground_truth(rec).ppg, [1.0, 2.0])


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("1 2\n3 4\n", "expected one value per line"),
        ("1\nabc\n", "line 2 is not numeric"),
        ("\n", "file holds no samples"),
    ],
)
def test_mmse_malformed_ground_truth(mmse_root: Path, content: str, problem: str) -> None:
    path = mmse_root / "T10_T11_30PhyBPHRData" / "M014" / "T10" / "Pulse Rate_BPM.txt"
    path.write_text(content)
    loader = get_loader("mmse", "MMSE-HR", mmse_root)
    rec = loader.list_recordings()[-1]
    with pytest.raises(InputError, match=f"^{re.escape(str(path))}: {problem}$"):
        loader.read_ground_truth(rec)


def test_unreadable_frame_image(mmse_root: Path) -> None:
    bad = mmse_root / "T10_T11_30Subjects" / "M014" / "T10" / "0001.jpg"
    bad.write_bytes(b"garbage")
    loader = get_loader("mmse", "MMSE-HR", mmse_root)
    rec = loader.list_recordings()[-1]
    frames = loader.iter_frames(rec)
    next(frames)
    with pytest.raises(InputError, match=f"^{re.escape(str(bad))}: cannot decode image$"):
        next(frames)


def test_generic_direct_lookup_and_unknown_id(tmp_path: Path) -> None:
    import cv2 as _cv2

    for subject in ("s01", "s02"):
        (tmp_path / subject).mkdir()
        writer = _cv2.VideoWriter(
            str(tmp_path / subject / "rest.avi"), _cv2.VideoWriter.fourcc(*"MJPG"), 30.0, (8, 8)
        )
        writer.write(np.zeros((8, 8, 3), np.uint8))
        writer.release()
    loader = get_loader("generic", "d", tmp_path)
    direct = loader.recording("s02/rest")
    assert direct == next(r for r in loader.list_recordings() if r.recording_id == "s02/rest")
    with pytest.raises(InputError, match=r"no recording 's03/rest' in this generic dataset"):
        loader.recording("s03/rest")


@pytest.mark.parametrize("suffix", [".avi", ".mkv"])
def test_constant_rate_video_times_are_exactly_index_over_fps(tmp_path: Path, suffix: str) -> None:
    # MKV stores whole milliseconds (33, 67, 100 ms): the times stay exact multiples of 1/fps.
    _write_video(tmp_path / "s01" / f"rest{suffix}", [(10 * i, 50, 90) for i in range(20)])
    loader = get_loader("generic", "d", tmp_path)
    (rec,) = loader.list_recordings()
    times = [t for t, _ in loader.iter_frames(rec)]
    assert times == [i / 30.0 for i in range(20)]
    if loader.random_access(rec):
        assert [t for t, _ in loader.iter_frames(rec, 7)] == times[7:]


def test_corrupt_frame_image_is_reported_once(
    mmse_root: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    from distraction.validation import check_recording

    folder = mmse_root / "T10_T11_30Subjects" / "M014" / "T10"
    noise = (
        np.random.default_rng(0)
        .integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8)
        .repeat(8, 0)
        .repeat(8, 1)
    )
    data = cv2.imencode(".jpg", noise)[1].tobytes()
    scan = data.find(b"\xff\xda")
    (folder / "0001.jpg").write_bytes(data[: scan + 200] + data[-2:])  # scan data cut short
    loader = get_loader("mmse", "MMSE-HR", mmse_root)
    rec = loader.list_recordings()[-1]
    capfd.readouterr()
    problems = [str(p) for p in check_recording(loader, rec)]
    assert f"{folder}: decoder reported 1 errors (corrupt frame data), first: Corrupt JPEG" in (
        "\n".join(problems)
    )
    assert "Corrupt JPEG" not in capfd.readouterr().err
