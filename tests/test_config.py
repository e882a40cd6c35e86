from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from distraction.config import SCHEMA_PATH, config_hash, load_config, validate_config
from distraction.errors import ConfigError


def test_default_config_validates_and_fills_defaults(repo: Path) -> None:
    config = load_config(repo / "config.yaml")
    assert config["task"] == "hr"
    # Keys absent from config.yaml come from the schema.
    assert config["denoise"]["window"] == 60
    assert config["denoise"]["stride"] == 30
    assert config["conditioning"]["hr_band"] == [0.7, 2.5]
    assert config["datasets"]["demo"]["synth"]["fps"] == 30
    assert config["training"]["folds"] == 4


def test_unknown_key_is_named(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        yaml.safe_dump({"datasets": {"d": {"format": "synth"}}, "evaluation": {"hr_windw_s": 3}})
    )
    with pytest.raises(ConfigError, match=r"c\.yaml: evaluation: .*hr_windw_s"):
        load_config(path)


def test_wrong_type_is_named(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"myconf: evaluation/hr_window_s: 'thirty' is not of type 'number'"
    ):
        validate_config(
            {"datasets": {"d": {"format": "synth"}}, "evaluation": {"hr_window_s": "thirty"}},
            source="myconf",
        )


def test_bad_enum_and_missing_datasets() -> None:
    with pytest.raises(ConfigError, match="task: 'pulse' is not one of"):
        validate_config({"datasets": {"d": {"format": "synth"}}, "task": "pulse"})
    with pytest.raises(ConfigError, match="'datasets' is a required property"):
        validate_config({"task": "hr"})


def test_unreadable_and_invalid_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing\.yaml: cannot read config"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("task: [hr\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: not valid YAML"):
        load_config(bad)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("42\n")
    with pytest.raises(ConfigError, match=r"scalar\.yaml: top level must be a mapping"):
        load_config(scalar)


def test_config_hash_is_order_independent() -> None:
    assert config_hash({"a": 1, "b": [1, 2]}) == config_hash({"b": [1, 2], "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})


def test_schema_offers_exactly_the_synthetic_conditions(repo: Path) -> None:
    from distraction.synth import CONDITIONS

    schema = yaml.safe_load(SCHEMA_PATH.read_text())
    synth = schema["properties"]["datasets"]["additionalProperties"]["properties"]["synth"]
    assert set(synth["properties"]["conditions"]["items"]["enum"]) == set(CONDITIONS)
