"""The ``run`` job: the whole workflow on a video or a folder of videos, with the defaults.

Writes a configuration for the inputs into the output folder (a ``folder`` dataset named
``videos``), runs Snakemake on it with the default workflow profile (all cores, keep going),
its log in ``<out>/logs/run.log`` and a line per finished video on the terminal, then prints
the headline table (``reports/estimates.csv``) and how many videos failed.

One run at a time per output folder: a second is refused before it changes anything. A run
that was interrupted (Ctrl-C, a killed terminal) resumes with the same command: Snakemake's
stale lock is released first, and finished videos are not redone.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import yaml

from distraction.atomic import write_text
from distraction.config import validate_config
from distraction.errors import InputError
from distraction.layouts import VIDEO_EXTENSIONS, recording_ids
from distraction.single import LONE_VIDEO_THREADS

DATASET = "videos"
#: Lines of Snakemake's log shown when the workflow itself fails.
LOG_TAIL_LINES = 15


def find_snakefile() -> Path:
    """The workflow's Snakefile: ``$DISTRACTION_SNAKEFILE``, else the one of the source
    tree the package runs from (an editable install or a clone)."""
    configured = os.environ.get("DISTRACTION_SNAKEFILE")
    path = Path(configured) if configured else Path(__file__).resolve().parents[2] / "Snakefile"
    if not path.is_file():
        raise InputError(
            f"{path}: workflow not found (distraction run needs the repository's Snakefile; "
            "set DISTRACTION_SNAKEFILE to it)"
        )
    return path


def _link_video(video: Path, folder: Path) -> Path:
    """Give a single video a dataset folder of its own: a link to it (and to its CSV).

    Links left there by an earlier run on another video are removed, so the run covers
    exactly this video (the earlier results stay where they are)."""
    folder.mkdir(parents=True, exist_ok=True)
    wanted = {s.name: s for s in (video, video.with_suffix(".csv")) if s.is_file()}
    for entry in folder.iterdir():
        if entry.is_symlink() and (
            entry.name not in wanted or entry.resolve() != wanted[entry.name].resolve()
        ):
            entry.unlink()
    for name, source in wanted.items():
        if not (folder / name).is_symlink():
            (folder / name).symlink_to(source)
    return folder


def run_config(root: Path, out: Path, task: str) -> dict:
    """The configuration of a run: the schema's defaults, one ``folder`` dataset."""
    config = {
        "task": task,
        "results": str(out),
        "datasets": {DATASET: {"format": "folder", "root": str(root)}},
    }
    return validate_config(config, source="distraction run")


def check_cores(cores: str) -> str:
    """Snakemake's ``--cores``: ``all`` or a positive integer (0 would wait forever)."""
    if cores == "all":
        return cores
    try:
        count = int(cores)
    except ValueError:
        count = 0
    if count < 1:
        raise InputError(f"--cores {cores}: expected a positive number of cores or 'all'")
    return str(count)


def _prepared_out(source: Path, out: Path) -> None:
    """Refuse an output folder inside the input folder (its videos would be read as
    input), and create it, with a one-line error when that is impossible."""
    if source.is_dir() and out.is_relative_to(source):
        raise InputError(
            f"{out}: the output folder is inside the input folder {source}, whose videos "
            "(and so the outputs') would be read as input; choose --out outside it"
        )
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: --out exists and is not a folder")
    try:
        (out / "logs").mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(f"{out}: cannot create the output folder ({error.strerror})") from None


@contextlib.contextmanager
def run_lock(out: Path) -> Iterator[None]:
    """Hold ``<out>/.distraction-run.lock`` for the whole run: a second ``distraction run``
    on the same folder is refused before it changes anything. The lock is the kernel's
    (``flock``), so a killed run leaves none behind."""
    handle = open(out / ".distraction-run.lock", "a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError(
                f"{out}: another `distraction run` is writing to this folder; wait for it, "
                "or choose another --out"
            ) from None
        yield
    finally:
        handle.close()


def _snakemake(out: Path, config_path: Path, cores: str, extra: list[str]) -> list[str]:
    snakefile = find_snakefile()
    return [
        sys.executable, "-m", "snakemake",
        "--snakefile", str(snakefile),
        "--directory", str(out),
        "--configfile", str(config_path),
        "--workflow-profile", str(snakefile.parent / "workflow" / "profiles" / "default"),
        "--cores", cores,
        *extra,
    ]  # fmt: skip


#: Per-video outputs: ``<out>/videos/<kind>/<task>/<recording><suffix>``.
PER_VIDEO_OUTPUTS = {
    "timeline": (".rates.csv", ".rates.png", ".waveforms.csv", ".hrv.csv"),
    "eval": (".csv",),
    "status": (".csv",),
}


