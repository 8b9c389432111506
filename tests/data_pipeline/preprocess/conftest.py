"""Fixtures shared by the preprocessing tests."""

from __future__ import annotations

import numpy as np
import pytest

from data_pipeline.synthetic.phantom import HeadPhantom, make_head_phantom


@pytest.fixture(scope="module", params=[0, 1], ids=lambda s: f"seed{s}")
def skull_phantom(request: pytest.FixtureRequest) -> HeadPhantom:
    """A 48^3 head at the paper's spacing (seeds 0 and 1), for the skull-removal rules."""
    return make_head_phantom((48, 48, 48), (0.5, 0.45, 0.45), np.random.default_rng(request.param))
