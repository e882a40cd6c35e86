"""The job server: a job run through it gives the same files, exit status and messages as
the same job run as a fresh process; it refuses jobs it cannot run as they would run alone;
and a stopped job stops its forked child."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from distraction.jobserver import SOCKET_VARIABLE

WEIGHTS = Path(__file__).resolve().parents[1] / "src" / "distraction" / "weights"
CONSOLE = Path(sys.executable).parent / "distraction"


class Server:
    def __init__(self, folder: Path) -> None:
        folder.mkdir(mode=0o700)
        self.socket = folder / "socket"
        self.log = folder / "server.log"
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "distraction.jobserver", f"--socket={self.socket}"],
                stdout=log,
                stderr=log,
            )
        deadline = time.monotonic() + 120
        while not self.socket.exists():
            assert self.process.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)

    def env(self, **extra: str) -> dict[str, str]:
        return {**os.environ, SOCKET_VARIABLE: str(self.socket), **extra}

    def children(self) -> list[int]:
        listing = subprocess.run(
            ["ps", "-o", "pid=", "--ppid", str(self.process.pid)], capture_output=True, text=True
        )
        return [int(pid) for pid in listing.stdout.split()]

    def stop(self) -> str:
        """Stop it; return its log, whose last line counts the jobs it served."""
        self.process.terminate()
        self.process.wait(timeout=30)
        return self.log.read_text()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    started = Server(tmp_path / "server")
    yield started
    if started.process.poll() is None:
        started.process.kill()
        started.process.wait()


def distraction(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The console script, as a workflow rule calls it."""
    return subprocess.run([str(CONSOLE), *args], capture_output=True, text=True, env=env)


def _stages(store: Path, out: Path, env: dict[str, str]) -> None:
    can, lstm = WEIGHTS / "hr_can.keras", WEIGHTS / "hr_lstm.keras"
    steps = [
        ["infer", f"--store={store}", "--task=hr", f"--can-model={can}", f"--lstm-model={lstm}"],
        [
            "evaluate",
            f"--store={store}",
            "--task=hr",
            f"--output={out / 'windows.csv'}",
            f"--status={out / 'status.csv'}",
        ],
        [
            "timeline",
            f"--store={store}",
            "--task=hr",
            f"--rates={out / 'rates.csv'}",
            f"--waveforms={out / 'waveforms.csv'}",
            f"--hrv={out / 'hrv.csv'}",
            f"--figure={out / 'rates.png'}",
        ],
    ]
    for args in steps:
        result = distraction(*args, env=env)
        assert result.returncode == 0, result.stderr


def test_jobs_through_the_server_write_the_same_files(
    server: Server, prepared_store: Path, tmp_path: Path
) -> None:
    outputs = {}
    for name, env in (("alone", dict(os.environ)), ("served", server.env())):
        store = tmp_path / f"{name}.zarr"
        shutil.copytree(prepared_store, store)
        outputs[name] = tmp_path / name
        outputs[name].mkdir()
        _stages(store, outputs[name], env)
    assert server.stop().splitlines()[-1].endswith("stopped after 3 jobs")
    files = sorted(p.name for p in outputs["alone"].iterdir())
    assert files == [
        "hrv.csv",
        "rates.csv",
        "rates.png",
        "status.csv",
        "waveforms.csv",
        "windows.csv",
    ]
    for name in files:
        served, alone = outputs["served"] / name, outputs["alone"] / name
        assert served.read_bytes() == alone.read_bytes(), name


def test_a_served_job_keeps_its_exit_status_and_one_line_error(
    server: Server, tmp_path: Path
) -> None:
    missing = tmp_path / "missing.zarr"
    args = ("evaluate", f"--store={missing}", "--task=hr", f"--output={tmp_path / 'w.csv'}")
    args += (f"--status={tmp_path / 's.csv'}",)
    served = distraction(*args, env=server.env())
    alone = distraction(*args, env=dict(os.environ))
    assert served.returncode == alone.returncode == 2
    assert served.stderr == alone.stderr
    assert (
        served.stderr.startswith("distraction evaluate: error:") and str(missing) in served.stderr
    )
    usage = distraction("no-such-command", env=server.env())
    assert usage.returncode == 2 and "invalid choice" in usage.stderr
    assert server.stop().splitlines()[-1].endswith("stopped after 2 jobs")


def test_a_job_with_another_import_time_environment_runs_alone(
    server: Server, tmp_path: Path
) -> None:
    # Thread counts (which Snakemake sets per job) are applied in the child; a variable
    # that libraries read as they are imported is not, so that job runs in its own process.
    usage = distraction("validate", "--help", env=server.env(OMP_NUM_THREADS="1"))
    assert usage.returncode == 0
    usage = distraction("validate", "--help", env=server.env(MPLBACKEND="pdf"))
    assert usage.returncode == 0 and "usage: distraction validate" in usage.stdout
    assert server.stop().splitlines()[-1].endswith("stopped after 1 jobs")


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL])
def test_a_stopped_job_stops_its_child(
    server: Server, tmp_path: Path, stop: signal.Signals
) -> None:
    # A long render, stopped as Snakemake stops a job (SIGTERM) or as a crash would (SIGKILL).
    args = ["synth", f"--video={tmp_path / 'long.avi'}", f"--ground-truth={tmp_path / 'long.csv'}"]
    args += ["--subject=0", "--condition=clean"]
    job = subprocess.Popen(
        [str(CONSOLE), *args, "--duration=600"],
        env=server.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not server.children():
        assert job.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(1.0)  # the render is under way, not failing on its arguments
    assert job.poll() is None
    job.send_signal(stop)
    assert job.wait(timeout=30) == -stop
    deadline = time.monotonic() + 30
    while server.children():
        assert time.monotonic() < deadline, "the child outlived its job"
        time.sleep(0.05)
    assert not (tmp_path / "long.avi").exists()


def test_start_waits_for_the_server_and_stop_removes_it(tmp_path: Path) -> None:
    from distraction import jobserver

    before = os.environ.get(SOCKET_VARIABLE)
    server = jobserver.start(tmp_path / "logs" / "job_server.log")
    try:
        assert server is not None
        socket_path = Path(os.environ[SOCKET_VARIABLE])
        assert socket_path.exists()  # serving as soon as start returns
        assert (socket_path.parent.stat().st_mode & 0o777) == 0o700
        result = distraction("validate", "--help", env=dict(os.environ))
        assert result.returncode == 0
    finally:
        jobserver.stop(server)
    assert server.returncode is not None and SOCKET_VARIABLE not in os.environ
    assert not socket_path.parent.exists()
    assert (
        (tmp_path / "logs" / "job_server.log")
        .read_text()
        .splitlines()[-1]
        .endswith("stopped after 1 jobs")
    )
    if before is not None:
        os.environ[SOCKET_VARIABLE] = before
