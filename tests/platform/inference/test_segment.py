"""platform.inference.segment: what a new scan must be before the trial's pipeline runs on it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from platform.config import load_sweep
from platform.inference.segment import segment_volume
from platform.sweep.expand import expand
from platform.trial.parts import network
from platform.tune.env import REPO_ROOT

CONFIG = expand(load_sweep(REPO_ROOT / "sweeps" / "tiny.yaml"))[1].config


@pytest.mark.parametrize(("volume", "message"), [
    (np.zeros((32, 32)), r"expected a CT volume \(Z, Y, X\).*shape \(32, 32\)"),
    (np.array([["a"]]), r"expected a CT volume"),
    (np.full((8, 8, 8), np.nan), "NaN or infinite"),
])
def test_a_volume_that_is_not_hu_is_refused(volume: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        segment_volume(network(CONFIG).eval(), CONFIG, volume, device=torch.device("cpu"))
