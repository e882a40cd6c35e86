"""The job server: a job run through it gives the same files, exit status and messages as
the same job run as a fresh process; it refuses jobs it cannot run as they would run alone
(also after its source changed); a stopped job stops its forked child and a killed server
its children; a served job ignores the signals its process ignores; a stuck client stalls
no one; the client hands nothing to a socket that is not its user's, in a private folder;
and the folders of killed runs are removed."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from distraction import jobserver
from distraction.jobclient import SOCKET_VARIABLE, server_problem

WEIGHTS = Path(__file__).resolve().parents[1] / "src" / "distraction" / "weights"
CONSOLE = Path(sys.executable).parent / "distraction"


class Server:
    def __init__(self, folder: Path, env: dict[str, str] | None = None) -> None:
        folder.mkdir(mode=0o700)
        self.socket = folder / "socket"
        self.log = folder / "server.log"
        self.base_env = dict(os.environ) if env is None else env
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "distraction.jobserver", f"--socket={self.socket}"],
                stdout=log,
                stderr=log,
                env=self.base_env,
            )
        deadline = time.monotonic() + 120
        while not self.socket.exists():
            assert self.process.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)

    def env(self, **extra: str) -> dict[str, str]:
        return {**self.base_env, SOCKET_VARIABLE: str(self.socket), **extra}

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
    assert usage.returncode == 0 and "validate [-h] [--config CONFIG]" in usage.stdout
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


def _ignored_signals(pid: int) -> int:
    """The mask of signals the process ``pid`` ignores (Linux's /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigIgn:"):
            return int(line.split()[1], 16)
    raise AssertionError(f"no SigIgn line for {pid}")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("ignored", [False, True])
def test_a_served_job_ignores_the_interrupt_its_process_ignores(
    server: Server, tmp_path: Path, ignored: bool
) -> None:
    # A run started in the background by a non-interactive shell ignores SIGINT, and so do
    # Snakemake and its jobs; a served job must too, or a Ctrl-C would stop it alone (a
    # failed job) while the run goes on. A job started in the foreground is interrupted.
    disposition = signal.SIG_IGN if ignored else signal.SIG_DFL
    args = ["synth", f"--video={tmp_path / 'long.avi'}", f"--ground-truth={tmp_path / 'long.csv'}"]
    job = subprocess.Popen(
        [str(CONSOLE), *args, "--subject=0", "--condition=clean", "--duration=600"],
        env=server.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=lambda: signal.signal(signal.SIGINT, disposition),
    )
    deadline = time.monotonic() + 60
    while not server.children():
        assert job.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    (child,) = server.children()
    time.sleep(1.0)  # the render is under way
    sigint_bit = 1 << (signal.SIGINT - 1)
    assert bool(_ignored_signals(child) & sigint_bit) == ignored
    job.send_signal(signal.SIGINT)
    if ignored:
        time.sleep(1.0)
        assert job.poll() is None and server.children() == [child]
        job.terminate()
        assert job.wait(timeout=30) == -signal.SIGTERM
    else:  # KeyboardInterrupt in the child: the job ends as a fresh process would
        assert job.wait(timeout=30) != 0
    deadline = time.monotonic() + 30
    while server.children():
        assert time.monotonic() < deadline, "the child outlived its job"
        time.sleep(0.05)


def test_start_waits_for_the_server_and_stop_removes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    # A killed run's folder: its server (a process that has ended) is gone.
    stale = tmp_path / f"{jobserver.FOLDER_PREFIX}killed"
    stale.mkdir(mode=0o700)
    (stale / jobserver.PID_FILE).write_text(f"{_ended_process()}\n")
    before = os.environ.get(SOCKET_VARIABLE)
    server = jobserver.start(tmp_path / "logs" / "job_server.log")
    try:
        assert server is not None
        socket_path = Path(os.environ[SOCKET_VARIABLE])
        assert socket_path.exists()  # serving as soon as start returns
        assert (socket_path.parent.stat().st_mode & 0o777) == 0o700
        assert not stale.exists()
        assert (socket_path.parent / jobserver.PID_FILE).read_text() == f"{server.pid}\n"
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


def _ended_process() -> int:
    """The id of a process that has ended (and been reaped)."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def _running(pid: int) -> bool:
    """Whether ``pid`` is a process that has not ended (a zombie has)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal: Linux")
def test_a_killed_server_takes_its_children_along(server: Server, tmp_path: Path) -> None:
    args = ["synth", f"--video={tmp_path / 'long.avi'}", f"--ground-truth={tmp_path / 'long.csv'}"]
    job = subprocess.Popen(
        [str(CONSOLE), *args, "--subject=0", "--condition=clean", "--duration=600"],
        env=server.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not (children := server.children()):
        assert job.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(1.0)  # the render is under way
    server.process.kill()
    server.process.wait()
    deadline = time.monotonic() + 30
    while any(_running(pid) for pid in children):
        assert time.monotonic() < deadline, "a child outlived the server"
        time.sleep(0.05)
    # Its job learns that the server ended first, and fails rather than hang.
    assert job.wait(timeout=30) == 1
    assert "the job server ended before job" in job.stderr.read()


def test_a_stuck_client_stalls_no_other_job(server: Server) -> None:
    stuck = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stuck.connect(str(server.socket))  # and never sends its request
    started = time.monotonic()
    result = subprocess.run(
        [str(CONSOLE), "validate", "--help"],
        env=server.env(),
        capture_output=True,
        text=True,
        timeout=jobserver.REQUEST_TIMEOUT_S + 60,
    )
    assert result.returncode == 0 and "validate [-h] [--config CONFIG]" in result.stdout
    # The server hung up on the stuck client after its timeout, and served the job.
    stuck.settimeout(30)
    assert stuck.recv(1) == b""
    assert time.monotonic() - started >= jobserver.REQUEST_TIMEOUT_S - 0.5
    log = server.stop()
    assert "request dropped" in log and log.splitlines()[-1].endswith("stopped after 1 jobs")


def test_a_server_whose_source_changed_refuses_and_the_job_runs_alone(tmp_path: Path) -> None:
    # A copy of the package (without the weights, which no job here needs) to change.
    package = Path(jobserver.__file__).parent
    copy = tmp_path / "src" / "distraction"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("weights", "__pycache__"))
    env = {**os.environ, "PYTHONPATH": str(copy.parent)}
    server = Server(tmp_path / "server", env)
    try:
        served = distraction("validate", "--help", env=server.env())
        assert served.returncode == 0
        module = copy / "metrics.py"
        stamp = module.stat().st_mtime_ns + 5_000_000_000
        os.utime(module, ns=(stamp, stamp))  # edited after the server imported it
        alone = distraction("validate", "--help", env=server.env())
        assert alone.returncode == 0 and alone.stdout == served.stdout
        log = server.stop()
    finally:
        if server.process.poll() is None:
            server.process.kill()
    assert "job refused (the package source changed since the server started)" in log
    assert log.splitlines()[-1].endswith("stopped after 1 jobs")


def test_the_client_hands_nothing_to_a_socket_in_a_folder_others_may_enter(
    server: Server, tmp_path: Path
) -> None:
    assert server_problem(server.socket) is None
    server.socket.parent.chmod(0o755)
    assert server_problem(server.socket) == f"{server.socket.parent} has mode 755, not 700"
    result = distraction("validate", "--help", env=server.env())
    assert result.returncode == 0 and "validate [-h] [--config CONFIG]" in result.stdout
    assert result.stderr == (
        f"distraction: job server {server.socket} not used ({server.socket.parent} has mode "
        "755, not 700); running here\n"
    )
    server.socket.parent.chmod(0o700)
    # A link to the server's folder is not the folder itself.
    link = tmp_path / "link"
    link.symlink_to(server.socket.parent)
    assert server_problem(link / "socket") == f"{link} is not a folder"
    assert server.stop().splitlines()[-1].endswith("stopped after 0 jobs")


@pytest.mark.skipif(os.getuid() != 0, reason="listening as another user needs root")
def test_the_client_hands_nothing_to_a_server_of_another_user(tmp_path: Path) -> None:
    folder = tmp_path / "foreign"
    folder.mkdir(mode=0o700)
    path = folder / "socket"
    ready_read, ready_write = os.pipe()
    pid = os.fork()
    if pid == 0:  # a listener that binds in our folder, then runs as nobody
        try:
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            listener.bind(str(path))
            os.setuid(65534)
            listener.listen(1)
            os.write(ready_write, b"x")
            conn, _ = listener.accept()
            conn.settimeout(10)
            received = conn.recv(1 << 16)
            os._exit(3 if received else 0)
        finally:
            os._exit(4)
    try:
        assert os.read(ready_read, 1) == b"x"
        result = distraction("validate", "--help", env={**os.environ, SOCKET_VARIABLE: str(path)})
        assert result.returncode == 0 and "validate [-h] [--config CONFIG]" in result.stdout
        assert "its server runs as user 65534" in result.stderr
    finally:
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0  # it received nothing


def test_stale_socket_folders_of_killed_runs_are_removed(tmp_path: Path) -> None:
    prefix, pid_file = jobserver.FOLDER_PREFIX, jobserver.PID_FILE
    folders = {}
    for name, pid in (("dead", _ended_process()), ("live", os.getpid()), ("nopid-old", None)):
        folders[name] = tmp_path / f"{prefix}{name}"
        folders[name].mkdir(mode=0o700)
        if pid is not None:
            (folders[name] / pid_file).write_text(f"{pid}\n")
    old = time.time() - 3600
    os.utime(folders["nopid-old"], (old, old))
    folders["nopid-new"] = tmp_path / f"{prefix}nopid-new"  # a start under way
    folders["nopid-new"].mkdir(mode=0o700)
    # Without a process id, the socket tells: one that accepts connections is a live
    # server's (older versions wrote no id), one that refuses them a dead server's.
    listening = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    for name in ("nopid-listening", "nopid-dead-socket"):
        folders[name] = tmp_path / f"{prefix}{name}"
        folders[name].mkdir(mode=0o700)
    listening.bind(str(folders["nopid-listening"] / "socket"))
    listening.listen(1)
    closed = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    closed.bind(str(folders["nopid-dead-socket"] / "socket"))
    closed.close()  # its file stays, as a killed server's does
    for name in ("nopid-listening", "nopid-dead-socket"):
        os.utime(folders[name], (old, old))
    other = tmp_path / "other-folder"  # not a server's folder
    other.mkdir()
    (other / pid_file).write_text(f"{_ended_process()}\n")
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / pid_file).write_text(f"{_ended_process()}\n")
    (tmp_path / f"{prefix}link").symlink_to(target)  # a link is never followed
    try:
        removed = jobserver.remove_stale_folders(tmp_path)
    finally:
        listening.close()
    assert removed == sorted([folders["dead"], folders["nopid-dead-socket"], folders["nopid-old"]])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [
            "elsewhere",
            "other-folder",
            *(f"{prefix}{name}" for name in ("link", "live", "nopid-listening", "nopid-new")),
        ]
    )
