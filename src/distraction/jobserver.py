"""A fork server for the jobs of a local run.

Every job of the workflow is a ``distraction SUBCOMMAND`` process. Started fresh, such a
process spends about as much CPU importing the numerical stack (NumPy, SciPy, xarray, Zarr,
pandas, OpenCV, LiteRT, scikit-learn, matplotlib) as it spends working on a short video. On
a local run the workflow therefore starts one server (:func:`start`, from ``workflow/rules/
jobserver.smk``) that imports that stack once and forks a child per job. The console
script (:mod:`distraction.jobclient`) hands its arguments, working directory, environment
and standard streams to the server named by :data:`~distraction.jobclient.SOCKET_VARIABLE`;
the child runs :func:`distraction.cli.main` as a fresh process would, and its exit status
comes back as the job's. Signals to the job are passed on to the child, and a child whose
job is gone is stopped.

The server refuses a job, which then runs in its own process, when it would not run as it
would alone: another interpreter, package or import-time environment, or package source
that changed since the server imported it. It serves its own user only, reads each
request within :data:`REQUEST_TIMEOUT_S` (a stuck client does not stall the others), and
its children die with it (Linux: a parent-death signal). Its socket lies in a private
folder; :func:`start` removes the folders that servers of killed runs left behind.
"""

from __future__ import annotations

import argparse
import ctypes
import importlib
import json
import os
import selectors
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from distraction.jobclient import (
    FORWARDED_SIGNALS,
    LENGTH,
    SOCKET_VARIABLE,
    STREAMS,
    identity,
    peer_uid,
)

__all__ = [
    "REQUEST_TIMEOUT_S",
    "remove_stale_folders",
    "serve",
    "source_fingerprint",
    "start",
    "stop",
]

#: How long the server waits for a connected job's whole request before dropping it.
REQUEST_TIMEOUT_S = 5.0
#: The socket folders :func:`start` makes in the temporary folder, and the file in each
#: that names its server's process id (the mark of a stale folder: a dead process).
FOLDER_PREFIX = "distraction-jobs-"
PID_FILE = "pid"
#: Read by libraries as they are imported (thread pools, backends, log levels, paths): a job
#: whose values differ from the server's runs in its own process instead.
IMPORT_TIME_VARIABLES = (
    "CUDA_",
    "KERAS_",
    "LD_",
    "MKL_",
    "MPL",
    "NUMEXPR_",
    "OMP_",
    "OPENBLAS_",
    "OPENCV_",
    "PYTHON",
    "TF_",
    "XLA_",
)
#: What the jobs of every video import, loaded once before the first fork (not what only
#: some runs need, such as neurokit2, which only the renderer uses). Optional ones may be
#: absent.
PRELOAD = (
    "distraction.cli",
    "distraction.prepare",
    "distraction.infer",
    "distraction.evaluate",
    "distraction.timeline",
    "distraction.figures",
    "distraction.report",
    "distraction.engines",
    "ai_edge_litert.interpreter",
    "sklearn.decomposition",
    "sklearn.exceptions",
    "matplotlib.pyplot",
)


#: Thread-pool sizes, which Snakemake sets per job from its ``threads``: applied in the child
#: (threadpoolctl) as a fresh process would apply them at import, per runtime.
THREAD_VARIABLES = {
    "blas": ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS"),
    "openmp": ("OMP_NUM_THREADS",),
}
_THREAD_NAMES = {name for names in THREAD_VARIABLES.values() for name in names} | {
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
}


def _import_environment(env: dict[str, str]) -> dict[str, str]:
    return {
        k: v
        for k, v in env.items()
        if k.startswith(IMPORT_TIME_VARIABLES) and k not in _THREAD_NAMES
    }


def _limit_threads(env: dict[str, str]) -> None:
    """Size the BLAS and OpenMP pools as the job's environment asks."""
    from threadpoolctl import threadpool_limits

    for api, names in THREAD_VARIABLES.items():
        value = next((env[name] for name in names if env.get(name, "").isdigit()), None)
        if value is not None:
            threadpool_limits(limits=int(value), user_api=api)


