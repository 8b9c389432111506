"""Tests for data_pipeline/errors.py: one error type for unusable input data."""

from __future__ import annotations

import pytest

from data_pipeline.errors import DataError


def test_data_error_names_the_case_and_is_a_value_error() -> None:
    error = DataError("case-007", "missing slice: 1 slice(s) missing")
    assert isinstance(error, ValueError)
    assert str(error) == "case case-007: missing slice: 1 slice(s) missing"
    assert (error.case_key, error.problem) == ("case-007", "missing slice: 1 slice(s) missing")
    with pytest.raises(ValueError, match="^case x: bad$"):
        raise DataError("x", "bad")
