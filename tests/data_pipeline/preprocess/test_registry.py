"""Tests for data_pipeline/preprocess/registry.py: names, params, order rules, cache text."""

from __future__ import annotations

import pytest

from data_pipeline.parts import DuplicateNameError, ParamsError, UnknownNameError
from data_pipeline.preprocess import (
    FINAL_STEPS,
    NO_PREPROCESSING_STEPS,
    PAPER_STEPS,
    PREPROCESSING_STEPS,
    STEPS,
    canonical_steps,
    step,
    validate_steps,
)
from data_pipeline.preprocess.registry import StepParams, register_step


def test_the_five_steps_of_the_paper_are_registered() -> None:
    assert STEPS.names() == ["crop_to_brain", "hu_window", "minmax", "remove_skull", "standardize"]


@pytest.mark.parametrize("name", STEPS.names())
def test_every_step_validates_with_its_defaults(name: str) -> None:
    assert isinstance(step(name).params, StepParams)


def test_table1_presets_are_the_paper_rows() -> None:
    assert PAPER_STEPS[1].params.method == "paper"
    assert [s.name for s in PAPER_STEPS] == [
        "hu_window", "remove_skull", "standardize", "minmax", "crop_to_brain"]
    assert [s.name for s in PREPROCESSING_STEPS] == [
        "hu_window", "remove_skull", "minmax", "crop_to_brain"]
    assert [s.name for s in NO_PREPROCESSING_STEPS] == ["hu_window", "minmax"]
    for steps in (PAPER_STEPS, PREPROCESSING_STEPS, NO_PREPROCESSING_STEPS):
        validate_steps(steps)


def test_unknown_name_is_a_key_error_with_a_suggestion() -> None:
    with pytest.raises(KeyError) as info:
        step("remove_skul")
    assert isinstance(info.value, UnknownNameError)
    assert "Did you mean 'remove_skull'" in str(info.value)
    assert "crop_to_brain" in str(info.value)  # the allowed names are listed


@pytest.mark.parametrize(
    ("name", "params", "fragment"),
    [
        ("hu_window", {"low": 80, "high": 0}, "low must be below high"),
        ("hu_window", {"width": 80}, "unknown parameter 'width'"),
        ("remove_skull", {"method": "bet"}, "method"),
        ("crop_to_brain", {"margin": -1}, "margin"),
        ("minmax", {"background": "grey"}, "background"),
    ],
)
def test_bad_params_are_value_errors_naming_the_param_and_the_step(name, params, fragment) -> None:
    with pytest.raises(ParamsError, match=fragment) as info:
        step(name, params)
    assert isinstance(info.value, ValueError)
    assert f"preprocessing step {name!r}" in str(info.value)


@pytest.mark.parametrize(
    ("names", "fragment"),
    [
        (["hu_window", "standardize", "remove_skull", "minmax"], "needs 'remove_skull' earlier"),
        (["hu_window", "crop_to_brain", "minmax"], "needs 'remove_skull' earlier"),
        (["hu_window", "remove_skull", "minmax", "standardize"], "must come before"),
        (["minmax", "hu_window"], "must come before"),
        (["hu_window", "remove_skull"], "lack 'minmax'"),
        (["hu_window", "hu_window", "minmax"], "appears twice"),
    ],
)
def test_order_rules(names: list[str], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        validate_steps([step(n) for n in names])


def test_canonical_text_fills_defaults_and_tells_configs_apart() -> None:
    plain = canonical_steps(NO_PREPROCESSING_STEPS)
    spelled = canonical_steps([step("hu_window", {"low": 0, "high": 80.0}), step("minmax")])
    assert plain == spelled
    wider = canonical_steps([step("hu_window", {"high": 90}), step("minmax")])
    assert wider != plain
    assert canonical_steps(PAPER_STEPS) != canonical_steps(FINAL_STEPS)  # the skull rule differs
    assert [s.name for s in PAPER_STEPS] == [s.name for s in FINAL_STEPS]


def test_a_name_cannot_be_registered_twice() -> None:
    with pytest.raises(DuplicateNameError, match="already registered"):
        register_step("minmax", params=StepParams)(lambda volume, params: volume)
