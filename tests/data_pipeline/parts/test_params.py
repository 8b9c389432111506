"""Tests for data_pipeline/parts/params.py: strict, frozen, closed params models."""

from __future__ import annotations

from typing import Annotated

import pytest
from pydantic import BeforeValidator, ValidationError

from data_pipeline.parts import NoParams, Params, as_tuple, int_keys


class WindowParams(Params):
    low: float = 0.0
    """Lower bound."""
    size: Annotated[tuple[int, int], BeforeValidator(as_tuple)] = (2, 2)
    by_fold: Annotated[dict[int, float], BeforeValidator(int_keys)] = {}


def test_params_refuse_unknown_keys_and_loose_types_and_are_frozen() -> None:
    with pytest.raises(ValidationError, match="extra_forbidden|Extra inputs"):
        WindowParams.model_validate({"lo": 1.0})
    with pytest.raises(ValidationError):
        WindowParams.model_validate({"low": "1.0"})  # strict: no text for a number
    params = WindowParams()
    with pytest.raises(ValidationError):
        params.low = 2.0  # type: ignore[misc] # frozen on purpose
    assert type(params).model_fields["low"].description == "Lower bound."
    with pytest.raises(ValidationError):
        NoParams.model_validate({"anything": 1})


def test_yaml_lists_and_json_keys_are_accepted_where_validators_say_so() -> None:
    params = WindowParams.model_validate({"size": [3, 4], "by_fold": {"0": 0.5, "1": 1.0}})
    assert params.size == (3, 4) and params.by_fold == {0: 0.5, 1: 1.0}
    with pytest.raises(ValidationError):
        WindowParams.model_validate({"size": [3, 4, 5]})
    assert as_tuple([1, 2]) == (1, 2) and as_tuple("ab") == "ab"
    assert int_keys({"0": 1, "a": 2, 3: 4}) == {0: 1, "a": 2, 3: 4}
    assert int_keys([1]) == [1]
