"""Tests for data_pipeline/preprocess/minmax.py."""

from __future__ import annotations

import numpy as np
import pytest

from data_pipeline.preprocess import preprocess, step


def _pocket() -> tuple[np.ndarray, np.ndarray]:
    """A bone box around a pocket of 10..40 HU, air outside."""
    hu = np.full((6, 9, 9), -1000.0, dtype=np.float32)
    hu[:, 1:8, 1:8] = 1000.0
    hu[:, 2:7, 2:7] = np.linspace(10, 40, 6 * 5 * 5).reshape(6, 5, 5)
    return hu, np.zeros(hu.shape, np.uint8)


@pytest.mark.parametrize(("background", "expected"), [("zero", 0.0), ("scaled", 0.5)])
def test_background_zero_or_scaled_after_standardization(background: str, expected: float) -> None:
    hu, lesion = _pocket()
    steps = [step("hu_window"), step("remove_skull"), step("standardize"),
             step("minmax", {"background": background})]
    case = preprocess(hu, lesion, steps)
    inside = case.brain == 1
    assert case.image[inside].min() == 0.0 and case.image[inside].max() == pytest.approx(1.0)
    # the pocket's ramp is symmetric, so its mean (the standardized 0) sits mid-range
    np.testing.assert_allclose(case.image[~inside], expected, atol=1e-6)


def test_without_standardization_the_background_is_the_minimum() -> None:
    hu, lesion = _pocket()
    steps = [step("hu_window"), step("remove_skull"), step("minmax")]
    case = preprocess(hu, lesion, steps)
    np.testing.assert_allclose(case.image[case.brain == 1], hu[:, 2:7, 2:7].ravel() / 40.0,
                               atol=1e-6)
    assert np.all(case.image[case.brain == 0] == 0.0)
