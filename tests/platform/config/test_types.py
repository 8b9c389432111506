"""Tests of platform/config/types.py: strict shared field types and their error context."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from pydantic import ValidationError

from data_pipeline.parts import int_keys
from platform.config.types import Section, VolumeShape, fail, one_of


class _Knobs(Section):
    amp: Annotated[bool | str, one_of(True, False, "auto")] = "auto"
    shape: VolumeShape = (32, 32, 32)


def _error(**values: Any) -> dict[str, Any]:
    with pytest.raises(ValidationError) as caught:
        _Knobs.model_validate(values)
    (error,) = caught.value.errors()
    return dict(error)


def test_one_of_is_exact_about_types() -> None:
    assert _Knobs(amp=False).amp is False
    error = _error(amp=0)
    assert error["ctx"]["allowed"] == ("true", "false", "auto") and error["input"] == 0


def test_shape_takes_a_yaml_list_of_three_bounded_sizes() -> None:
    assert _Knobs.model_validate({"shape": [40, 50, 60]}).shape == (40, 50, 60)
    assert "expected 3 sizes" in _error(shape=[40, 50])["msg"]
    assert _error(shape=[40, 50, 1025])["loc"] == ("shape", 2)


def test_section_is_strict_frozen_and_closed() -> None:
    assert _error(shape=["40", 50, 60])["type"] == "int_type"
    assert _error(colour="red")["type"] == "extra_forbidden"
    with pytest.raises(ValidationError):
        _Knobs().amp = True  # type: ignore[misc]


def test_fail_puts_each_problem_at_its_own_location() -> None:
    with pytest.raises(ValidationError) as caught:
        fail("T", [(("a", 0), "first", 1, {}), (("b",), "second", 2, {"allowed": ("x",)})])
    errors = caught.value.errors()
    assert [(e["loc"], e["msg"], e["input"]) for e in errors] == [
        (("a", 0), "first", 1), (("b",), "second", 2)]
    assert errors[1]["ctx"] == {"allowed": ("x",)}


def test_int_keys_reads_json_keys() -> None:
    assert int_keys({"0": 0.5, "2": 0.5}) == {0: 0.5, 2: 0.5}
    assert int_keys({"x": 1}) == {"x": 1} and int_keys(3) == 3
