"""Tests for data_pipeline/preprocess/hu_window.py."""

from __future__ import annotations

import numpy as np
import pytest

from data_pipeline.preprocess import preprocess, step


@pytest.mark.parametrize(("low", "high"), [(0.0, 80.0), (-20.0, 100.0), (10.0, 40.0)])
def test_window_clips_before_minmax(low: float, high: float) -> None:
    hu = np.linspace(-1000, 1000, 4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6)
    steps = [step("hu_window", {"low": low, "high": high}), step("minmax")]
    case = preprocess(hu, np.zeros(hu.shape, np.uint8), steps)
    np.testing.assert_allclose(case.image, (np.clip(hu, low, high) - low) / (high - low), atol=1e-6)


def test_window_must_be_ordered() -> None:
    with pytest.raises(ValueError, match="low must be below high"):
        step("hu_window", {"low": 80, "high": 80})
