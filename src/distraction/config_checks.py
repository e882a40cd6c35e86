"""Checks of a configuration that a JSON schema cannot express, and of recording names.

Standard library only: the workflow imports this module when it parses the Snakefile (with
``src`` on ``sys.path``), before and without the package's dependencies, and
:func:`distraction.config.validate_config` calls it after the schema, so ``distraction
validate --config``, every stage's ``--settings`` and the workflow share one implementation.
Every problem is one line naming the config source and the key (or the file).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from distraction.errors import ConfigError

#: Longest file name (bytes) of the file systems the outputs are written to (NAME_MAX).
NAME_MAX = 255
#: The longest suffix the workflow appends to a recording's last name component
#: (``<name>.hr.waveforms.png`` of the example figures; ``.zarr``, ``.csv``, ``.log`` are shorter).
LONGEST_OUTPUT_SUFFIX = len(".hr.waveforms.png")
#: Tasks and the conditioning keys of each.
TASKS = ("hr", "br")
#: Largest magnitude of a number setting: beyond it no setting means anything (2**53, the
#: largest integer a float holds exactly), and 1e300 seconds or frames only break the stages.
MAX_NUMBER = 2.0**53
#: Most values a configuration may expand to through YAML aliases (a few hundred is usual):
#: nested aliases make a small file expand to millions, which no check should walk or print.
MAX_VALUES = 100_000
#: Longest string value of a configuration (PATH_MAX, the longest path).
MAX_STRING = 4096
#: Longest message of a configuration error (a value is quoted in it, cut to fit).
MAX_MESSAGE = 300


def bounded(message: str, limit: int = MAX_MESSAGE) -> str:
    """``message`` cut to ``limit`` characters (with '...'), so any error stays short."""
    return message if len(message) <= limit else message[: limit - 3] + "..."


def check_size(config: Any, source: str = "config") -> None:
    """Refuse a configuration that expands to more than :data:`MAX_VALUES` values, or
    holds a string longer than :data:`MAX_STRING` (before anything quotes it in a message).

    Counted over shared nodes once each (YAML aliases share them), so a file of nested
    aliases is refused in time linear in its size, before anything expands it.
    """
    counts: dict[int, int] = {}

    def count(node: Any) -> int:
        key = id(node)
        if key in counts:
            return counts[key]
        counts[key] = 1  # a cycle (recursive alias) counts once, then the limit ends it
        if isinstance(node, str) and len(node) > MAX_STRING:
            raise ConfigError(
                f"{source}: a value of {len(node)} characters ('{printable(node[:40])}...'); "
                f"no setting takes more than {MAX_STRING} (the longest path)"
            )
        children = node.values() if isinstance(node, Mapping) else node
        total = 1
        if isinstance(node, Mapping | list | tuple):
            for child in children:
                total += count(child)
                if total > MAX_VALUES:
                    break
        counts[key] = total
        return total

    try:
        total = count(config)
    except RecursionError:
        raise ConfigError(f"{source}: nested too deeply to be a configuration") from None
    if total > MAX_VALUES:
        raise ConfigError(
            f"{source}: expands to more than {MAX_VALUES} values (nested YAML aliases?); "
            "write the settings out"
        )


def check_numbers(config: Any, source: str = "config", path: str = "") -> None:
    """Every number is finite and at most :data:`MAX_NUMBER` in size: a JSON schema's
    bounds let NaN through (no comparison with NaN fails), and infinity or 1e300 where a
    setting has no upper bound."""
    if isinstance(config, Mapping):
        for key, value in config.items():
            check_numbers(value, source, f"{path}/{key}" if path else str(key))
    elif isinstance(config, list | tuple):
        for index, value in enumerate(config):
            check_numbers(value, source, f"{path}/{index}")
    elif isinstance(config, int | float) and not isinstance(config, bool):
        if not math.isfinite(config):
            raise ConfigError(f"{source}: {path or '<top level>'}: {config} is not a finite number")
        if abs(config) > MAX_NUMBER:
            raise ConfigError(
                bounded(f"{source}: {path}: {config:g} is too large (at most {MAX_NUMBER:g})")
            )


def check_config(config: Mapping[str, Any], source: str = "config") -> None:
    """Every cross-field check of a schema-validated configuration (defaults filled in).

    Raises
    ------
    ConfigError
        ``"<source>: <key>: <problem>"`` for the first problem found.
    """
    check_numbers(config, source)
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
    path = Path(results)
    if path.is_symlink() and not path.exists():
        raise ConfigError(
            f"{source}: results: {results} is a symbolic link to {os.readlink(path)}, "
            "which does not exist"
        )
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{source}: results: {results} exists and is not a folder")
    resolved = path.resolve()
    if resolved == resolved.parent:
        raise ConfigError(
            f"{source}: results: {results} is the file-system root (outputs need a folder "
            "of their own)"
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
    """Windows that leave gaps are refused: an evaluation stride (or a timeline step)
    longer than its window skips signal silently, a denoiser stride longer than its window
    leaves samples that no window covers (no denoised value)."""
    evaluation = config.get("evaluation", {})
    for task in TASKS:
        window, stride = evaluation.get(f"{task}_window_s"), evaluation.get(f"{task}_stride_s")
        if window is not None and stride is not None and stride > window:
            raise ConfigError(
                f"{source}: evaluation/{task}_stride_s: {stride:g} s is longer than the "
                f"{window:g}-s window (evaluation/{task}_window_s), leaving gaps"
            )
    timeline = config.get("timeline", {})
    for task in TASKS:
        window, step = timeline.get(f"{task}_window_s"), timeline.get(f"{task}_step_s")
        if window is not None and step is not None and step > window:
            raise ConfigError(
                f"{source}: timeline/{task}_step_s: {step:g} s is longer than the "
                f"{window:g}-s window (timeline/{task}_window_s), leaving gaps"
            )
    denoise = config.get("denoise", {})
    window, stride = denoise.get("window"), denoise.get("stride")
    if window is not None and stride is not None and stride > window:
        raise ConfigError(
            f"{source}: denoise/stride: {stride} samples is longer than the window "
            f"({window}), leaving samples no window covers"
        )


#: Characters Snakemake reads in a file name: ``{...}`` wildcards, ``<...>`` path variables.
SNAKEMAKE_SPECIAL = "{}<>"
#: A name ending in 20 or more repeats of one substring: Snakemake's PeriodicityDetector
#: refuses such a wildcard value (PeriodicWildcardError) and stops the whole run.
PERIODIC_TAIL = re.compile(r"(.+?)\1{19,}$", re.DOTALL)


def recording_name_problem(recording_id: str) -> str | None:
    """Why a recording id cannot be carried through the workflow's file names, or None.

    Line breaks and other control characters cannot pass Snakemake's wildcards (nor a
    one-line report), nor :data:`SNAKEMAKE_SPECIAL` characters or a :data:`PERIODIC_TAIL`;
    the last component becomes file names with suffixes of up to
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
    if special := sorted(set(recording_id) & set(SNAKEMAKE_SPECIAL)):
        return (
            f"the name holds {' '.join(special)}, which Snakemake reads in file names as "
            "wildcards or path variables: rename the file"
        )
    last = recording_id.rsplit("/", 1)[-1]
    size = len(last.encode("utf-8", "surrogateescape"))
    if size + LONGEST_OUTPUT_SUFFIX > NAME_MAX:
        return (
            f"the name '{last[:40]}...' is {size} bytes; outputs add up to "
            f"{LONGEST_OUTPUT_SUFFIX} bytes to it and a file name may have at most {NAME_MAX}: "
            f"rename the file to at most {NAME_MAX - LONGEST_OUTPUT_SUFFIX} bytes"
        )
    if periodic := PERIODIC_TAIL.search(recording_id):
        return (
            f"the name ends in {len(periodic.group(0)) // len(periodic.group(1))} repeats of "
            f"'{periodic.group(1)[:20]}', which Snakemake refuses in a wildcard (it suspects an "
            "infinite recursion): rename the file"
        )
    return None


def _is_control(character: str) -> bool:
    return ord(character) < 32 or ord(character) == 127


def printable(text: str) -> str:
    """``text`` with control characters escaped (``\\n``), so a message stays one line."""
    return "".join(repr(c)[1:-1] if _is_control(c) else c for c in text)
