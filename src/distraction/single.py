"""One video in one process: the workflow's per-video jobs, called in the workflow's order.

``distraction run`` on a lone video does not need Snakemake's planning, the job server's
start and a process per job: :func:`video_steps` lists the same job functions with the same
settings, stores and output paths as the workflow's rules (``workflow/rules/*.smk``) at a
run's configuration, and :func:`run_steps` runs them one after the other. The rates CSV of
the timeline comes first after the network stages, so the first result is on disk before
the evaluation, figures and reports.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from distraction.settings import TASKS

log = logging.getLogger(__name__)

#: The shipped networks (the configuration's ``builtin``), as the workflow's BUILTIN_WEIGHTS.
BUILTIN_WEIGHTS = Path(__file__).resolve().parent / "weights"
#: Threads of a lone video's prepare and infer jobs (the workflow's ``video_threads``).
LONE_VIDEO_THREADS = 2


@dataclass(frozen=True)
class Step:
    """One job of the workflow: its rule's name, a call that does its work, returning the
    job's one-line summary, and its rule's threads."""

    name: str
    job: Callable[[], str]
    threads: int = 1

    def run(self) -> str:
        """The job, with the BLAS and OpenMP thread pools at :attr:`threads`, as the
        workflow's job of that many threads has them (Snakemake sets their variables per
        job, the job server applies them in the job's child). Wider pools would only spin:
        on a clip's small least-squares problems two BLAS threads take up to ten times one's
        CPU time."""
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=self.threads):
            return self.job()


def _model_files(config: dict[str, Any], task: str, kind: str) -> tuple[Path, Path | None]:
    """The network's ``.keras`` file and its LiteRT export (None for the keras engine or a
    model that is not the shipped one: the workflow exports those in a job of their own)."""
    setting = config["models"][f"{task}_{kind}"]
    keras = BUILTIN_WEIGHTS / f"{task}_{kind}.keras" if setting == "builtin" else Path(setting)
    if config["models"]["engine"] == "keras" or setting != "builtin":
        return keras, None
    return keras, BUILTIN_WEIGHTS / f"{task}_{kind}.tflite"


def in_process_supported(config: dict[str, Any]) -> bool:
    """Whether :func:`video_steps` runs this configuration as the workflow would: shipped
    networks (or the keras engine), no reference or failure-check targets."""
    models = config["models"]
    shipped = all(models[f"{t}_{k}"] == "builtin" for t in TASKS for k in ("can", "lstm"))
    return (
        (shipped or models["engine"] == "keras")
        and not config["reference"]["sample"]
        and config["report"]["max_failed_fraction"] is None
    )


def video_steps(
    config: dict[str, Any],
    dataset: str,
    recording: str,
    *,
    threads: int = LONE_VIDEO_THREADS,
    figures: bool = True,
) -> list[Step]:
    """The workflow's jobs for one recording of ``dataset`` and its reports, in order.

    Parameters
    ----------
    config
        A validated configuration (:func:`distraction.config.validate_config`) whose
        ``datasets`` holds ``dataset`` and whose ``results`` is the output folder.
    dataset, recording
        The recording, as :func:`distraction.layouts.dataset_listing` names it.
    threads
        Threads of the prepare and infer jobs.
    figures
        Include the example figures (the workflow draws them for a dataset's first
        recording).

    Returns
    -------
    list of Step
        prepare, then per task infer and timeline, then per task evaluate (and figures),
        then estimates and aggregate.
    """
    from distraction.settings import prepare_settings, task_settings

    results = Path(config["results"])
    store = results / dataset / "stores" / f"{recording}.zarr"
    tasks = ["hr", "br"] if config["task"] == "both" else [config["task"]]
    source = config["datasets"][dataset]
    batch_size = int(config["models"]["batch_size"])

    def timeline_path(task: str, kind: str) -> Path:
        return results / dataset / "timeline" / task / f"{recording}.{kind}"

    def evaluation_path(kind: str, task: str) -> Path:
        return results / dataset / kind / task / f"{recording}.csv"

    def prepare() -> str:
        from distraction.prepare import prepare_job

        return prepare_job(
            source["format"],
            Path(source["root"]),
            dataset,
            recording,
            store,
            settings=prepare_settings(config),
            threads=threads,
            record_failures=True,
        )

    def infer(task: str) -> str:
        from distraction.engines import select_engine
        from distraction.infer import run_stages

        can, can_litert = _model_files(config, task, "can")
        lstm, lstm_litert = _model_files(config, task, "lstm")
        litert, device = select_engine(config["models"]["engine"], can_litert, lstm_litert)
        summaries = run_stages(
            store,
            task_settings(task, config),
            ["infer-can", "corruption", "denoise"],
            can_model=can,
            lstm_model=lstm,
            can_litert=can_litert if litert else None,
            lstm_litert=lstm_litert if litert else None,
            batch_size=batch_size,
            threads=threads,
            record_failures=True,
        )
        failed = next((s["failed"] for s in summaries.values() if "failed" in s), None)
        if failed:
            return f"infer {store} ({task}): failed: {failed}"
        return f"infer {store} ({task}): {summaries['infer-can']['frames']} frames on {device}"

    def timeline(task: str) -> str:
        from distraction.timeline import timeline_job

        return timeline_job(
            store,
            task_settings(task, config),
            rates=timeline_path(task, "rates.csv"),
            waveforms=timeline_path(task, "waveforms.csv"),
            hrv=timeline_path(task, "hrv.csv") if task == "hr" else None,
            figure=timeline_path(task, "rates.png"),
            record_failures=True,
        )

    def evaluate(task: str) -> str:
        from distraction.evaluate import run_evaluate

        table, status = run_evaluate(
            store,
            task_settings(task, config),
            evaluation_path("eval", task),
            evaluation_path("status", task),
            record_failures=True,
        )
        return f"evaluate {store} ({task}): {len(table)} rows, {status['status']}"

    def figure(task: str) -> str:
        from distraction.figures import figures_job

        folder = results / "reports" / "figures" / dataset
        return figures_job(
            store,
            task,
            folder / f"{recording}.{task}.masks.png",
            folder / f"{recording}.{task}.waveforms.png",
            record_failures=True,
        )

    statuses = [evaluation_path("status", task) for task in tasks]

    def estimates() -> str:
        from distraction.report import estimates_job

        return estimates_job(
            statuses,
            [timeline_path(task, "rates.csv") for task in tasks],
            [timeline_path("hr", "hrv.csv")] if "hr" in tasks else [],
            results / "reports" / "estimates.csv",
        )

    def aggregate() -> str:
        from distraction.report import aggregate_job

        return aggregate_job(
            [evaluation_path("eval", task) for task in tasks],
            results / "reports",
            statuses=statuses,
        )

    # The prepare and infer rules' threads are the video's, every other rule's one.
    steps = [Step("prepare", prepare, threads)]
    for task in tasks:
        steps += [
            Step(f"infer_{task}", lambda task=task: infer(task), threads),
            Step(f"timeline_{task}", lambda task=task: timeline(task)),
        ]
    for task in tasks:
        steps.append(Step(f"evaluate_{task}", lambda task=task: evaluate(task)))
        if figures:
            steps.append(Step(f"figures_{task}", lambda task=task: figure(task)))
    steps += [Step("estimates", estimates), Step("aggregate", aggregate)]
    return steps


def run_steps(steps: list[Step], on_done: Callable[[Step, str, float], None] | None = None) -> None:
    """Run ``steps`` in order; ``on_done(step, summary, seconds)`` after each."""
    for step in steps:
        started = time.perf_counter()
        summary = step.run()
        seconds = time.perf_counter() - started
        log.info("%s [%.1f s]", summary, seconds)
        if on_done is not None:
            on_done(step, summary, seconds)
