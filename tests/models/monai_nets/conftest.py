"""A small synthetic head, preprocessed as the final model does, for the MONAI part tests."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from data_pipeline.preprocess import FINAL_STEPS, preprocess
from data_pipeline.synthetic.phantom import make_head_phantom


@pytest.fixture(scope="package")
def phantom() -> Any:
    """A 48 x 64 x 64 head CT (seeded) with its infarcts."""
    return make_head_phantom((48, 64, 64), (0.8, 0.7, 0.7), np.random.default_rng(4))


@pytest.fixture(scope="package")
def cases(phantom: Any) -> list[Any]:
    """The phantom, preprocessed by the final model's steps, twice (a two-case fold)."""
    return [preprocess(phantom.hu, phantom.lesion, FINAL_STEPS)] * 2
