"""`distraction run`'s checks before Snakemake starts: each a one-line error, nothing changed."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

from distraction.cli import main
from distraction.run import check_cores, run_lock


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["run", *args])
    err = capsys.readouterr().err.strip().splitlines()
    return code, err[-1] if err else ""


@pytest.fixture
def video(tmp_path: Path) -> Path:
    """A file with a video's name (the checks below refuse before it is read)."""
    path = tmp_path / "in" / "clip.avi"
    path.parent.mkdir()
    path.write_bytes(b"not decoded by these tests")
    return path


@pytest.mark.parametrize("cores", ["0", "-2", "many"])
def test_cores_must_be_positive(
    capsys: pytest.CaptureFixture[str], video: Path, tmp_path: Path, cores: str
) -> None:
    code, line = run(capsys, str(video), "--out", str(tmp_path / "out"), "--cores", cores)
    assert code == 2 and f"--cores {cores}: expected a positive number" in line
    assert not (tmp_path / "out").exists()
    assert check_cores("all") == "all" and check_cores("3") == "3"


def test_out_inside_the_input_folder_is_refused(
    capsys: pytest.CaptureFixture[str], video: Path
) -> None:
    out = video.parent / "results"
    code, line = run(capsys, str(video.parent), "--out", str(out))
    assert code == 2 and "inside the input folder" in line and str(out) in line
    assert not out.exists()


def test_out_that_cannot_be_created_is_one_line(
    capsys: pytest.CaptureFixture[str], video: Path, tmp_path: Path
) -> None:
    blocker = tmp_path / "a file"
    blocker.write_text("x")
    code, line = run(capsys, str(video), "--out", str(blocker / "out"))
    assert code == 2 and line.startswith("distraction run: error:") and "cannot create" in line
    code, line = run(capsys, str(video), "--out", str(blocker))
    assert code == 2 and "is not a folder" in line


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_out_in_a_read_only_folder(
    capsys: pytest.CaptureFixture[str], video: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "ro"
    folder.mkdir(mode=0o500)
    code, line = run(capsys, str(video), "--out", str(folder / "out"))
    assert code == 2 and "cannot create the output folder" in line


def test_a_second_run_on_the_same_out_changes_nothing(
    capsys: pytest.CaptureFixture[str], video: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    (out / "inputs").mkdir(parents=True)
    earlier = out / "inputs" / "earlier.avi"
    earlier.symlink_to(video)
    with run_lock(out):
        # Another process holds the folder (flock is per open file, so a second open of
        # the lock file in this process conflicts too).
        other = tmp_path / "other.avi"
        other.write_bytes(b"x")
        code, line = run(capsys, str(other), "--out", str(out))
    assert code == 2 and "another `distraction run` is writing to this folder" in line
    # The first run's input link is still there.
    assert earlier.is_symlink() and sorted(p.name for p in (out / "inputs").iterdir()) == [
        "earlier.avi"
    ]
    # The lock is the kernel's: released with its file, so the folder is free again.
    with open(out / ".distraction-run.lock") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_outputs_of_videos_no_longer_in_the_input_are_removed(tmp_path: Path) -> None:
    from distraction.run import remove_stale_outputs

    out = tmp_path / "out"
    kept = [
        out / "videos" / "timeline" / "hr" / "a.b" / "my.clip.rates.csv",
        out / "videos" / "status" / "hr" / "a.b" / "my.clip.csv",
        out / "videos" / "stores" / "old.zarr" / "zarr.json",
    ]
    stale = [
        out / "videos" / "timeline" / "hr" / "old.rates.png",
        out / "videos" / "timeline" / "br" / "old.waveforms.csv",
        out / "videos" / "eval" / "hr" / "old.csv",
    ]
    for path in kept + stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    assert remove_stale_outputs(out, ["a.b/my.clip"]) == 1
    assert all(p.exists() for p in kept) and not any(p.exists() for p in stale)


def test_a_failed_workflow_shows_the_end_of_its_log(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from distraction.errors import InputError
    from distraction.run import _finish

    log = tmp_path / "run.log"
    log.write_text("".join(f"line {i}\n" for i in range(40)) + "WorkflowError: bad config\n")
    with pytest.raises(InputError, match=r"the workflow failed \(snakemake exit 1\)"):
        _finish(tmp_path, tmp_path / "v.avi", ["v"], "hr", 1, log, False)
    err = capsys.readouterr().err
    assert "WorkflowError: bad config" in err and "line 26" in err and "line 25" not in err
