# Settings and input functions shared by all rules: the validated config, the recordings of
# each dataset (listed by distraction.layouts) and the functions that name rules' inputs.
import fnmatch
import hashlib
import json
import os
import shlex
import sys
from pathlib import Path

from snakemake.utils import validate

# The workflow parses with Snakemake alone (the rules' conda environment installs the
# package for the jobs): what it needs of the package (hardware checks, the recording
# listing, the config checks a JSON schema cannot express, the recording-name checks and the
# failure policy's retry tokens) imports
# the standard library only, from this checkout's src/.
sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from distraction import config_checks, layouts
from distraction.errors import InputError
from distraction.failures import retry_token
from distraction.hardware import gpu_visible


# Before the schema, whose messages quote values: a config that nested YAML aliases expand
# to millions of values is refused in one line, and NaN or infinity never pass its bounds.
try:
    config_checks.check_size(config)
    config_checks.check_numbers(config)
except config_checks.ConfigError as error:
    raise WorkflowError(str(error)) from None
validate(config, schema="../schemas/config.schema.yaml")

RESULTS = config["results"]
TASKS = ["hr", "br"] if config["task"] == "both" else [config["task"]]


wildcard_constraints:
    dataset=r"[^/]+",
    task=r"hr|br",
    kind=r"can|lstm",
    key=r"refused-[0-9a-f]{16}",


def _check_config():
    """Fail before any job runs on a config problem the schema cannot see (one line)."""
    try:
        config_checks.check_config(config)
    except config_checks.ConfigError as error:
        raise WorkflowError(str(error)) from None
    for name, spec in config["datasets"].items():
        if spec["format"] != "synth" and not Path(spec["root"]).is_dir():
            raise WorkflowError(f"{spec['root']}: dataset root of '{name}' does not exist")


_check_config()


def synth_root(dataset):
    """Where the workflow writes a synthetic dataset's videos."""
    return f"{RESULTS}/{dataset}/videos"


def synth_setting(wildcards, key):
    return config["datasets"][wildcards.dataset]["synth"][key]


def synth_photo(wildcards):
    """The photo subject ``wildcards.subject`` of a synth dataset animates ([] for cartoons)."""
    spec = config["datasets"][wildcards.dataset]["synth"]
    folder = spec.get("photos")
    if not folder:
        return []
    names = spec.get("photo_names")
    if names:
        # Named photos are counted from the dataset's first subject.
        photos = [Path(folder) / name for name in names]
        index = int(wildcards.subject) - spec["first_subject"]
    else:
        photos = sorted(
            p for p in Path(folder).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png")
        )
        index = int(wildcards.subject)
    if index >= len(photos):
        raise ValueError(
            f"datasets.{wildcards.dataset}.synth.photos: subject {index} needs photo number "
            f"{index + 1}, {folder} holds {len(photos)}"
        )
    return [str(photos[index])]


def dataset_root(dataset):
    spec = config["datasets"][dataset]
    return synth_root(dataset) if spec["format"] == "synth" else spec["root"]


# The entries of each dataset the workflow cannot carry (a name Snakemake cannot take as a
# wildcard, a dangling link, a linked folder): not processed, but recorded as failed videos
# by the `refused` rule, so the run goes on and the failures report names each one.
REFUSED = {}


def _refuse(dataset, recording_id, source, problem):
    digest = hashlib.sha256(f"{recording_id}\0{source}".encode("utf-8", "surrogateescape"))
    REFUSED.setdefault(dataset, {})[f"refused-{digest.hexdigest()[:16]}"] = {
        "recording": config_checks.printable(recording_id),
        "source": config_checks.printable(str(source)),
        "problem": problem,
    }


def _list_recordings(dataset):
    """Recording ids of a dataset, listed when the DAG is built (so new videos are picked
    up); the entries it cannot carry go to REFUSED."""
    try:
        ids, refused = layouts.dataset_listing(dataset, config["datasets"][dataset])
    except InputError as error:
        raise WorkflowError(str(error)) from None
    for entry in refused:
        _refuse(dataset, entry.recording_id, entry.source, entry.problem)
    return ids


RECORDINGS = {dataset: _list_recordings(dataset) for dataset in config["datasets"]}