def source_fingerprint(package: Path) -> tuple[tuple[str, int, int], ...]:
    """The package's source as the server imported it: path, modification time and size of
    every ``.py`` and ``.yaml`` file under ``package``. A job forked after any of them
    changed would run the old code, so the server then refuses it."""
    files = sorted(p for pattern in ("*.py", "*.yaml") for p in package.rglob(pattern))
    fingerprint = []
    for path in files:
        try:
            info = path.stat()
        except OSError:  # removed meanwhile: that is a change too
            info = None
        fingerprint.append(
            (
                path.relative_to(package).as_posix(),
                *((info.st_mtime_ns, info.st_size) if info else (-1, -1)),
            )
        )
    return tuple(fingerprint)


# ----------------------------------------------------------------------------- server


#: Linux's prctl option that sends the calling process a signal when its parent ends.
PR_SET_PDEATHSIG = 1


def _die_with_server(server: int) -> None:
    """In a forked child: die with the server. Its job's client has then already failed
    (no exit status can come back), so the child would only run on unseen (Linux: a
    parent-death signal; elsewhere a killed server's children run to their end)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != server:  # the server died before the signal was armed
        os._exit(1)


def _run_child(request: dict, streams: list[int], server: int) -> None:
    """In the forked child: become the job's process and run it; never returns."""
    status = 1
    try:
        for target, fd in enumerate(streams):
            os.dup2(fd, target)
            os.close(fd)
        # Signals as a fresh process started by the job's would have them: those the job's
        # process ignores ignored, the others at their defaults (SIGINT: KeyboardInterrupt).
        ignored = {int(n) for n in request.get("ignored_signals", [])}
        for number in (*FORWARDED_SIGNALS, signal.SIGCHLD):
            default = signal.default_int_handler if number == signal.SIGINT else signal.SIG_DFL
            signal.signal(number, signal.SIG_IGN if int(number) in ignored else default)
        _die_with_server(server)
        os.chdir(request["cwd"])
        os.umask(int(request["umask"]))
        os.environ.clear()
        os.environ.update(request["env"])
        _limit_threads(request["env"])
        sys.argv = ["distraction", *request["argv"]]
        from distraction.cli import main

        status = main(request["argv"])
    except SystemExit as exc:  # argparse's usage errors, as in a fresh process
        status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if exc.code is not None and not isinstance(exc.code, int):
            print(exc.code, file=sys.stderr)
    except BaseException:  # a fresh process would print it and exit 1
        import traceback

        traceback.print_exc()
        status = 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # nothing left to report it to
                pass
        os._exit(status)


def _receive_request(conn: socket.socket) -> tuple[dict, list[int]]:
    """The job's request and its streams, read within :data:`REQUEST_TIMEOUT_S`
    (``TimeoutError``, an ``OSError``, past it)."""
    deadline = time.monotonic() + REQUEST_TIMEOUT_S
    conn.settimeout(REQUEST_TIMEOUT_S)
    header, fds, _, _ = socket.recv_fds(conn, LENGTH.size, STREAMS)
    if len(header) != LENGTH.size or len(fds) != STREAMS:
        for fd in fds:
            os.close(fd)
        raise ValueError("malformed request")
    (length,) = LENGTH.unpack(header)
    body = bytearray()
    while len(body) < length:
        conn.settimeout(max(deadline - time.monotonic(), 1e-3))
        try:
            chunk = conn.recv(min(1 << 16, length - len(body)))
        except OSError:
            for fd in fds:
                os.close(fd)
            raise
        if not chunk:
            for fd in fds:
                os.close(fd)
            raise ValueError("truncated request")
        body += chunk
    conn.setblocking(True)
    try:
        return json.loads(body), fds
    except ValueError:
        for fd in fds:
            os.close(fd)
        raise


def _send(conn: socket.socket, message: dict) -> None:
    try:
        conn.sendall(json.dumps(message).encode() + b"\n")
    except OSError:
        pass  # the job is gone; its child was or will be stopped


