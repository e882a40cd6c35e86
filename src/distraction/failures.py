"""The one failure policy of the per-video jobs (prepare, infer, evaluate, figures, timeline).

A per-video job run with ``--record-failures`` does not fail the workflow when its video
cannot be processed: :func:`recording_failures` catches the exception, logs the
traceback of anything but bad input and a known transient condition
(:class:`TransientError`), writes the job's failure record (through the job's own
``write`` function: a failure group, a failed status row, figures that state the reason)
and warns. The record is then the job's output, and later jobs pass it on to the report.

Failures are of two kinds (:func:`failure_kind`):

``bad input``
    An :class:`~distraction.errors.InputError`: a truncated or undecodable video, ground
    truth that does not fit. Running the same command again cannot change it, so the
    record stays until the input is fixed and the record removed (the record's ``retry``
    says how).
``transient``
    Anything else: a missing file, a full disk, an ``OSError``, a bug; and bad input while
    one of the job's inputs is missing (it may come back: a disk not mounted, a file being
    copied). The next run of the same command must retry it. The job writes a retry token
    (:func:`retry_marker`, a new random value per transient failure) into the video's
    store; the workflow passes the token to the job as a parameter (:func:`retry_token`),
    and Snakemake reruns a job whose parameters changed since it last ran. The token stays
    after a successful retry, so the job is rerun once per transient failure, not on every
    run.

Standard library only: the workflow reads the tokens while Snakemake parses it.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from distraction.errors import InputError, TransientError, failure_reason

log = logging.getLogger(__name__)

BAD_INPUT = "bad input"
TRANSIENT = "transient"


def failure_kind(exc: BaseException) -> str:
    """:data:`BAD_INPUT` for an :class:`InputError`, else :data:`TRANSIENT`."""
    return BAD_INPUT if isinstance(exc, InputError) else TRANSIENT


def retry_advice(kind: str, output: Path | str | None = None) -> str:
    """How a failure of ``kind`` is retried, for the record and the log; ``output`` is
    the job's record to remove once bad input is fixed."""
    if kind == TRANSIENT:
        return "the next run of the same command retries it"
    where = f"remove {output}" if output else "remove the record"
    return f"fix the input, then {where} and run again (a rerun alone keeps this record)"


def retry_marker(store: Path | str, job: str) -> Path:
    """The file holding a job's retry token in a video's store (``<store>/.retry-<job>``;
    hidden, so Zarr and the store's readers never see it)."""
    return Path(store) / f".retry-{job}"


def retry_token(store: Path | str, job: str) -> str:
    """The job's current retry token ('' before its first transient failure).

    The workflow gives it to the job as a parameter: a new token (a transient failure
    since the job last ran) makes Snakemake run the job again.
    """
    try:
        return retry_marker(store, job).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return ""


def _write_retry_token(store: Path, job: str) -> None:
    marker = retry_marker(store, job)
    marker.parent.mkdir(parents=True, exist_ok=True)
    tmp = marker.with_name(f"{marker.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        tmp.write_text(uuid.uuid4().hex + "\n", encoding="utf-8")
        os.replace(tmp, marker)
    finally:
        tmp.unlink(missing_ok=True)


@dataclass
class Failure:
    """What :func:`recording_failures` knows of the job: the video it names (the body may
    set a better name once it knows one), the files it reads (``inputs``: bad input is
    transient while one of them is missing) and, after a recorded failure, its reason, kind
    and how to retry it.
    """

    video: str
    inputs: list[Path] = field(default_factory=list)
    reason: str | None = None
    kind: str | None = None
    advice: str | None = None

    def attrs(self) -> dict[str, str]:
        """The failure as a failure group's attributes (``failed``, ``failure_kind``, ``retry``)."""
        return {
            "failed": self.reason or "",
            "failure_kind": self.kind or "",
            "retry": self.advice or "",
        }

    @property
    def failed(self) -> bool:
        return self.reason is not None


@contextmanager
def recording_failures(
    job: str,
    video: str | Callable[[], str],
    *,
    record: bool,
    write: Callable[[Failure], None],
    store: Path | None = None,
    retry_as: str | None = None,
    output: Path | str | None = None,
    strip: str | None = None,
) -> Iterator[Failure]:
    """Run a per-video job's body under the failure policy (see the module).

    Parameters
    ----------
    job
        The job's name in messages and in its retry token (``prepare``, ``infer_hr``...).
    video
        How reasons name the video until the body sets ``failure.video`` (a function
        is called only on a failure).
    record
        Record failures (the workflow's ``--record-failures``); without it every exception
        is raised unchanged.
    write
        Writes the job's failure record from the :class:`Failure` (reason and kind set).
        When it fails too (a read-only or full results folder), a :class:`TransientError`
        says so in one line with the first failure's reason: the job fails, and the
        workflow's next run retries it.
    store
        The video's store, where a transient failure's retry token is written (none: no
        token, e.g. outside the workflow).
    retry_as
        The job whose retry token a transient failure renews (default ``job``; the infer
        job runs three stages).
    output
        The job's record, named in the advice of a bad-input failure (remove it to retry).
    strip
        A prefix of exception messages that names no video (the store path).

    Yields
    ------
    Failure
        ``failed`` after the ``with`` block when a failure was recorded.
    """
    failure = Failure(video if isinstance(video, str) else "")
    try:
        yield failure
    except Exception as exc:
        if not record:
            raise
        if not failure.video and callable(video):
            failure.video = video()
        kind = failure_kind(exc)
        if kind == BAD_INPUT and any(not os.path.lexists(path) for path in failure.inputs):
            kind = TRANSIENT
        if not isinstance(exc, InputError | TransientError):
            log.exception("%s of %s failed (not bad input; traceback follows)", job, failure.video)
        failure.reason = failure_reason(failure.video, exc, strip=strip)
        failure.kind = kind
        failure.advice = retry_advice(kind, output)
        try:
            write(failure)
            if kind == TRANSIENT and store is not None:
                _write_retry_token(Path(store), retry_as or job)
        except OSError as write_error:
            # The results folder itself fails (made read-only, full): the job fails, in one
            # line, and the workflow's next run retries it (no output, no record).
            problem = write_error.strerror or type(write_error).__name__
            where = f" ({write_error.filename})" if write_error.filename else ""
            raise TransientError(
                f"{failure.video}: {job} failed and its failure could not be recorded: "
                f"{problem}{where}; the failure was: {failure.reason}"
            ) from write_error
        log.warning("%s FAILED (%s; %s), recorded: %s", job, kind, failure.advice, failure.reason)