def video_threads(wildcards):
    """Threads of a per-video prepare or infer job: one each in a local batch, whose videos
    then run side by side, which uses the cores better (the jobs' single-threaded parts no
    longer hold two); two for a lone video (decoding beside cropping, the CAN on two cores)
    and on a cluster, whose group jobs run their network jobs one after the other on the
    CPUs (and the one GPU) they ask for."""
    batch = sum(map(len, RECORDINGS.values())) > 1
    return 1 if batch and workflow.local_exec and not workflow.remote_exec else 2


def store_path(dataset, recording):
    return f"{RESULTS}/{dataset}/stores/{recording}.zarr"


class NotRetried:
    """The ``retry`` parameter of a job without a retry token. Snakemake records parameters
    of builtin types only, so this one is not recorded: results made before the parameter
    existed, or before the job's first transient failure, are not rerun for it."""

    def __str__(self):
        return ""


def retry(job):
    """A per-video job's ``retry`` parameter: its retry token in the video's store, renewed
    by each transient failure the job records (``{task}`` in ``job`` is the wildcard's), so
    Snakemake, seeing the parameter changed, reruns the job (distraction.failures)."""

    def token(wildcards):
        store = store_path(wildcards.dataset, wildcards.recording)
        job_name = job.format(task=getattr(wildcards, "task", ""))
        return retry_token(store, job_name) or NotRetried()

    return token


def group_file(group):
    """A stage's output: the ``zarr.json`` of its group in a video's store (``{dataset}``
    and ``{recording}`` wildcards). The group is published whole (written aside, then
    renamed) with its metadata consolidated in that file; as a file output, not a
    directory(), it gets no .snakemake_timestamp file that Zarr would warn about."""
    return f"{RESULTS}/{{dataset}}/stores/{{recording}}.zarr/{group}/zarr.json"


def group_store(path):
    """The store of a group's ``zarr.json`` (``<store>/<group>/zarr.json``)."""
    return os.path.dirname(os.path.dirname(path))


def source_of(wildcards):
    """The files a recording's preparation reads (synthetic clips are built by the workflow)."""
    spec = config["datasets"][wildcards.dataset]
    if spec["format"] == "synth":
        base = f"{synth_root(wildcards.dataset)}/{wildcards.recording}"
        return {"video": f"{base}.avi", "ground_truth": f"{base}.csv"}
    return {}


# Relative to the working directory, so that moving or re-cloning a checkout together with
# its results (or with the working directory beside it) changes no job's inputs or params.
BUILTIN_WEIGHTS = Path(os.path.relpath(Path(workflow.basedir) / "src" / "distraction" / "weights"))


# The network rules' ``gpu`` resource: 1 where a GPU is visible, else 0, so that on a
# machine without one they are not run one at a time for a GPU they would not use.
GPUS = int(gpu_visible())


def model_file(task, kind):
    """The network file of a task: the shipped weights unless the config names a file."""
    setting = config["models"][f"{task}_{kind}"]
    if setting == "builtin":
        return str(BUILTIN_WEIGHTS / f"{task}_{kind}.keras")
    return setting


def litert_file(task, kind):
    """The network exported for the litert engine (none when the engine is keras): shipped
    beside the shipped weights, otherwise exported once by the export_litert rule."""
    if config["models"]["engine"] == "keras":
        return []
    if config["models"][f"{task}_{kind}"] == "builtin":
        return str(BUILTIN_WEIGHTS / f"{task}_{kind}.tflite")
    return f"{RESULTS}/models/{task}_{kind}.tflite"


def litert_options(wildcards, input):
    """``--can-litert``/``--lstm-litert`` of the infer rule (empty for the keras engine)."""
    if not input.can_litert:
        return ""
    return (
        f"--can-litert={shlex.quote(str(input.can_litert))} "
        f"--lstm-litert={shlex.quote(str(input.lstm_litert))}"
    )


# Training keys the workflow turns into inputs (which recordings), not settings of a job.
TRAINING_LISTS = ("datasets", "lstm_extra_datasets", "can_extra_datasets", "can_exclude")


def settings_json(task, *sections, drop=()):
    """The configuration sections a job reads, as the JSON its ``--settings`` option takes.

    The other task's keys, the training lists and the ``section.key`` names in ``drop`` are
    left out, so that changing them reruns none of this job's runs.
    """
    other = "br" if task == "hr" else "hr"
    dropped = {*drop, *(f"training.{key}" for key in TRAINING_LISTS)}

    def own(value, path):
        if isinstance(value, dict):
            return {
                k: own(v, f"{path}.{k}")
                for k, v in value.items()
                if k != other and not k.startswith(f"{other}_") and f"{path}.{k}" not in dropped
            }
        return value

    return json.dumps({s: own(config[s], s) for s in sections}, sort_keys=True, separators=(",", ":"))