def remove_stale_outputs(out: Path, recordings: list[str]) -> int:
    """Remove the per-video tables and plots (timeline, evaluation, status) of videos an
    earlier run on ``out`` had and this one has not, so that the folder shows this run's
    videos only; their Zarr stores are kept (a later run on them reuses them). Returns how
    many videos' outputs were removed."""
    current = set(recordings)
    stale: set[str] = set()
    for kind, suffixes in PER_VIDEO_OUTPUTS.items():
        for task_folder in (out / DATASET / kind).glob("*"):
            for path in [p for p in task_folder.rglob("*") if p.is_file()]:
                name = path.relative_to(task_folder).as_posix()
                suffix = next((x for x in suffixes if name.endswith(x)), None)
                if suffix is not None and name[: -len(suffix)] not in current:
                    stale.add(name[: -len(suffix)])
                    path.unlink()
    return len(stale)


def _stale_snakemake_lock(out: Path) -> bool:
    locks = out / ".snakemake" / "locks"
    return locks.is_dir() and any(locks.iterdir())


def _finished(out: Path, recordings: list[str], tasks: list[str]) -> list[str]:
    """The recordings whose every task has its timeline (the last per-video job)."""
    folder = out / DATASET / "timeline"
    return [
        r for r in recordings if all((folder / task / f"{r}.rates.png").exists() for task in tasks)
    ]


def _wait(process: subprocess.Popen, progress: Callable[[], None]) -> int:
    """Wait for Snakemake, reporting progress; on Ctrl-C let it stop its jobs and release
    its lock (it gets the interrupt too), and terminate it at a second Ctrl-C."""
    interrupted = False
    while True:
        try:
            while process.poll() is None:
                progress()
                time.sleep(1.0)
            progress()
            if interrupted:
                raise KeyboardInterrupt
            return process.returncode
        except KeyboardInterrupt:
            if interrupted or process.poll() is not None:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
                    process.wait()
                raise
            interrupted = True
            print(
                "distraction run: stopping (the running jobs are cancelled; Ctrl-C again to "
                "stop at once) ...",
                file=sys.stderr,
                flush=True,
            )


def run_job(
    source: Path,
    out: Path,
    task: str,
    *,
    cores: str = "all",
    extra: list[str] | None = None,
    allow_failed_videos: bool = False,
    in_process: bool | None = None,
) -> str:
    """Run the workflow on ``source`` (a video or a folder of videos) into ``out``.

    Parameters
    ----------
    source
        A video file (with an optional ``<stem>.csv`` ground truth beside it) or a folder
        searched at any depth (the ``folder`` format).
    out
        Output folder: ``config.yaml``, the results, logs and Snakemake's state. Not inside
        ``source``.
    task
        ``hr``, ``br`` or ``both``.
    cores
        Snakemake's ``--cores``: ``all`` or a positive integer.
    extra
        Further Snakemake arguments (e.g. ``["-n"]``).
    allow_failed_videos
        Return normally when some videos failed (they are listed in
        ``reports/failures.csv``); by default that raises :class:`InputError` after the
        reports are written, so the command exits non-zero.
    in_process
        Run a lone video's jobs in this process (:mod:`distraction.single`: the same job
        functions, settings and outputs as the workflow's, without Snakemake's planning,
        the job server's start and a process per job); ``None`` (default) does so for a
        single video file at a configuration it supports when no ``extra`` arguments are
        given, ``False`` always runs Snakemake.

    Returns
    -------
    str
        The job's one-line summary; progress and the headline table are printed on stdout.

    Raises
    ------
    InputError
        No video found (the message lists the layouts understood), a bad ``--out`` or
        ``--cores``, another run on ``out``, Snakemake failed, or videos failed.
    KeyboardInterrupt
        Interrupted; Snakemake has stopped and released its lock, and the same command
        resumes the run.
    """
    source, out = Path(source).resolve(), Path(out).resolve()
    cores = check_cores(cores)
    if not source.exists():
        raise InputError(f"{source}: no such file or folder")
    if source.is_file() and source.suffix.lower() not in VIDEO_EXTENSIONS:
        raise InputError(f"{source}: not a video ({', '.join(VIDEO_EXTENSIONS)})")
    _prepared_out(source, out)
    with run_lock(out):
        # Only now, under the lock, is anything of an earlier run changed.
        root = _link_video(source, out / "inputs") if source.is_file() else source
        recordings = recording_ids("folder", root)
        if removed := remove_stale_outputs(out, recordings):
            print(f"distraction run: removed the tables of {removed} video(s) of an earlier run")
        config_path = out / "config.yaml"
        config = run_config(root, out, task)
        write_text(config_path, yaml.safe_dump(config, sort_keys=False))
        log_path = out / "logs" / "run.log"
        lone = _lone_recording(config) if source.is_file() and not extra else None
        if lone is not None and in_process is not False:
            print(
                f"distraction run: 1 video(s), task {task} -> {out} (log: {log_path})", flush=True
            )
            # The workflow's threads of a lone video's jobs, as Snakemake scales them to --cores.
            threads = min(LONE_VIDEO_THREADS, int(cores)) if cores != "all" else LONE_VIDEO_THREADS
            if not _run_in_process(config, lone, log_path, threads):
                tail = log_path.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
                print("\n".join(["... end of " + str(log_path) + ":", *tail]), file=sys.stderr)
                raise InputError(f"{out}: the run of {source} failed; see {log_path}")
            print(f"  [1/1] {lone}", flush=True)
            return _finish(out, source, recordings, task, 0, log_path, allow_failed_videos)
        command = _snakemake(out, config_path, cores, extra or [])
        env = dict(os.environ)
        # The rules call the `distraction` console script of this interpreter's environment.
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        with open(log_path, "a") as log:
            if _stale_snakemake_lock(out):
                # No other `distraction run` holds the folder (we do): the lock is left
                # from an interrupted run.
                print(f"distraction run: resuming an interrupted run in {out}", flush=True)
                subprocess.run([*command, "--unlock"], env=env, cwd=out, stdout=log, stderr=log)
            tasks = ["hr", "br"] if task == "both" else [task]
            print(
                f"distraction run: {len(recordings)} video(s), task {task} -> {out} "
                f"(log: {log_path})",
                flush=True,
            )
            reported: set[str] = set(_finished(out, recordings, tasks))
            if reported:
                print(f"  {len(reported)} video(s) already done", flush=True)

            def progress() -> None:
                for recording in _finished(out, recordings, tasks):
                    if recording not in reported:
                        reported.add(recording)
                        print(f"  [{len(reported)}/{len(recordings)}] {recording}", flush=True)

            process = subprocess.Popen(command, env=env, cwd=out, stdout=log, stderr=log)
            returncode = _wait(process, progress)
    return _finish(out, source, recordings, task, returncode, log_path, allow_failed_videos)


