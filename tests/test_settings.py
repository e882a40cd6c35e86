"""Every default has one home, the configuration schema: the command line's defaults and the
typed settings of the stages are read from it."""

from __future__ import annotations

import argparse
import json

import pytest
import yaml

from distraction.cli import build_parser, task_settings_of
from distraction.config import SCHEMA_PATH
from distraction.settings import task_settings, training_settings


def _schema_defaults() -> dict:
    """Each section's defaults, read from the schema file itself (not through the code)."""
    properties = yaml.safe_load(SCHEMA_PATH.read_text())["properties"]

    def defaults(node: dict) -> dict:
        return {
            key: defaults(sub) if "properties" in sub else sub.get("default")
            for key, sub in node["properties"].items()
        }

    return {
        key: defaults(node) if "properties" in node else node.get("default")
        for key, node in properties.items()
        if key != "datasets"
    }


SCHEMA = _schema_defaults()


def _subparser(name: str) -> argparse.ArgumentParser:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices[name]


def _default(command: str, dest: str):
    return next(a.default for a in _subparser(command)._actions if a.dest == dest)


@pytest.mark.parametrize("task", ["hr", "br"])
def test_task_settings_are_the_schema_defaults(task: str) -> None:
    settings = task_settings(task)
    conditioning, evaluation = SCHEMA["conditioning"], SCHEMA["evaluation"]
    assert settings.band == tuple(conditioning[f"{task}_band"])
    assert settings.detrend_lambda == conditioning[f"{task}_detrend_lambda"]
    assert settings.fs_out == conditioning[f"{task}_fs_out"]
    assert settings.threshold == SCHEMA["corruption"]["threshold"]
    assert settings.inverse_mask == SCHEMA["corruption"]["inverse_mask"]
    assert settings.denoise_window == SCHEMA["denoise"]["window"]
    assert settings.denoise_stride == SCHEMA["denoise"]["stride"]
    assert settings.overlap == SCHEMA["denoise"]["overlap"]
    assert settings.cancel_corruption == SCHEMA["denoise"]["cancel_corruption"][task]
    assert settings.window_s == evaluation[f"{task}_window_s"]
    assert settings.stride_s == evaluation[f"{task}_stride_s"]
    assert settings.methods == tuple(evaluation["methods"])
    assert settings.baseline_region == evaluation["baseline_region"]
    assert settings.seed == SCHEMA["seed"]
    training = training_settings(task)
    assert training.can_epochs == SCHEMA["training"]["can_epochs"]
    assert training.lstm_epochs == SCHEMA["training"]["lstm_epochs"]
    assert training.can_select_by == SCHEMA["training"]["can_select_by"][task]


@pytest.mark.parametrize(
    ("command", "required"),
    [
        ("infer", ["--can-model", "c", "--lstm-model", "l"]),
        ("infer-can", ["--model", "c"]),
        ("corruption", []),
        ("denoise", ["--model", "l"]),
        ("evaluate", ["--output", "o.csv"]),
    ],
)
@pytest.mark.parametrize("task", ["hr", "br"])
def test_the_command_line_resolves_to_the_schema_defaults(
    command: str, required: list[str], task: str
) -> None:
    args = build_parser().parse_args([command, "--store", "s", "--task", task, *required])
    assert task_settings_of(args) == task_settings(task)


def test_command_line_defaults_equal_the_schema() -> None:
    for command in ("infer", "infer-can", "denoise"):
        assert _default(command, "batch_size") == SCHEMA["models"]["batch_size"]
        assert _default(command, "engine") == SCHEMA["models"]["engine"]
    from distraction.settings import prepare_settings

    prepare = prepare_settings()
    keys = ("crop", "chunk_frames", "detect_every", "flow_every", "face_scale", "track_smoothing_s")
    for key in keys:
        assert getattr(prepare, key) == SCHEMA["prepare"][key]
    assert _default("prepare", "crop") is None and _default("prepare", "chunk_frames") is None
    assert _default("synth", "seed") == SCHEMA["seed"]
    # Options that override a setting have no default of their own: the schema's applies.
    for command in ("infer", "evaluate", "train-can", "train-lstm"):
        for action in _subparser(command)._actions:
            if action.dest in ("band", "threshold", "denoise_window", "epochs", "window_s"):
                assert action.default is None, (command, action.dest)


def test_settings_json_overrides_and_options_override_it() -> None:
    sections = {"conditioning": {"hr_band": [0.8, 3.0]}, "corruption": {"threshold": 0.2}}
    args = build_parser().parse_args(
        ["corruption", "--store", "s", "--task", "hr", "--settings", json.dumps(sections)]
    )
    settings = task_settings_of(args)
    assert settings.band == (0.8, 3.0) and settings.threshold == 0.2
    assert settings.detrend_lambda == SCHEMA["conditioning"]["hr_detrend_lambda"]
    args.threshold = 0.3
    assert task_settings_of(args).threshold == 0.3


def test_a_wrong_setting_is_named() -> None:
    from distraction.errors import ConfigError
    from distraction.settings import config_from_json

    with pytest.raises(ConfigError, match="corruption/threshold"):
        config_from_json(json.dumps({"corruption": {"threshold": 2}}))
    with pytest.raises(ConfigError, match="not valid JSON"):
        config_from_json("{oops")


def test_training_sections_name_datasets_the_stage_does_not_see() -> None:
    # The workflow passes a training job its training section, whose dataset lists name the
    # run's datasets; the stage has none of them and must not reject the names.
    from distraction.settings import config_from_json

    sections = {"training": {"datasets": ["tr"], "can_epochs": 3}, "seed": 4}
    settings = training_settings("hr", config_from_json(json.dumps(sections)))
    assert (settings.can_epochs, settings.seed) == (3, 4)
