"""A fork server for the jobs of a local run, and the ``distraction`` console script.

Every job of the workflow is a ``distraction SUBCOMMAND`` process. Started fresh, such a
process spends about as much CPU importing the numerical stack (NumPy, SciPy, xarray, Zarr,
pandas, OpenCV, LiteRT, neurokit2) as it spends working on a short video. On a local run
the workflow therefore starts one server (:func:`serve`, from the workflow's ``onstart``
hook) that imports that stack once and forks a child per job. The console script
(:func:`console_main`) hands its arguments, working directory, environment and standard
streams to the server named by :data:`SOCKET_VARIABLE`; the child runs
:func:`distraction.cli.main` as a fresh process would, and its exit status comes back as
the job's. Signals to the job are passed on to the child, and a child whose job is gone is
stopped.

Where no server answers (none was started, it is still importing, the job runs on a SLURM
node, or under another interpreter, package or import-time environment) the job runs in
its own process as before: the server is only ever a shortcut to the same computation.

The protocol carries JSON only, over a Unix socket in a private folder; the server serves
its own user only.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["SOCKET_VARIABLE", "console_main", "forward", "serve", "start", "stop"]

#: The environment variable through which jobs find the server's socket.
SOCKET_VARIABLE = "DISTRACTION_JOB_SERVER"
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
#: What the jobs import, loaded once before the first fork. Optional ones may be absent.
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
    "neurokit2",
    "sklearn.decomposition",
    "sklearn.exceptions",
    "matplotlib.pyplot",
)
_LENGTH = struct.Struct("!Q")
_STREAMS = 3  # stdin, stdout, stderr


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


def _identity() -> dict[str, str]:
    """What must match between a job and the server: interpreter and package."""
    return {
        "python": os.path.realpath(sys.executable),
        "package": os.path.realpath(Path(__file__).parent),
    }


# ----------------------------------------------------------------------------- client


def _read_message(sock: socket.socket, pending: bytearray) -> dict | None:
    """The next newline-terminated JSON message, or None at end of stream."""
    while b"\n" not in pending:
        chunk = sock.recv(4096)
        if not chunk:
            return None
        pending += chunk
    line, _, rest = bytes(pending).partition(b"\n")
    pending[:] = rest
    return json.loads(line)


def forward(argv: list[str]) -> int | None:
    """Run ``distraction ARGV`` in the job server named by :data:`SOCKET_VARIABLE`.

    Returns
    -------
    int or None
        The job's exit status; None when no server took the job (run it here instead).
    """
    path = os.environ.get(SOCKET_VARIABLE)
    if not path:
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        return None
    umask = os.umask(0)
    os.umask(umask)
    request = json.dumps(
        {
            **_identity(),
            "argv": argv,
            "cwd": os.getcwd(),
            "env": dict(os.environ),
            "umask": umask,
        }
    ).encode()
    with sock:
        try:
            socket.send_fds(sock, [_LENGTH.pack(len(request))], list(range(_STREAMS)))
            sock.sendall(request)
            pending = bytearray()
            reply = _read_message(sock, pending)
        except OSError:
            return None
        if reply is None or "refused" in reply:
            return None
        child = int(reply["pid"])
        # Signals to the job (Snakemake stopping it, Ctrl-C) go to the child that runs it.
        for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(number, lambda received, _frame: os.kill(child, received))
        try:
            reply = _read_message(sock, pending)
        except OSError:
            reply = None
    if reply is None:
        print(f"distraction: the job server ended before job {child} did", file=sys.stderr)
        return 1
    status = int(reply["exit"])
    if status < 0:  # killed by a signal: end the same way, as a shell would see it
        signal.signal(-status, signal.SIG_DFL)
        os.kill(os.getpid(), -status)
    return status


def console_main() -> int:
    """Entry point of the ``distraction`` console script: in the job server when one
    answers, else here."""
    status = forward(sys.argv[1:])
    if status is not None:
        return status
    from distraction.cli import main

    return main()


# ----------------------------------------------------------------------------- server


def _run_child(request: dict, streams: list[int]) -> None:
    """In the forked child: become the job's process and run it; never returns."""
    status = 1
    try:
        for target, fd in enumerate(streams):
            os.dup2(fd, target)
            os.close(fd)
        for number in (signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD):
            signal.signal(number, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
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


def _peer_uid(conn: socket.socket) -> int | None:
    if not hasattr(socket, "SO_PEERCRED"):
        return None  # the private folder alone guards the socket
    credentials = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", credentials)[1]


def _receive_request(conn: socket.socket) -> tuple[dict, list[int]]:
    header, fds, _, _ = socket.recv_fds(conn, _LENGTH.size, _STREAMS)
    if len(header) != _LENGTH.size or len(fds) != _STREAMS:
        for fd in fds:
            os.close(fd)
        raise ValueError("malformed request")
    (length,) = _LENGTH.unpack(header)
    body = bytearray()
    while len(body) < length:
        chunk = conn.recv(min(1 << 16, length - len(body)))
        if not chunk:
            for fd in fds:
                os.close(fd)
            raise ValueError("truncated request")
        body += chunk
    return json.loads(body), fds


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
    environment = _import_environment(dict(os.environ))
    identity = _identity()
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
                    served += _accept(conn, identity, environment, children, selector)
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


def _accept(
    conn: socket.socket,
    identity: dict[str, str],
    environment: dict[str, str],
    children: dict[int, socket.socket],
    selector: selectors.BaseSelector,
) -> int:
    """Take one job: refuse it, or fork its child. Returns 1 when a child was forked."""
    uid = _peer_uid(conn)
    if uid is not None and uid != os.getuid():
        conn.close()
        return 0
    try:
        request, streams = _receive_request(conn)
    except (OSError, ValueError):
        conn.close()
        return 0
    reason = None
    if {k: request.get(k) for k in identity} != identity:
        reason = "another interpreter or package"
    elif _import_environment(request.get("env", {})) != environment:
        reason = "another import-time environment"
    if reason is not None:
        for fd in streams:
            os.close(fd)
        _send(conn, {"refused": reason})
        conn.close()
        return 0
    pid = os.fork()
    if pid == 0:
        signal.set_wakeup_fd(-1)
        for key in list(selector.get_map().values()):
            key.fileobj.close()
        selector.close()
        conn.close()
        _run_child(request, streams)
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


def start(log_path: Path, *, timeout_s: float = 120.0) -> subprocess.Popen | None:
    """Start a server for the jobs this process starts, and wait until it serves.

    Its socket goes in a private temporary folder, named to the jobs through
    :data:`SOCKET_VARIABLE`. Waiting (the server's imports, a few seconds once) spares the
    first jobs importing for themselves beside it. Returns None, and names no server, when
    it did not come up; the jobs then run in their own processes.
    """
    folder = Path(tempfile.mkdtemp(prefix="distraction-jobs-"))  # mode 0700
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
    if path.name:
        path.unlink(missing_ok=True)
        try:
            path.parent.rmdir()
        except OSError:
            pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m distraction.jobserver", description=__doc__)
    parser.add_argument("--socket", type=Path, required=True, help="where to listen")
    parser.add_argument("--parent", type=int, help="stop when this process ends")
    args = parser.parse_args(argv)
    serve(args.socket, parent=args.parent)
    return 0


if __name__ == "__main__":
    sys.exit(main())
