"""The Python API: one video's rates, quality and waveforms in one call, without Snakemake.

:func:`estimate` runs the workflow's steps for one video in this process (preparation, the
network stages with the shipped networks, the timeline), with the schema's defaults.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from distraction.timeline import Timeline

__all__ = ["Estimate", "estimate"]

WEIGHTS = Path(__file__).resolve().parent / "weights"


@dataclass(frozen=True)
class Estimate:
    """What :func:`estimate` measured on one video.

    Attributes
    ----------
    video
        The video file.
    store
        Its Zarr store when one was given to keep, else ``None`` (it was temporary).
    hr, br
        Per measured task a :class:`distraction.timeline.Timeline`: ``rates`` (the rate over
        time in sliding windows: ``time_s``, ``rate``, NaN where the window has no face or
        no pulse, with the ``reason``, and the quality columns), ``waveforms`` (``time_s``,
        ``can``, ``denoised``, ...), ``hrv`` (HR; ``ok`` or ``withheld`` with the reason),
        ``median_rate`` (of the windows with a rate) and ``status`` (``ok`` or ``no
        reliable estimate``, with ``reason``); ``None`` for a task not measured. A video
        with no face in any frame has no windows, a NaN median rate and status ``no
        reliable estimate``, reason ``no face found in any frame``.
    """

    video: Path
    store: Path | None
    hr: Timeline | None
    br: Timeline | None


def _network_files(task: str, kind: str, setting: str) -> tuple[Path, Path | None]:
    """The ``.keras`` file and its LiteRT export (shipped beside the shipped networks)."""
    if setting != "builtin":
        return Path(setting), None
    return WEIGHTS / f"{task}_{kind}.keras", WEIGHTS / f"{task}_{kind}.tflite"


def estimate(
    path: str | Path,
    *,
    task: Literal["hr", "br", "both"] = "hr",
    store: str | Path | None = None,
) -> Estimate:
    """Heart and/or breathing rate over time of one video, with its quality and waveforms.

    Runs, in this process: preparation (:func:`distraction.prepare.prepare_recording`), the
    CAN, the corruption traces and the denoiser (:func:`distraction.infer.run_stages`, on
    LiteRT on a CPU) and the timeline (:func:`distraction.timeline.video_timeline`), with
    the shipped networks and the schema's defaults. A ``<stem>.csv`` ground truth beside
    the video (the generic format's columns) adds the true rate.

    Parameters
    ----------
    path
        A video file (``.avi``, ``.mp4``, ``.mkv`` or ``.mov``).
    task
        ``"hr"``, ``"br"`` or ``"both"``.
    store
        Where to write the video's Zarr store (kept); by default a temporary folder,
        removed before returning.

    Returns
    -------
    Estimate
        With status ``no reliable estimate`` per task where no window can be trusted,
        also where no frame shows a face (black frames, noise, a test pattern: then the
        reason is ``no face found in any frame`` and no store is kept).

    Raises
    ------
    InputError
        The file is missing, a folder, not a video or cannot be decoded.
    ValueError
        An unknown task.
    """
    from distraction.datasets import FolderLoader
    from distraction.errors import InputError
    from distraction.layouts import VIDEO_EXTENSIONS

    if task not in ("hr", "br", "both"):
        raise ValueError(f"task: expected 'hr', 'br' or 'both', got {task!r}")
    video = Path(path).resolve()
    if video.is_dir():
        raise InputError(
            f"{path}: is a folder; estimate() takes one video file "
            "(`distraction run` takes a folder of videos)"
        )
    if not video.is_file():
        raise InputError(f"{path}: video file not found")
    if video.suffix.lower() not in VIDEO_EXTENSIONS:
        raise InputError(f"{path}: not a video ({', '.join(VIDEO_EXTENSIONS)})")
    loader = FolderLoader("video", video.parent)
    recording = loader.from_video(video)
    if store is not None:
        return _estimate(loader, recording, Path(store), task, keep=True)
    with tempfile.TemporaryDirectory(prefix="distraction-") as folder:
        return _estimate(loader, recording, Path(folder) / "video.zarr", task, keep=False)


def _estimate(loader, recording, store: Path, task: str, *, keep: bool) -> Estimate:
    from distraction.errors import NoFaceError
    from distraction.infer import run_stages
    from distraction.prepare import prepare_recording
    from distraction.settings import merged_config, prepare_settings, task_settings
    from distraction.timeline import no_estimate_timeline, video_timeline

    tasks = ("hr", "br") if task == "both" else (task,)
    # The same functions and settings as the workflow's prepare, infer and timeline jobs
    # (the crop resolved by prepare_recording for the folder format, as `distraction run`).
    config = merged_config()
    try:
        prepare_recording(
            loader, recording, store, settings=prepare_settings(config), fmt=loader.format
        )
    except NoFaceError:
        # Nothing to measure: a rate from black frames or noise would be invented.
        identity = {"dataset": recording.dataset, "video": recording.recording_id}
        none = {
            name: no_estimate_timeline({**identity, "task": name}, NoFaceError.reason)
            for name in tasks
        }
        return Estimate(recording.source, None, none.get("hr"), none.get("br"))
    timelines: dict[str, Timeline] = {}
    for name in tasks:
        settings = task_settings(name, config)
        run_stages(
            store, settings, ["infer-can", "corruption", "denoise"], **_networks(name, config)
        )
        timelines[name] = video_timeline(store, settings)
    return Estimate(
        video=recording.source,
        store=store if keep else None,
        hr=timelines.get("hr"),
        br=timelines.get("br"),
    )


def _networks(task: str, config: dict) -> dict:
    """The network files, engine and batch size of a task's :func:`run_stages`, as the
    workflow's infer rule passes them (``models.*``)."""
    from distraction.engines import select_engine

    models = config["models"]
    can, can_lt = _network_files(task, "can", models[f"{task}_can"])
    lstm, lstm_lt = _network_files(task, "lstm", models[f"{task}_lstm"])
    litert, _ = select_engine(models["engine"], can_lt, lstm_lt)
    return {
        "can_model": can,
        "lstm_model": lstm,
        "can_litert": can_lt if litert else None,
        "lstm_litert": lstm_lt if litert else None,
        "batch_size": models["batch_size"],
    }
