"""Configuration loading and validation (JSON schema with defaults filled in)."""

from __future__ import annotations

import copy
import functools
import hashlib
import json
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from distraction import config_checks
from distraction.errors import ConfigError

#: The configuration schema: every key, its type and its one default. Shipped with the
#: package; the workflow validates against the same file (workflow/schemas links to it).
SCHEMA_PATH = Path(str(files("distraction") / "config.schema.yaml"))


def _with_defaults(validator_class: type) -> type:
    """Extend a jsonschema validator so that it fills in ``default`` values."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema and name not in instance:
                    instance[name] = json.loads(json.dumps(subschema["default"]))
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


def _format_error(error: jsonschema.ValidationError) -> str:
    where = "/".join(str(p) for p in error.absolute_path) or "<top level>"
    # The message quotes the offending value, which may be any size: one short line.
    return " ".join(f"{where}: {config_checks.bounded(error.message)}".splitlines())


def validate_config(
    config: dict[str, Any],
    *,
    source: str = "config",
    schema_path: Path | None = None,
    check_datasets: bool = True,
) -> dict[str, Any]:
    """Validate a configuration in place and fill in the schema's defaults.

    Parameters
    ----------
    config
        Parsed configuration mapping; modified in place.
    source
        Name used in error messages (normally the config file path).
    schema_path
        JSON schema in YAML; defaults to the package's :data:`SCHEMA_PATH`.
    check_datasets
        Check that the training lists name configured datasets (off for the sections a
        single stage receives, which carry no datasets).

    The schema is followed by the cross-field checks of
    :func:`distraction.config_checks.check_config` (band edges, strides, dataset names,
    ``results``), which the workflow also runs.

    Returns
    -------
    dict
        The same mapping, with defaults filled in.

    Raises
    ------
    ConfigError
        One line naming the config source, the offending key and the problem.
    """
    # Before the schema, whose messages quote values: no walk over a config that nested
    # YAML aliases expand to millions of values, and no NaN or infinity passing its bounds.
    config_checks.check_size(config, source)
    config_checks.check_numbers(config, source)
    schema = _schema(schema_path or SCHEMA_PATH)
    validator_class = _with_defaults(jsonschema.Draft202012Validator)
    # additionalProperties errors come first so a typo'd key is reported by name.
    errors = sorted(
        validator_class(schema).iter_errors(config), key=lambda e: list(e.absolute_path)
    )
    if errors:
        raise ConfigError(config_checks.bounded(f"{source}: {_format_error(errors[0])}"))
    if check_datasets:
        config_checks.check_config(config, source)
    else:
        config_checks.check_bands(config, source)
        config_checks.check_strides(config, source)
    return config


@functools.cache
def _schema(path: Path) -> dict[str, Any]:
    # Parsed once per process: every job validates its settings, and the job server's
    # children share the parse. The validator only reads it.
    return yaml.safe_load(Path(path).read_text())


def load_config(path: Path) -> dict[str, Any]:
    """Read a YAML config file, validate it and fill in defaults.

    Raises
    ------
    ConfigError
        If the file is missing, is not YAML, is not a mapping or fails the schema.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config ({exc.strerror or exc})") from exc
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else "invalid YAML"
        message = config_checks.bounded(f"{path}: not valid YAML ({first_line})")
        raise ConfigError(message) from exc
    if not isinstance(config, dict):
        raise ConfigError(f"{path}: top level must be a mapping of keys")
    return validate_config(config, source=str(path))


@functools.cache
def _default_config() -> dict[str, Any]:
    return validate_config({"datasets": {"_": {"format": "synth"}}}, source="schema defaults")


def default_config() -> dict[str, Any]:
    """Every setting at the schema's default (``datasets`` holds one placeholder dataset).

    The defaults have one home, the schema; the command line takes its defaults from here.
    """
    return copy.deepcopy(_default_config())


def config_hash(section: Any) -> str:
    """Short, stable hash of a (JSON-serialisable) config section, for provenance."""
    blob = json.dumps(section, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
