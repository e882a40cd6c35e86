"""The ``run`` job: the whole workflow on a video or a folder of videos, with the defaults.

Writes a configuration for the inputs into the output folder (a ``folder`` dataset named
``videos``), runs Snakemake on it with the default workflow profile (all cores, keep going)
and prints where the outputs are.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from distraction.atomic import write_text
from distraction.config import validate_config
from distraction.errors import InputError
from distraction.layouts import VIDEO_EXTENSIONS, recording_ids

DATASET = "videos"


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


def run_job(
    source: Path, out: Path, task: str, *, cores: str = "all", extra: list[str] | None = None
) -> str:
    """Run the workflow on ``source`` (a video or a folder of videos) into ``out``.

    Parameters
    ----------
    source
        A video file (with an optional ``<stem>.csv`` ground truth beside it) or a folder
        searched at any depth (the ``folder`` format).
    out
        Output folder: ``config.yaml``, the results, logs and Snakemake's state.
    task
        ``hr``, ``br`` or ``both``.
    cores
        Snakemake's ``--cores``.
    extra
        Further Snakemake arguments (e.g. ``["-n"]``).

    Returns
    -------
    str
        The job's one-line summary; the outputs are printed on stdout.

    Raises
    ------
    InputError
        No video found (the message lists the layouts understood), or Snakemake failed.
    """
    source, out = Path(source).resolve(), Path(out).resolve()
    if not source.exists():
        raise InputError(f"{source}: no such file or folder")
    if source.is_file():
        if source.suffix.lower() not in VIDEO_EXTENSIONS:
            raise InputError(f"{source}: not a video ({', '.join(VIDEO_EXTENSIONS)})")
        root = _link_video(source, out / "inputs")
    else:
        root = source
    recordings = recording_ids("folder", root)
    config = run_config(root, out, task)
    out.mkdir(parents=True, exist_ok=True)
    config_path = out / "config.yaml"
    write_text(config_path, yaml.safe_dump(config, sort_keys=False))
    snakefile = find_snakefile()
    command = [
        sys.executable, "-m", "snakemake",
        "--snakefile", str(snakefile),
        "--directory", str(out),
        "--configfile", str(config_path),
        "--workflow-profile", str(snakefile.parent / "workflow" / "profiles" / "default"),
        "--cores", cores,
        *(extra or []),
    ]  # fmt: skip
    env = dict(os.environ)
    # The rules call the `distraction` console script of this interpreter's environment.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    result = subprocess.run(command, env=env, cwd=out, check=False)
    if result.returncode != 0:
        raise InputError(
            f"{out}: the workflow failed (snakemake exit {result.returncode}); logs in {out}/logs"
        )
    tasks = ["hr", "br"] if task == "both" else [task]
    print(f"Results of {len(recordings)} video(s) in {out}:")
    print(f"  reports (tables, failures, agreement where ground truth exists): {out}/reports/")
    for name in tasks:
        folder = out / DATASET / "timeline" / name
        print(
            f"  {name.upper()} per video, in {folder}/: <video>.rates.csv (rate and quality "
            "over time), .rates.png, .hrv.csv, .waveforms.csv"
        )
    print(f"  one Zarr store per video: {out / DATASET / 'stores'}/")
    return f"run {source}: {len(recordings)} video(s), task {task} -> {out}"
