"""Tests of platform/config/errors.py: YAML paths, did-you-mean and the one-line format."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError

from platform.config import load_sweep
from platform.config.errors import (
    NO_VALUE,
    ConfigError,
    Problem,
    did_you_mean,
    format_path,
    keys_at,
    problems_from_validation,
)


@pytest.mark.parametrize(
    ("loc", "text"),
    [
        (("variants", 2, "model", "se_ratio"), "variants[2].model.se_ratio"),
        (("cv", "run_folds", 0), "cv.run_folds[0]"),
        (("search", "space", "model.se_ratio", "choice"), 'search.space["model.se_ratio"].choice'),
        ((0,), "[0]"),
        (("sampler", "label_probabilities", 3), "sampler.label_probabilities[3]"),
    ],
)
def test_format_path(loc: tuple[str | int, ...], text: str) -> None:
    assert format_path(loc) == text


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("lerning_rate", "lr"),         # a typo of a synonym
        ("learning-rate", "lr"),        # dash instead of underscore
        ("LR", "lr"),                   # case
        ("iteratons", "iterations"),    # a plain typo
        ("n_folds", "folds"),           # a synonym
        ("zzz", None),                  # nothing close
        (3, None),                      # not text
    ],
)
def test_did_you_mean(typed: object, expected: str | None) -> None:
    knobs = ["lr", "weight_decay", "iterations", "folds", "name"]
    assert did_you_mean(typed, knobs) == expected


def test_problem_renders_every_part_in_order() -> None:
    problem = Problem("f.yaml", ("model", "norm"), "unknown norm name", got="bach",
                      allowed=("batch", "instance"), suggestion="batch")
    assert str(problem) == ("f.yaml: model.norm: unknown norm name; got 'bach'; "
                            "allowed: batch, instance; did you mean 'batch'?")
    assert str(Problem("f.yaml", (), "empty file")) == "f.yaml: empty file"
    assert str(Problem("f.yaml", ("x",), "missing", got=NO_VALUE)) == "f.yaml: x: missing"


def test_long_values_are_shortened() -> None:
    text = str(Problem("f", ("x",), "bad", got="a" * 500))
    assert len(text) < 120 and text.endswith("...")


def test_config_error_is_a_value_error_with_one_line_per_problem() -> None:
    error = ConfigError([Problem("f", ("a",), "one"), "f: b: two"])
    assert isinstance(error, ValueError)
    assert str(error) == "f: a: one\nf: b: two"
    assert error.problems == ("f: a: one", "f: b: two")


class _Inner(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    lr: float = 1.0
    steps: tuple[int, ...] = ()


class _Outer(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    inner: _Inner = _Inner()
    items: list[_Inner] = []


def test_keys_at_walks_models_lists_and_optionals() -> None:
    assert keys_at(_Outer, ()) == ("inner", "items")
    assert keys_at(_Outer, ("inner",)) == ("lr", "steps")
    assert keys_at(_Outer, ("items", 3)) == ("lr", "steps")
    assert keys_at(_Outer, ("inner", "lr")) == ()


def test_problems_from_validation_translates_pydantic_errors() -> None:
    with pytest.raises(ValidationError) as caught:
        _Outer.model_validate({"items": [{"lr": "x"}, {"lerning_rate": 2.0}]})
    lines = [str(p) for p in problems_from_validation(caught.value, "f.yaml", _Outer)]
    assert lines == [
        "f.yaml: items[0].lr: input should be a valid number; got 'x'",
        "f.yaml: items[1].lerning_rate: unknown key 'lerning_rate'; allowed: lr, steps; "
        "did you mean 'lr'?",
    ]

TINY = Path(__file__).resolve().parents[3] / "sweeps" / "tiny.yaml"


def test_a_password_written_into_a_uri_is_not_printed() -> None:
    # Issue 12: credentials never reach logs; the refusal names the fix, not the password.
    for override in ("tracking.uri=http://admin:hunter2@mlflow:5000",
                     "ray.storage_path=s3://AKIA:hunter2@bucket/sweeps"):
        with pytest.raises(ConfigError) as caught:
            load_sweep(TINY, [override])
        assert "hunter2" not in str(caught.value) and "***@" in str(caught.value)
