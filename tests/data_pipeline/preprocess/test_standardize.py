"""Tests for data_pipeline/preprocess/standardize.py."""

from __future__ import annotations

import numpy as np
import pytest

from data_pipeline.preprocess import step
from data_pipeline.preprocess.registry import resolve_steps
from data_pipeline.preprocess.volume import Volume
from data_pipeline.synthetic.phantom import make_head_phantom

STEPS = [step("hu_window"), step("remove_skull"), step("standardize"),
         step("minmax")]


def _run_until(hu: np.ndarray, last: str) -> Volume:
    volume = Volume.start(hu, np.zeros(hu.shape, np.uint8))
    for spec, (apply, params) in zip(STEPS, resolve_steps(STEPS), strict=True):
        volume = apply(volume, params)
        if spec.name == last:
            return volume
    raise AssertionError(last)


def test_brain_gets_mean_0_sd_1_and_background_0() -> None:
    hu = make_head_phantom((40, 40, 40), (0.5, 0.45, 0.45), np.random.default_rng(0)).hu
    volume = _run_until(hu, "standardize")
    assert volume.brain is not None
    values = np.clip(hu[volume.brain].astype(np.float64), 0, 80) * volume.scale + volume.offset
    assert values.mean() == pytest.approx(0.0, abs=1e-6)
    assert values.std() == pytest.approx(1.0, rel=1e-6)
    assert volume.background == 0.0


def test_constant_brain_cannot_be_standardized() -> None:
    hu = np.full((5, 7, 7), 1000.0)
    hu[:, 2:5, 2:5] = 30.0  # one enclosed, constant pocket
    with pytest.raises(ValueError, match="cannot standardize"):
        _run_until(hu, "standardize")
