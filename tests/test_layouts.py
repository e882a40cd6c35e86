"""distraction.layouts lists each format's recordings as its loader does, with the standard
library only (the workflow imports it while Snakemake parses, outside the package's env)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from distraction.datasets import get_loader
from distraction.layouts import LayoutError, recording_ids

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
    ],
}  # fmt: skip


@pytest.mark.parametrize("fmt", sorted(TREES))
def test_recording_ids_are_the_loaders(fmt: str, tmp_path: Path) -> None:
    _touch(tmp_path, *TREES[fmt])
    expected = [rec.recording_id for rec in get_loader(fmt, "d", tmp_path).list_recordings()]
    assert recording_ids(fmt, tmp_path) == expected
    assert len(expected) >= 2


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(LayoutError, match="dataset root not found"):
        recording_ids("generic", tmp_path / "missing")
    with pytest.raises(LayoutError, match="no recordings found"):
        recording_ids("ubfc", tmp_path)
    _touch(tmp_path, "s1/a.avi", "s1/a.mp4")
    with pytest.raises(LayoutError, match="duplicate recording id 's1/a'"):
        recording_ids("generic", tmp_path)
    with pytest.raises(KeyError):
        recording_ids("no-such-format", tmp_path)


def test_layouts_and_hardware_import_the_standard_library_only() -> None:
    code = (
        "import sys; import distraction.layouts, distraction.hardware; "
        "mods = {m.split('.')[0] for m in sys.modules}; "
        "extra = mods & {'numpy', 'cv2', 'pandas', 'xarray', 'zarr', 'yaml', 'tensorflow'}; "
        "assert not extra, extra"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env={"PYTHONPATH": str(SRC)}, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
