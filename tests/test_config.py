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


def test_config_yaml_holds_only_what_a_user_changes(repo: Path) -> None:
    """Every default lives in the schema alone: config.yaml names the datasets, the task and
    the results folder, and restates no other setting (a copy would drift from it)."""
    text = yaml.safe_load((repo / "config.yaml").read_text())
    assert set(text) == {"task", "results", "datasets"}


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


SYNTH = {"format": "synth"}


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (
            {"conditioning": {"hr_band": [2.5, 0.7]}},
            "conditioning/hr_band: low edge 2.5 Hz is not below high edge 0.7 Hz",
        ),
        (
            {"conditioning": {"br_fs_out": 1}},
            "conditioning/br_band: high edge 0.5 Hz is at or above the Nyquist frequency 0.5 Hz "
            "of conditioning/br_fs_out 1 Hz",
        ),
        (
            {
                "datasets": {"d": {"format": "synth", "synth": {"fps": 15}}},
                "conditioning": {"hr_band": [0.7, 8]},
            },
            "datasets/d/synth/fps: 15 fps has its Nyquist frequency 7.5 Hz at or below the "
            "high edge 8 Hz of conditioning/hr_band",
        ),
        (
            {"datasets": {"d": {"format": "synth", "synth": {"fps": 120}}}},
            "datasets/d/synth/fps: 120 is greater than the maximum of 60",
        ),
        (
            {"evaluation": {"hr_window_s": 10, "hr_stride_s": 20}},
            "evaluation/hr_stride_s: 20 s is longer than the 10-s window",
        ),
        ({"denoise": {"stride": 90}}, "denoise/stride: 90 samples is longer than the window"),
        (
            {"prepare": {"chunk_frames": 100000}},
            "prepare/chunk_frames: 100000 is greater than the maximum of 4096",
        ),
        ({"datasets": {"..": SYNTH}}, "datasets: name '..' must not start with '.'"),
        ({"datasets": {".": SYNTH}}, "datasets: name '.' must not start with '.'"),
        ({"results": ""}, "results: must not be empty"),
        (
            {"datasets": {"mine": {"format": "generic"}}},
            "datasets/mine: 'root' is required for format generic",
        ),
        ({"models": {"hr_can": "nowhere/can.keras"}}, "models/hr_can: nowhere/can.keras: no such"),
        ({"results": "a_file/results"}, "results: a_file/results cannot be written"),
        # NaN passes every bound of a JSON schema, infinity and 1e300 every lower one.
        ({"evaluation": {"hr_window_s": float("nan")}}, "evaluation/hr_window_s: nan is not a"),
        ({"denoise": {"window": float("inf")}}, "denoise/window: inf is not a finite number"),
        (
            {"training": {"can_epochs": 1e300}},
            "training/can_epochs: 1e+300 is too large (at most 9.0072e+15)",
        ),
        (
            {"timeline": {"br_window_s": 30, "br_step_s": 40}},
            "timeline/br_step_s: 40 s is longer than the 30-s window (timeline/br_window_s)",
        ),
        ({"results": "/"}, "results: / is the file-system root"),
        ({"results": "a_file"}, "results: a_file exists and is not a folder"),
        ({"results": "dangling"}, "results: dangling is a symbolic link to nowhere, which does"),
    ],
)
def test_validate_refuses_what_the_schema_cannot_see(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    config: dict,
    expected: str,
) -> None:
    from distraction.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "a_file").write_text("")
    (tmp_path / "dangling").symlink_to("nowhere")
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"datasets": {"d": SYNTH}, **config}))
    assert main(["validate", "--config", str(path)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == f"distraction validate: error: {path}: {expected}" or line.startswith(
        f"distraction validate: error: {path}: {expected}"
    )


def test_stage_settings_get_the_cross_field_checks() -> None:
    from distraction.settings import config_from_json

    with pytest.raises(ConfigError, match=r"^settings: conditioning/hr_band: low edge"):
        config_from_json('{"conditioning": {"hr_band": [3, 1]}}')


def test_config_checks_import_only_the_standard_library(repo: Path) -> None:
    import subprocess
    import sys

    code = (
        "import sys; sys.path.insert(0, 'src'); import distraction.config_checks; "
        "import distraction.failures; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'yaml', 'numpy', 'jsonschema', 'pandas'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_nested_yaml_aliases_give_one_short_line(tmp_path: Path, capsys) -> None:
    from distraction.cli import main

    # Nine levels of nine aliases: a few hundred bytes that expand to 9**9 values.
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    path = tmp_path / "aliases.yaml"
    path.write_text("\n".join([*lines, "datasets: *a8", ""]))
    assert len(path.read_bytes()) < 600
    assert main(["validate", "--config", str(path)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == (
        f"distraction validate: error: {path}: expands to more than 100000 values (nested "
        "YAML aliases?); write the settings out"
    )


def test_a_huge_value_is_refused_before_any_message_quotes_it() -> None:
    with pytest.raises(ConfigError) as error:
        validate_config({"datasets": {"d": {"format": "synth"}}, "results": "r" * 5000})
    assert str(error.value) == (
        f"config: a value of 5000 characters ('{'r' * 40}...'); no setting takes more "
        "than 4096 (the longest path)"
    )


def test_a_config_error_is_at_most_a_thousand_characters() -> None:
    with pytest.raises(ConfigError) as error:
        validate_config({"datasets": {"d": {"format": "synth"}}, "task": "x" * 4000})
    assert len(str(error.value)) <= 300 and str(error.value).endswith("...")
    assert len(str(ConfigError("y" * 5000))) == 1000


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--chunk-frames=4"], "prepare/chunk_frames: 4 is less than the minimum of 16"),
        (["--chunk-frames=99999999"], "prepare/chunk_frames: 99999999 is greater than the max"),
    ],
)
def test_command_line_overrides_meet_the_schema(
    tmp_path: Path, capsys, options: list[str], expected: str
) -> None:
    from distraction.cli import main

    args = ["prepare", "--format=generic", f"--root={tmp_path}", "--recording=s01/a"]
    assert main([*args, f"--store={tmp_path / 's.zarr'}", *options]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"distraction prepare: error: command line: {expected}")
    assert not (tmp_path / "s.zarr").exists()


def test_task_options_meet_the_cross_field_checks() -> None:
    from distraction.settings import task_settings

    with pytest.raises(ConfigError, match=r"^command line: conditioning/hr_fs_out: nan is not a"):
        task_settings("hr", fs_out=float("nan"))
    with pytest.raises(ConfigError, match=r"^command line: timeline/hr_step_s: 20 s is longer"):
        task_settings("hr", timeline_step_s=20.0)
    assert task_settings("hr", fs_out=40.0).fs_out == 40.0


def test_training_options_meet_the_schema() -> None:
    from distraction.settings import training_settings

    with pytest.raises(ConfigError, match=r"^command line: training/can_epochs: 0 is less than"):
        training_settings("hr", can_epochs=0)
    assert training_settings("br", can_epochs=3, can_select_by="rate").can_epochs == 3
