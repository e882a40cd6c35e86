"""The ``distraction`` console script: run the job in the job server when one answers.

Every job of the workflow is a ``distraction SUBCOMMAND`` process. On a local run the
workflow starts a job server (:mod:`distraction.jobserver`) that has imported the numerical
stack once; :func:`console_main` hands it the job's arguments, working directory,
environment and standard streams over the Unix socket named by :data:`SOCKET_VARIABLE`,
and the job's exit status comes back as this process's. Signals to this process go on to
the server's child that runs the job, and those this process ignores the child ignores.

The environment and the streams are handed over only to a server of this user: the
socket's folder must be this user's and private (mode 0700, not a link), and the process
listening on the socket must run as this user. Where any check fails, no server answers
or the server refuses the job (another interpreter, package, import-time environment or
changed source), the job runs here as it would without a server: the server is only ever a
shortcut to the same computation.

This module also holds the protocol the server speaks (JSON over the socket, no pickle).
Standard library only, as the script's start must stay fast.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import struct
import sys
from pathlib import Path

__all__ = [
    "FORWARDED_SIGNALS",
    "LENGTH",
    "SOCKET_VARIABLE",
    "STREAMS",
    "console_main",
    "forward",
    "identity",
    "ignored_signals",
    "peer_uid",
    "read_message",
    "server_problem",
]

#: The environment variable through which jobs find the server's socket.
SOCKET_VARIABLE = "DISTRACTION_JOB_SERVER"
#: The request's header: the length of the JSON body that follows it.
LENGTH = struct.Struct("!Q")
#: The standard streams a job hands over (stdin, stdout, stderr).
STREAMS = 3


#: The signals a job's process passes on to the server's child that runs the job.
FORWARDED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def ignored_signals() -> list[int]:
    """Those of :data:`FORWARDED_SIGNALS` this process ignores. A process started in the
    background by a non-interactive shell ignores SIGINT, and so does all of a run started
    that way (Snakemake and its jobs inherit it): the job's child must ignore it as well,
    or a Ctrl-C meant for the foreground would stop the job alone, a failed job to
    Snakemake, while the run goes on."""
    return [int(n) for n in FORWARDED_SIGNALS if signal.getsignal(n) == signal.SIG_IGN]


def identity() -> dict[str, str]:
    """What must match between a job and the server: interpreter and package."""
    return {
        "python": os.path.realpath(sys.executable),
        "package": os.path.realpath(Path(__file__).parent),
    }


def peer_uid(sock: socket.socket) -> int | None:
    """The user id of the process at the other end of a connected Unix socket (None where
    the platform cannot tell; the private folder alone then guards the socket)."""
    if not hasattr(socket, "SO_PEERCRED"):
        return None
    credentials = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", credentials)[1]


def read_message(sock: socket.socket, pending: bytearray) -> dict | None:
    """The next newline-terminated JSON message, or None at end of stream."""
    while b"\n" not in pending:
        chunk = sock.recv(4096)
        if not chunk:
            return None
        pending += chunk
    line, _, rest = bytes(pending).partition(b"\n")
    pending[:] = rest
    return json.loads(line)


def server_problem(path: Path) -> str | None:
    """Why the socket ``path`` is not one to hand a job to, or None when it is.

    Its folder must be a real folder (not a link) of this user that no one else may enter
    (mode 0700), and the socket a socket of this user: anyone who could place or replace it
    would receive the job's environment and open files.
    """
    try:
        folder = os.lstat(path.parent)
        entry = os.lstat(path)
    except OSError as exc:
        return f"cannot inspect it ({exc.strerror or exc})"
    uid = os.getuid()
    if not stat.S_ISDIR(folder.st_mode):
        return f"{path.parent} is not a folder"
    if folder.st_uid != uid:
        return f"{path.parent} belongs to user {folder.st_uid}"
    if stat.S_IMODE(folder.st_mode) != 0o700:
        return f"{path.parent} has mode {stat.S_IMODE(folder.st_mode):o}, not 700"
    if not stat.S_ISSOCK(entry.st_mode):
        return "not a socket"
    if entry.st_uid != uid:
        return f"the socket belongs to user {entry.st_uid}"
    return None


def _refuse(path: str, reason: str) -> None:
    print(f"distraction: job server {path} not used ({reason}); running here", file=sys.stderr)


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
    problem = server_problem(Path(path))
    if problem is not None:
        if os.path.lexists(path):  # a vanished server's socket is no news; a foreign one is
            _refuse(path, problem)
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
        server_uid = peer_uid(sock)
    except OSError:
        sock.close()
        return None
    if server_uid is not None and server_uid != os.getuid():
        sock.close()
        _refuse(path, f"its server runs as user {server_uid}")
        return None
    umask = os.umask(0)
    os.umask(umask)
    ignored = ignored_signals()
    request = json.dumps(
        {
            **identity(),
            "argv": argv,
            "cwd": os.getcwd(),
            "env": dict(os.environ),
            "umask": umask,
            "ignored_signals": ignored,
        }
    ).encode()
    with sock:
        try:
            socket.send_fds(sock, [LENGTH.pack(len(request))], list(range(STREAMS)))
            sock.sendall(request)
            pending = bytearray()
            reply = read_message(sock, pending)
        except OSError:
            return None
        if reply is None or "refused" in reply:
            return None
        child = int(reply["pid"])
        # Signals to the job (Snakemake stopping it, Ctrl-C) go to the child that runs it;
        # one this process ignores, the child ignores too.
        for number in FORWARDED_SIGNALS:
            if number not in ignored:
                signal.signal(number, lambda received, _frame: os.kill(child, received))
        try:
            reply = read_message(sock, pending)
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
