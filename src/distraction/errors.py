"""Exceptions with one-line messages that name the offending file."""

from __future__ import annotations


class InputError(ValueError):
    """Bad user input (video, ground truth, dataset layout, config).

    The message is one line: ``"<path>: <problem>"``.
    """


class NoFaceError(InputError):
    """A video in which no frame shows a face (black frames, noise, a test pattern).

    Bad input to the workflow's ``prepare`` (a failed video); :func:`distraction.estimate`
    reports it as no reliable estimate instead. The message is ``"<path>: "`` and
    :attr:`reason`.
    """

    reason = "no face found in any frame"


#: Longest message of a :class:`ConfigError`: it may quote a value of any size.
MAX_CONFIG_MESSAGE = 1000


class ConfigError(InputError):
    """Invalid or unreadable configuration (a message of at most
    :data:`MAX_CONFIG_MESSAGE` characters, cut with '...')."""

    def __init__(self, message: str = "") -> None:
        if len(message) > MAX_CONFIG_MESSAGE:
            message = message[: MAX_CONFIG_MESSAGE - 3] + "..."
        super().__init__(message)


class TransientError(RuntimeError):
    """A failure that a later run may not meet: an input that is missing now (a disk not
    mounted, a file being copied). One line ``"<path>: <problem>"``, like
    :class:`InputError`, but not bad input: the workflow retries it (distraction.failures).
    """


def failure_reason(video: str, exc: BaseException, *, strip: str | None = None) -> str:
    """One line naming the video and the problem, for a failure record.

    Bad input (:class:`InputError`) and a :class:`TransientError` keep their message; any
    other exception (a bug, a full disk, a library's refusal) is named by its type. ``strip``
    is a prefix to drop (a store path, which names no video); the video is put first unless
    the message already names it. Line breaks are replaced by spaces, so the reason is one
    line in failures.csv.
    """
    message = str(exc) or type(exc).__name__
    if strip and message.startswith(f"{strip}: "):
        message = message[len(strip) + 2 :]
    if not isinstance(exc, InputError | TransientError):
        message = f"{type(exc).__name__}: {message}"
    if not message.startswith(video):
        message = f"{video}: {message}"
    return " ".join(message.splitlines())
