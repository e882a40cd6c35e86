"""distraction.layouts: the one listing of each format's recordings (ids, subjects, tasks,
sources and ground-truth files), with the standard library only (the workflow imports it
while Snakemake parses, outside the package's environment)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from distraction.errors import InputError
from distraction.layouts import (
    DESCRIPTIONS,
    FORMATS,
    LayoutError,
    dataset_listing,
    find_recording,
    list_recordings,
    recording_ids,
)

SRC = Path(__file__).resolve().parents[1] / "src"


def _touch(root: Path, *names: str) -> None:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).touch()


TREES = {
    "generic": [
        "s10/talk.mp4", "s2/rest.avi", "s2/rest.csv", "s2/notes.txt", "s2/b.MKV",
        ".hidden/x.avi", "loose.avi",
    ],
    "folder": [
        "alice/2024/evening.mp4", "alice/2024/evening.csv", "bob/rest.avi", "loose.MOV",
        ".hidden/x.avi", "notes.txt", "bob/.tmp.avi",
    ],
    "ubfc": ["subject10/vid.avi", "subject10/ground_truth.txt", "subject2/vid.avi", "other/x"],
    "pure": [
        "01-01/01-01/Image1.png", "01-01/01-01.json", "02-03/Image5.png", "06-02/empty.txt",
        "notpure/Image1.png",
    ],
    "mmse": [
        "first 10 subjects 2D/F013/T1/0001.jpg", "first 10 subjects 2D/F013/T10/1.JPG",
        "T10_T11_30Subjects/M002/T11/1.jpeg", "first 10 subjects 2D/F013/T2/readme.txt",
        "first 10 subjects Phydata released/Phydata/F013/T1/Pulse Rate_BPM.txt",
    ],
}  # fmt: skip

# Per format, worked out by hand from the trees above: (id, subject, task, source, truth),
# in natural order (s2 before s10, T1 before T10); hidden entries and other files skipped.
EXPECTED = {
    "generic": [
        ("s2/b", "s2", "b", "s2/b.MKV", None),
        ("s2/rest", "s2", "rest", "s2/rest.avi", "s2/rest.csv"),
        ("s10/talk", "s10", "talk", "s10/talk.mp4", None),
    ],
    "folder": [
        ("alice/2024/evening", "alice", "evening", "alice/2024/evening.mp4",
         "alice/2024/evening.csv"),
        ("bob/rest", "bob", "rest", "bob/rest.avi", None),
        ("loose", "loose", "loose", "loose.MOV", None),
    ],
    "ubfc": [
        ("subject2", "subject2", "", "subject2/vid.avi", None),
        ("subject10", "subject10", "", "subject10/vid.avi", "subject10/ground_truth.txt"),
    ],
    "pure": [
        ("01-01", "01", "01", "01-01/01-01", "01-01/01-01.json"),
        ("02-03", "02", "03", "02-03", None),
    ],
    "mmse": [
        ("F013/T1", "F013", "T1", "first 10 subjects 2D/F013/T1",
         "first 10 subjects Phydata released/Phydata/F013/T1"),
        ("F013/T10", "F013", "T10", "first 10 subjects 2D/F013/T10", None),
        ("M002/T11", "M002", "T11", "T10_T11_30Subjects/M002/T11", None),
    ],
}  # fmt: skip


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_lists_its_recordings(fmt: str, tmp_path: Path) -> None:
    _touch(tmp_path, *TREES[fmt])
    listed = [
        (
            r.recording_id,
            r.subject,
            r.task,
            r.source.relative_to(tmp_path).as_posix(),
            None if r.ground_truth is None else r.ground_truth.relative_to(tmp_path).as_posix(),
        )
        for r in list_recordings(fmt, tmp_path, "d")
    ]
    assert listed == EXPECTED[fmt]
    assert recording_ids(fmt.upper(), tmp_path) == [row[0] for row in EXPECTED[fmt]]
    assert {r.dataset for r in list_recordings(fmt, tmp_path, "d")} == {"d"}
    # Each one found again by its id (directly for generic and folder).
    for row in EXPECTED[fmt]:
        assert find_recording(fmt, tmp_path, row[0], "d").source == tmp_path / row[3]


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(LayoutError, match="dataset root not found"):
        recording_ids("generic", tmp_path / "missing")
    with pytest.raises(InputError) as error:
        recording_ids("ubfc", tmp_path)
    lines = str(error.value).splitlines()
    assert lines[0] == f"{tmp_path}: no recordings found for dataset format 'ubfc'; " + (
        "layouts understood:"
    )
    assert [line.split(":")[0].strip() for line in lines[1:]] == list(DESCRIPTIONS)
    _touch(tmp_path, "s1/a.avi", "s1/a.mp4")
    with pytest.raises(LayoutError, match=r"s1/a\.(avi|mp4): duplicate recording id 's1/a'"):
        recording_ids("generic", tmp_path)
    with pytest.raises(KeyError):
        recording_ids("no-such-format", tmp_path)
    (tmp_path / "s1" / "a.mp4").unlink()
    with pytest.raises(LayoutError, match="no recording 's1/b' in this generic dataset"):
        find_recording("generic", tmp_path, "s1/b")


def test_a_configured_dataset_s_ids(tmp_path: Path) -> None:
    synth = {"first_subject": 9, "subjects": 2, "conditions": ["clean", "motion"]}
    assert dataset_listing("demo", {"format": "synth", "synth": synth}) == (
        ["s09/clean", "s09/motion", "s10/clean", "s10/motion"],
        [],
    )
    _touch(tmp_path, "a/b.avi", "a/c\nd.avi")
    spec = {"format": "generic", "root": str(tmp_path)}
    # A name the workflow cannot carry is refused with its file and the problem (the run
    # records it as a failed video); the others are carried.
    ids, refused = dataset_listing("mine", spec)
    assert ids == ["a/b"]
    assert [(r.recording_id, r.source.name) for r in refused] == [("a/c\nd", "c\nd.avi")]
    assert refused[0].problem.startswith("the name holds control characters (\\n)")
    (tmp_path / "a" / "c\nd.avi").unlink()
    assert dataset_listing("mine", spec) == (["a/b"], [])


def test_layouts_and_hardware_import_the_standard_library_only() -> None:
    code = (
        "import sys; import distraction.layouts, distraction.hardware; "
        "import distraction.config_checks; "
        "mods = {m.split('.')[0] for m in sys.modules}; "
        "extra = mods & {'numpy', 'cv2', 'pandas', 'xarray', 'zarr', 'yaml', 'tensorflow'}; "
        "assert not extra, extra"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env={"PYTHONPATH": str(SRC)}, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
