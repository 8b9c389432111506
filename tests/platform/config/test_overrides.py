"""Tests of platform/config/overrides.py: parsing ``path=value`` and where it lands.

Precedence as a whole (defaults < base < variant < command line) is tested through
``load_sweep`` in config/test_sweep.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from platform.config.errors import ConfigError
from platform.config.overrides import apply_overrides, parse_override, parse_path

TOP = ("name", "data", "cv", "base", "variants", "search")


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("cv.folds", ("cv", "folds")),
        ("variants[2].model.se_ratio", ("variants", 2, "model", "se_ratio")),
        ("variants.final.model.se", ("variants", "final", "model", "se")),
        ('search.space["model.se_ratio"].choice', ("search", "space", "model.se_ratio", "choice")),
        ("search.space['optimizer.lr']", ("search", "space", "optimizer.lr")),
    ],
)
def test_parse_path(text: str, path: tuple[str | int, ...]) -> None:
    assert parse_path(text) == path


@pytest.mark.parametrize("text", ["", ".cv", "cv..folds", "cv.folds[x]", "cv folds"])
def test_parse_path_rejects_malformed(text: str) -> None:
    with pytest.raises(ValueError):
        parse_path(text)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("cv.folds=2", 2),
        ("optimizer.lr=1.0e-3", 1.0e-3),
        ("model.se=false", False),
        ("cv.run_folds=[0, 2]", [0, 2]),
        ("tracking.uri=", None),
        ("tracking.uri=sqlite:///a=b.db", "sqlite:///a=b.db"),
        ("name=ablation", "ablation"),
    ],
)
def test_parse_override_reads_the_value_as_yaml(text: str, value: Any) -> None:
    assert parse_override(text).value == value


def test_parse_override_needs_an_equals_sign() -> None:
    with pytest.raises(ValueError, match="expected path=value"):
        parse_override("cv.folds")


def test_shorthand_sets_base_and_every_variant_without_touching_the_input() -> None:
    raw = {"name": "s", "variants": [{"name": "a", "train": {"iterations": 5}}, {"name": "b"}]}
    data, origins = apply_overrides(raw, ["train.iterations=9"], TOP)
    assert data["base"] == {"train": {"iterations": 9}}
    assert [v["train"]["iterations"] for v in data["variants"]] == [9, 9]
    assert raw["variants"][0]["train"]["iterations"] == 5 and "base" not in raw
    assert [o.target for o in origins] == [("base", "train", "iterations"),
                                           ("variants", 0, "train", "iterations"),
                                           ("variants", 1, "train", "iterations")]
    assert {o.path for o in origins} == {("train", "iterations")}


def test_variant_by_name_and_index() -> None:
    raw = {"variants": [{"name": "a"}, {"name": "b"}]}
    data, _ = apply_overrides(raw, ["variants.b.model.se=false", "variants[0].loss.eps=0.1"], TOP)
    assert data["variants"][1]["model"] == {"se": False}
    assert data["variants"][0]["loss"] == {"eps": 0.1}


def test_null_section_becomes_a_mapping() -> None:
    data, _ = apply_overrides({"search": None}, ['search.space["model.se"].choice=[true]'], TOP)
    assert data["search"] == {"space": {"model.se": {"choice": [True]}}}


def test_every_bad_override_is_listed() -> None:
    raw = {"name": "s", "variants": [{"name": "a"}]}
    with pytest.raises(ConfigError) as caught:
        apply_overrides(raw, ["modle.se=1", "cv.folds", "name.x=1", "variants[3].model.se=1",
                              "cv.folds=[1"], TOP)
    lines = caught.value.problems
    assert len(lines) == 5
    assert lines[0].startswith("override 'modle.se=1': modle: unknown key 'modle'")
    assert lines[0].endswith("did you mean 'model'?")
    assert lines[1] == "override 'cv.folds': expected path=value, such as train.iterations=200"
    assert lines[2] == "override 'name.x=1': name.x: cannot set 'x' inside a str"
    assert "no variant at index 3 (the file has 1)" in lines[3]
    assert "the value is not valid YAML" in lines[4]