def serve(path: Path, *, parent: int | None = None, log=sys.stderr) -> int:
    """Import the jobs' modules, then serve jobs on the Unix socket ``path`` until SIGTERM
    or SIGINT, or until the process ``parent`` ends.

    The socket appears under ``path`` only once the imports are done, so a job never waits
    on them. Returns the number of jobs served.
    """
    package = identity()
    expected = _Expected(
        package, _import_environment(dict(os.environ)), source_fingerprint(Path(package["package"]))
    )
    started = time.perf_counter()
    try:  # the backend every plotting job selects (distraction.figures), before pyplot
        importlib.import_module("matplotlib").use("Agg")
    except ImportError:
        pass
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass  # an optional dependency; the job that needs it says so itself
    stopping = False

    def stop_serving(_number: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop_serving)
    signal.signal(signal.SIGINT, stop_serving)
    # A child's end wakes the loop at once (its job waits on the exit status).
    wake_read, wake_write = socket.socketpair()
    wake_read.setblocking(False)
    wake_write.setblocking(False)
    signal.set_wakeup_fd(wake_write.fileno(), warn_on_full_buffer=False)
    signal.signal(signal.SIGCHLD, lambda _number, _frame: None)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    staging = path.with_name(f".{path.name}.{os.getpid()}")
    listener.bind(str(staging))
    listener.listen(64)
    os.replace(staging, path)
    print(
        f"job server {os.getpid()}: imports done in {time.perf_counter() - started:.1f} s, "
        f"serving on {path}",
        file=log,
        flush=True,
    )
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    selector.register(wake_read, selectors.EVENT_READ)
    children: dict[int, socket.socket] = {}  # pid -> the job's connection
    served = 0
    try:
        while not stopping and (parent is None or os.getppid() == parent):
            for key, _ in selector.select(timeout=0.5):
                if key.fileobj is wake_read:
                    while True:
                        try:
                            wake_read.recv(4096)
                        except BlockingIOError:
                            break
                elif key.fileobj is listener:
                    conn, _ = listener.accept()
                    served += _accept(conn, expected, children, selector, log)
                else:  # the job's end closed: it is gone, so its child is stopped
                    conn = key.fileobj
                    selector.unregister(conn)
                    for pid, job in children.items():
                        if job is conn:
                            os.kill(pid, signal.SIGTERM)
            _reap(children, selector)
    finally:
        for pid in children:
            os.kill(pid, signal.SIGTERM)
        listener.close()
        path.unlink(missing_ok=True)
        print(f"job server {os.getpid()}: stopped after {served} jobs", file=log, flush=True)
    return served


@dataclass(frozen=True)
class _Expected:
    """What a job must share with the server to run in it."""

    identity: dict[str, str]
    environment: dict[str, str]
    source: tuple[tuple[str, int, int], ...]

    def refusal(self, request: dict) -> str | None:
        """Why the job would not run here as it would alone (None: it would)."""
        if {k: request.get(k) for k in self.identity} != self.identity:
            return "another interpreter or package"
        if _import_environment(request.get("env", {})) != self.environment:
            return "another import-time environment"
        if source_fingerprint(Path(self.identity["package"])) != self.source:
            return "the package source changed since the server started"
        return None


def _accept(
    conn: socket.socket,
    expected: _Expected,
    children: dict[int, socket.socket],
    selector: selectors.BaseSelector,
    log,
) -> int:
    """Take one job: refuse it, or fork its child. Returns 1 when a child was forked."""
    uid = peer_uid(conn)
    if uid is not None and uid != os.getuid():
        conn.close()
        return 0
    try:
        request, streams = _receive_request(conn)
    except (OSError, ValueError) as exc:
        print(f"job server {os.getpid()}: request dropped ({exc})", file=log, flush=True)
        conn.close()
        return 0
    reason = expected.refusal(request)
    if reason is not None:
        print(f"job server {os.getpid()}: job refused ({reason})", file=log, flush=True)
        for fd in streams:
            os.close(fd)
        _send(conn, {"refused": reason})
        conn.close()
        return 0
    server = os.getpid()
    pid = os.fork()
    if pid == 0:
        signal.set_wakeup_fd(-1)
        for key in list(selector.get_map().values()):
            key.fileobj.close()
        selector.close()
        conn.close()
        _run_child(request, streams, server)
    for fd in streams:
        os.close(fd)
    children[pid] = conn
    selector.register(conn, selectors.EVENT_READ)
    _send(conn, {"pid": pid})
    return 1