def _lone_recording(config: dict) -> str | None:
    """The one recording of the run's dataset when :mod:`distraction.single` can run it as
    the workflow would (no entry refused, a supported configuration), else None."""
    from distraction.layouts import dataset_listing
    from distraction.single import in_process_supported

    if not in_process_supported(config):
        return None
    ids, refused = dataset_listing(DATASET, config["datasets"][DATASET])
    return ids[0] if len(ids) == 1 and not refused else None


def _run_in_process(config: dict, recording: str, log_path: Path, threads: int) -> bool:
    """The workflow's jobs of one recording in this process, their log lines and standard
    error (progress bars, the network runtime's notes) in ``log_path`` as the workflow's
    jobs have theirs in their logs. False when a job raised (its error is logged)."""
    import logging
    import traceback

    from distraction.single import run_steps, video_steps

    root = logging.getLogger()
    sys.stderr.flush()
    saved_fd = os.dup(2)
    with open(log_path, "a") as log:
        handler = logging.StreamHandler(log)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        saved_handlers, root.handlers = root.handlers, [handler]
        os.dup2(log.fileno(), 2)
        try:
            with contextlib.redirect_stderr(log):
                run_steps(video_steps(config, DATASET, recording, threads=threads))
            return True
        except InputError as error:
            log.write(f"distraction run: error: {error}\n")
            return False
        except Exception:
            log.write(traceback.format_exc())
            return False
        finally:
            sys.stderr.flush()
            os.dup2(saved_fd, 2)
            os.close(saved_fd)
            root.handlers = saved_handlers


def _finish(
    out: Path,
    source: Path,
    recordings: list[str],
    task: str,
    returncode: int,
    log_path: Path,
    allow_failed_videos: bool,
) -> str:
    """Print the headline and the outputs; raise when the workflow or videos failed."""
    from distraction.headline import failed_videos, headline

    reports = out / "reports"
    if (reports / "estimates.csv").is_file():
        print(headline(reports))
    print(f"Outputs in {out}:")
    print(f"  {reports}/: estimates.csv, failures.csv; error tables and plots where there is truth")
    for name in ["hr", "br"] if task == "both" else [task]:
        hrv = ", .hrv.csv" if name == "hr" else ""
        print(
            f"  {out / DATASET / 'timeline' / name}/: <video>.rates.csv and .rates.png (rate and "
            f"quality over time){hrv}, .waveforms.csv"
        )
    print(f"  logs: {out / 'logs'}/ (the workflow's: {log_path.name})")
    if returncode != 0:
        # The end of Snakemake's log says what stopped it.
        tail = log_path.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
        print("\n".join(["... end of " + str(log_path) + ":", *tail]), file=sys.stderr)
        raise InputError(
            f"{out}: the workflow failed (snakemake exit {returncode}); see {log_path}"
        )
    videos, failed = failed_videos(_estimate_rows(reports / "estimates.csv"))
    if failed and not allow_failed_videos:
        raise InputError(
            f"{reports / 'failures.csv'}: {failed} of {videos} videos failed "
            "(--keep-going-on-bad-videos exits 0 all the same)"
        )
    return f"run {source}: {len(recordings)} video(s), task {task}, {failed} failed -> {out}"


def _estimate_rows(path: Path) -> list[dict[str, str]]:
    import csv

    if not path.is_file():
        return []
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))
