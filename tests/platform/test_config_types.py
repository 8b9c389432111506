"""Tests of platform/config_types.py: strict shared field types and their error context."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from pydantic import ValidationError

from platform.config_types import (
    MAX_PATCH,
    Section,
    Shape3,
    fail,
    int_keys,
    one_of,
    registered,
    registered_names,
)


class _Knobs(Section):
    amp: Annotated[bool | str, one_of(True, False, "auto")] = "auto"
    shape: Shape3 = (1, 1, 1)
    norm: Annotated[str, registered("norm")] = "instance"


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
    assert _Knobs.model_validate({"shape": [4, 5, 6]}).shape == (4, 5, 6)
    assert "expected 3 sizes" in _error(shape=[4, 5])["msg"]
    assert _error(shape=[4, 5, MAX_PATCH + 1])["loc"] == ("shape", 2)


def test_section_is_strict_frozen_and_closed() -> None:
    assert _error(shape=["4", 5, 6])["type"] == "int_type"
    assert _error(colour="red")["type"] == "extra_forbidden"
    with pytest.raises(ValidationError):
        _Knobs().amp = True  # type: ignore[misc]


def test_registered_names_are_read_once_and_checked() -> None:
    registered_names.cache_clear()
    assert "instance" in registered_names("norm")
    assert registered_names("norm") is registered_names("norm")
    assert registered_names.cache_info().hits >= 1
    error = _error(norm="bach")
    assert error["ctx"]["allowed"] == registered_names("norm")
    assert "batch" in error["ctx"]["allowed"]


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