def can_training_settings(task):
    """The CAN training job's sections: evaluation windows only when it selects by rate."""
    by_rate = config["training"]["can_select_by"][task] == "rate"
    sections = ("conditioning", "training", "seed", *(("evaluation",) if by_rate else ()))
    return settings_json(task, *sections, drop=("training.lstm_epochs",))


def status_files(wildcards):
    """Every video's status row: those evaluated, and those refused (REFUSED)."""
    return [
        f"{RESULTS}/{dataset}/status/{task}/{recording}.csv"
        for dataset, recordings in RECORDINGS.items()
        for recording in recordings
        for task in TASKS
    ] + [
        f"{RESULTS}/{dataset}/refused/{task}/{key}.csv"
        for dataset, refused in REFUSED.items()
        for key in refused
        for task in TASKS
    ]


def refused_setting(name):
    """A ``refused`` job's recording, source or problem (REFUSED)."""
    return lambda w: REFUSED[w.dataset][w.key][name]


def training_datasets():
    return config["training"]["datasets"] or list(config["datasets"])


def training_groups(group, extra=(), exclude=()):
    """A stage group's ``zarr.json`` of every training recording (and of the ``extra``
    datasets'), but those whose ``dataset/recording`` matches one of the ``exclude`` glob
    patterns."""
    return [
        f"{store_path(dataset, recording)}/{group}/zarr.json"
        for dataset in dict.fromkeys([*training_datasets(), *extra])
        for recording in RECORDINGS[dataset]
        if not any(fnmatch.fnmatchcase(f"{dataset}/{recording}", p) for p in exclude)
    ]


def can_training_groups(wildcards):
    """Prepared groups the task's CAN trains on."""
    training = config["training"]
    return training_groups(
        "prepared",
        training["can_extra_datasets"][wildcards.task],
        training["can_exclude"][wildcards.task],
    )


def lstm_training_groups(wildcards):
    """Prepared groups the task's denoiser trains on: the CAN's, then the denoiser-only ones."""
    training = config["training"]
    extra = [*training["can_extra_datasets"][wildcards.task], *training["lstm_extra_datasets"]]
    return training_groups("prepared", extra)


def evaluation_files(wildcards):
    return [
        f"{RESULTS}/{dataset}/eval/{task}/{recording}.csv"
        for dataset, recordings in RECORDINGS.items()
        for recording in recordings
        for task in TASKS
    ]


def figure_files():
    """Example figures of the first recording of each dataset."""
    return [
        f"{RESULTS}/reports/figures/{dataset}/{recordings[0]}.{task}.{kind}.png"
        for dataset, recordings in RECORDINGS.items()
        if recordings
        for task in TASKS
        for kind in ("masks", "waveforms")
    ]


def timeline_files(*kinds):
    """Every video's timeline outputs per task (rates, quality, waveforms, figure; HRV for
    HR), or only those of ``kinds``."""
    return [
        f"{RESULTS}/{dataset}/timeline/{task}/{recording}.{kind}"
        for dataset, recordings in RECORDINGS.items()
        for recording in recordings
        for task in TASKS
        for kind in kinds or ("rates.csv", "waveforms.csv", "hrv.csv", "rates.png")
        if kind != "hrv.csv" or task == "hr"
    ]


def all_targets():
    targets = [
        f"{RESULTS}/reports/summary.csv",
        f"{RESULTS}/reports/estimates.csv",
        *figure_files(),
        *timeline_files(),
    ]
    if config["reference"]["sample"]:
        targets.append(f"{RESULTS}/reference/reference_table.csv")
    if config["report"]["max_failed_fraction"] is not None:
        targets.append(f"{RESULTS}/reports/failure_check.txt")
    return targets


def print_headline():
    """The run's estimates per video (and errors where there is ground truth), printed as
    the very last thing of the run: Snakemake logs its log file's path and the run time
    after the onsuccess handler, so the table is printed when the process exits."""
    import atexit

    from distraction.headline import headline

    reports = Path(RESULTS) / "reports"
    if (reports / "estimates.csv").is_file():
        text = headline(reports)
        atexit.register(lambda: print(f"\n{text}", flush=True))
