"""Identity splits: stratified, disjoint, and the ones the configs use."""

from __future__ import annotations

import csv
import importlib.util
from collections import Counter
from pathlib import Path

import pytest
import yaml

from distraction.splits import stratified_split

ROOT = Path(__file__).resolve().parents[1]
FACES = ROOT.parent / "shared" / "faces"


def test_each_stratum_is_shared_out_in_its_fractions():
    # 10 items of stratum a, 5 of b: 60/20/20 gives a 6/2/2 and b 3/1/1.
    items = [f"a{i}" for i in range(10)] + [f"b{i}" for i in range(5)]
    strata = ["a"] * 10 + ["b"] * 5
    parts = stratified_split(items, strata, {"train": 0.6, "val": 0.2, "test": 0.2}, seed=3)
    counts = {name: Counter(item[0] for item in part) for name, part in parts.items()}
    assert counts["train"] == {"a": 6, "b": 3}
    assert counts["val"] == {"a": 2, "b": 1}
    assert counts["test"] == {"a": 2, "b": 1}
    assert sorted(item for part in parts.values() for item in part) == sorted(items)


def test_rounding_is_balanced_across_strata():
    # Three strata of 3 at 60/20/20: each gives 1.8/0.6/0.6; the remainders must not all
    # go to the same part, so both small parts receive items overall.
    items = [f"{s}{i}" for s in "xyz" for i in range(3)]
    strata = [item[0] for item in items]
    parts = stratified_split(items, strata, {"train": 0.6, "val": 0.2, "test": 0.2}, seed=0)
    assert len(parts["val"]) >= 1 and len(parts["test"]) >= 1
    assert len(parts["train"]) + len(parts["val"]) + len(parts["test"]) == 9


def test_split_is_deterministic_and_refuses_bad_input():
    items, strata = [f"i{k}" for k in range(20)], ["s"] * 20
    fractions = {"a": 0.5, "b": 0.5}
    assert stratified_split(items, strata, fractions, 1) == stratified_split(
        items, strata, fractions, 1
    )
    assert stratified_split(items, strata, fractions, 1) != stratified_split(
        items, strata, fractions, 2
    )
    with pytest.raises(ValueError, match="unique"):
        stratified_split(["x", "x"], ["s", "s"], fractions, 0)
    with pytest.raises(ValueError, match="positive"):
        stratified_split(["x"], ["s"], {"a": 0.0}, 0)


def _config_names(name: str) -> dict[str, list[str]]:
    config = yaml.safe_load((ROOT / "workflow" / "configs" / name).read_text())
    return {k: v["synth"]["photo_names"] for k, v in config["datasets"].items()}


def test_configs_use_disjoint_identities_of_the_split():
    train = _config_names("train_faces.yaml")
    test = _config_names("faces_test.yaml")["faces_test"]
    assert _config_names("faces_validation.yaml")["faces_validation"] == train["faces_validation"]
    sets = [set(train["faces_train"]), set(train["faces_validation"]), set(test)]
    assert [len(s) for s in sets] == [36, 12, 12]
    assert not (sets[0] & sets[1]) and not (sets[0] & sets[2]) and not (sets[1] & sets[2])


def test_configs_hold_what_the_split_tool_gives():
    if not (FACES / "tones.csv").is_file():
        pytest.skip(f"{FACES} is absent (the shared photo set)")
    spec = importlib.util.spec_from_file_location("split_faces", ROOT / "tools" / "split_faces.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    split = module.face_split(FACES)
    train = _config_names("train_faces.yaml")
    assert split["train"] == train["faces_train"]
    assert split["validation"] == train["faces_validation"]
    assert split["test"] == _config_names("faces_test.yaml")["faces_test"]
    # Every skin tone is in the training and the test identities.
    with (FACES / "tones.csv").open(newline="") as handle:
        tone = {row["file"]: row["visual_tone"] for row in csv.DictReader(handle)}
    for part in ("train", "test"):
        assert {tone[f] for f in split[part]} == {"light", "medium", "medium-dark", "dark"}