def _reap(children: dict[int, socket.socket], selector: selectors.BaseSelector) -> None:
    """Send each ended child's exit status to its job."""
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        conn = children.pop(pid, None)
        if conn is None:
            continue
        _send(conn, {"exit": os.waitstatus_to_exitcode(status)})
        try:
            selector.unregister(conn)
        except (KeyError, ValueError):
            pass
        conn.close()


# ----------------------------------------------------------- starting and stopping it


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process holds that id now
        return True
    return True


def _listening(path: Path) -> bool:
    """Whether a server accepts connections on the socket ``path`` (a dead server's socket
    file refuses them)."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(str(path))
    except OSError:
        return False
    finally:
        probe.close()
    return True


def _stale(folder: Path, modified: float, grace_s: float) -> bool:
    try:
        pid = int((folder / PID_FILE).read_text().strip())
    except (OSError, ValueError):
        pid = None
    if pid is not None:
        return not _alive(pid)
    # No process id (a server started by an older version, or a start killed before it
    # wrote one): the socket tells, and a folder without one is given time to import.
    socket_path = folder / "socket"
    if socket_path.is_socket():
        return not _listening(socket_path)
    return time.time() - modified > grace_s


def remove_stale_folders(temporary: Path | None = None, *, grace_s: float = 600.0) -> list[Path]:
    """Remove the socket folders that servers of killed runs left behind.

    A folder is one of :func:`start`'s when it is a real folder of this user named
    ``distraction-jobs-*`` directly in the temporary folder. It is stale when the server
    its :data:`PID_FILE` names has ended; without that file, when its socket accepts no
    connection, or it has no socket and is older than ``grace_s`` (a start killed before
    the server listened). Others' folders and live servers' are left alone.

    Returns
    -------
    list of Path
        The folders removed.
    """
    temporary = Path(tempfile.gettempdir() if temporary is None else temporary)
    removed = []
    for folder in sorted(temporary.glob(f"{FOLDER_PREFIX}*")):
        try:
            info = os.lstat(folder)
        except OSError:
            continue
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
            continue
        if _stale(folder, info.st_mtime, grace_s):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def start(log_path: Path, *, timeout_s: float = 120.0) -> subprocess.Popen | None:
    """Start a server for the jobs this process starts, and wait until it serves.

    Its socket goes in a private temporary folder, named to the jobs through
    :data:`SOCKET_VARIABLE`, with the server's process id beside it; the folders of servers
    that ended without :func:`stop` (a killed run) are removed first. Waiting (the
    server's imports, a few seconds once) spares the first jobs importing for themselves
    beside it. Returns None, and names no server, when it did not come up; the jobs then
    run in their own processes.
    """
    remove_stale_folders()
    folder = Path(tempfile.mkdtemp(prefix=FOLDER_PREFIX))  # mode 0700
    path = folder / "socket"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "a") as log:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "distraction.jobserver",
                f"--socket={path}",
                f"--parent={os.getpid()}",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
    (folder / PID_FILE).write_text(f"{server.pid}\n")
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            server.wait()
            shutil.rmtree(folder, ignore_errors=True)
            return None
        time.sleep(0.02)
    os.environ[SOCKET_VARIABLE] = str(path)
    return server


def stop(server: subprocess.Popen) -> None:
    """Stop a server from :func:`start` and remove its folder."""
    path = Path(os.environ.pop(SOCKET_VARIABLE, ""))
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    if path.name and path.parent.name.startswith(FOLDER_PREFIX):
        shutil.rmtree(path.parent, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m distraction.jobserver", description=__doc__)
    parser.add_argument("--socket", type=Path, required=True, help="where to listen")
    parser.add_argument("--parent", type=int, help="stop when this process ends")
    args = parser.parse_args(argv)
    serve(args.socket, parent=args.parent)
    return 0


if __name__ == "__main__":
    sys.exit(main())
