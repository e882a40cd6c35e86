"""The ``folder`` dataset format (every video under a root) and the no-recordings message."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from distraction.datasets import get_loader
from distraction.errors import InputError
from distraction.layouts import DESCRIPTIONS, FORMATS


def _write_video(path: Path, frames: int = 3) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (8, 8))
    for _ in range(frames):
        writer.write(np.full((8, 8, 3), 128, np.uint8))
    writer.release()


def test_every_video_at_any_depth_with_its_csv(tmp_path: Path) -> None:
    _write_video(tmp_path / "loose.avi")
    _write_video(tmp_path / "alice" / "morning.mp4")
    _write_video(tmp_path / "alice" / "2024" / "evening.avi")
    _write_video(tmp_path / ".hidden" / "skip.avi")
    (tmp_path / "notes.txt").write_text("not a video")
    (tmp_path / "alice" / "morning.csv").write_text("time,hr\n0,60\n1,61\n")
    loader = get_loader("folder", "mine", tmp_path)
    recordings = loader.list_recordings()
    assert [r.recording_id for r in recordings] == [
        "alice/2024/evening",
        "alice/morning",
        "loose",
    ]
    by_id = {r.recording_id: r for r in recordings}
    # Subject: the first folder under the root; a loose video is its own subject.
    assert (by_id["alice/2024/evening"].subject, by_id["alice/2024/evening"].task) == (
        "alice",
        "evening",
    )
    assert (by_id["loose"].subject, by_id["loose"].task) == ("loose", "loose")
    assert by_id["alice/morning"].ground_truth == tmp_path / "alice" / "morning.csv"
    assert by_id["loose"].ground_truth is None
    truth = loader.read_ground_truth(by_id["alice/morning"])
    assert truth.hr.tolist() == [60.0, 61.0]
    # A per-video job finds its recording without scanning the root.
    assert loader.recording("alice/2024/evening") == by_id["alice/2024/evening"]
    assert loader.frame_count(by_id["loose"]) == 3


def test_no_recordings_lists_the_layouts_understood(tmp_path: Path) -> None:
    _write_video(tmp_path / "flat.avi")
    with pytest.raises(InputError) as error:
        get_loader("generic", "x", tmp_path).list_recordings()
    lines = str(error.value).splitlines()
    assert lines[0] == f"{tmp_path}: no recordings found for dataset format 'generic'; " + (
        "layouts understood:"
    )
    assert len(lines) == 1 + len(FORMATS) == 1 + len(DESCRIPTIONS)
    assert any(line.strip().startswith("folder: ") for line in lines)
    # The same folder is one recording in the folder format.
    assert [r.recording_id for r in get_loader("folder", "x", tmp_path).list_recordings()] == [
        "flat"
    ]
