"""Checks of a configuration that a JSON schema cannot express, and of recording names.

Standard library only: the workflow imports this module when it parses the Snakefile (with
``src`` on ``sys.path``), before and without the package's dependencies, and
:func:`distraction.config.validate_config` calls it after the schema, so ``distraction
validate --config``, every stage's ``--settings`` and the workflow share one implementation.
Every problem is one line naming the config source and the key (or the file).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from distraction.errors import ConfigError, InputError

#: Longest file name (bytes) of the file systems the outputs are written to (NAME_MAX).
NAME_MAX = 255
#: The longest suffix the workflow appends to a recording's last name component
#: (``<name>.hr.waveforms.png`` of the example figures; ``.zarr``, ``.csv``, ``.log`` are shorter).
LONGEST_OUTPUT_SUFFIX = len(".hr.waveforms.png")
#: Tasks and the conditioning keys of each.
TASKS = ("hr", "br")


def check_config(config: Mapping[str, Any], source: str = "config") -> None:
    """Every cross-field check of a schema-validated configuration (defaults filled in).

    Raises
    ------
    ConfigError
        ``"<source>: <key>: <problem>"`` for the first problem found.
    """
    check_results(config, source)
    check_dataset_names(config, source)
    check_dataset_roots_given(config, source)
    check_training_datasets(config, source)
    check_bands(config, source)
    check_strides(config, source)


def check_results(config: Mapping[str, Any], source: str = "config") -> None:
    """``results`` names a folder every output is planned under (not the file-system root)."""
    results = config.get("results")
    if results is None:
        return
    if not str(results).strip():
        raise ConfigError(
            f"{source}: results: must not be empty (outputs would be planned at the "
            "file-system root)"
        )
    if str(results).startswith("-"):
        raise ConfigError(
            f"{source}: results: '{results}' starts with '-', which the jobs' command lines "
            "would read as an option (write ./{results})"
        )


def check_dataset_names(config: Mapping[str, Any], source: str = "config") -> None:
    """A dataset name is a folder under ``results``: not ``.``, ``..`` or a hidden name,
    which would put its outputs beside or above ``results``."""
    for name in config.get("datasets", {}):
        if str(name).startswith("."):
            raise ConfigError(
                f"{source}: datasets: name '{name}' must not start with '.' (its outputs "
                "would be written outside results or hidden)"
            )


def check_dataset_roots_given(config: Mapping[str, Any], source: str = "config") -> None:
    """Every dataset but a synthetic one names its ``root`` folder."""
    for name, spec in config.get("datasets", {}).items():
        if spec.get("format") != "synth" and not spec.get("root"):
            raise ConfigError(
                f"{source}: datasets/{name}: 'root' is required for format {spec.get('format')}"
            )


def check_training_datasets(config: Mapping[str, Any], source: str = "config") -> None:
    """The training lists name configured datasets."""
    training = config.get("training", {})
    lists = {
        "training/datasets": training.get("datasets", []),
        "training/lstm_extra_datasets": training.get("lstm_extra_datasets", []),
        **{
            f"training/can_extra_datasets/{task}": names
            for task, names in training.get("can_extra_datasets", {}).items()
        },
    }
    for key, names in lists.items():
        for name in names:
            if name not in config.get("datasets", {}):
                raise ConfigError(f"{source}: {key}: '{name}' is not a configured dataset")


def check_bands(config: Mapping[str, Any], source: str = "config") -> None:
    """Each task's pass band is ordered and below the Nyquist frequency of the rate it is
    applied at: the output rate ``fs_out`` (``fs_out`` at least twice the upper edge) and
    the frame rate of every synthetic dataset."""
    conditioning = config.get("conditioning", {})
    for task in TASKS:
        band = conditioning.get(f"{task}_band")
        if not band:
            continue
        key = f"conditioning/{task}_band"
        low, high = band
        if not low < high:
            raise ConfigError(
                f"{source}: {key}: low edge {low:g} Hz is not below high edge {high:g} Hz"
            )
        fs_out = conditioning.get(f"{task}_fs_out")
        if fs_out is not None and high >= fs_out / 2:
            raise ConfigError(
                f"{source}: {key}: high edge {high:g} Hz is at or above the Nyquist frequency "
                f"{fs_out / 2:g} Hz of conditioning/{task}_fs_out {fs_out:g} Hz (make fs_out "
                f"more than {2 * high:g})"
            )
        if config.get("task") not in (task, "both", None):
            continue
        for name, spec in config.get("datasets", {}).items():
            fps = spec.get("synth", {}).get("fps") if spec.get("format") == "synth" else None
            if fps is not None and high >= fps / 2:
                raise ConfigError(
                    f"{source}: datasets/{name}/synth/fps: {fps:g} fps has its Nyquist "
                    f"frequency {fps / 2:g} Hz at or below the high edge {high:g} Hz of {key}"
                )


def check_strides(config: Mapping[str, Any], source: str = "config") -> None:
    """Windows that leave gaps are refused: an evaluation stride longer than its window
    skips signal silently, a denoiser stride longer than its window leaves samples that no
    window covers (no denoised value)."""
    evaluation = config.get("evaluation", {})
    for task in TASKS:
        window, stride = evaluation.get(f"{task}_window_s"), evaluation.get(f"{task}_stride_s")
        if window is not None and stride is not None and stride > window:
            raise ConfigError(
                f"{source}: evaluation/{task}_stride_s: {stride:g} s is longer than the "
                f"{window:g}-s window (evaluation/{task}_window_s), leaving gaps"
            )
    denoise = config.get("denoise", {})
    window, stride = denoise.get("window"), denoise.get("stride")
    if window is not None and stride is not None and stride > window:
        raise ConfigError(
            f"{source}: denoise/stride: {stride} samples is longer than the window "
            f"({window}), leaving samples no window covers"
        )


def recording_name_problem(recording_id: str) -> str | None:
    """Why a recording id cannot be carried through the workflow's file names, or None.

    Line breaks and other control characters cannot pass Snakemake's wildcards (nor a
    one-line report); the last component becomes file names with suffixes of up to
    :data:`LONGEST_OUTPUT_SUFFIX` bytes, which must stay within :data:`NAME_MAX`.
    A leading ``-`` or spaces, quotes and non-ASCII letters are carried (the rules quote
    values and pass them as ``--option=value``).
    """
    bad = sorted({printable(c) for c in recording_id if _is_control(c)})
    if bad:
        return (
            f"the name holds control characters ({', '.join(bad)}), which the workflow "
            "cannot carry in its file names: rename the file"
        )
    last = recording_id.rsplit("/", 1)[-1]
    size = len(last.encode("utf-8", "surrogateescape"))
    if size + LONGEST_OUTPUT_SUFFIX > NAME_MAX:
        return (
            f"the name '{last[:40]}...' is {size} bytes; outputs add up to "
            f"{LONGEST_OUTPUT_SUFFIX} bytes to it and a file name may have at most {NAME_MAX}: "
            f"rename the file to at most {NAME_MAX - LONGEST_OUTPUT_SUFFIX} bytes"
        )
    return None


def check_recording_names(dataset: str, recordings: Iterable[tuple[str, Any]]) -> None:
    """Refuse the first recording of ``(recording_id, source path)`` pairs whose name
    the workflow cannot carry (:func:`recording_name_problem`).

    Raises
    ------
    InputError
        ``"<source>: <problem>"`` (the source printed with ``repr`` escapes, one line).
    """
    for recording_id, source in recordings:
        if problem := recording_name_problem(recording_id):
            raise InputError(f"{printable(str(source))}: {problem}")


def _is_control(character: str) -> bool:
    return ord(character) < 32 or ord(character) == 127


def printable(text: str) -> str:
    """``text`` with control characters escaped (``\\n``), so a message stays one line."""
    return "".join(repr(c)[1:-1] if _is_control(c) else c for c in text)
