"""Fold ensembles (``platform/postprocessing/ensemble.py``): the mean of the members'
probabilities."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from platform.inference.sliding_window import Tiling, predict_volume
from platform.postprocessing.ensemble import EnsembleNetwork


def _member(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Conv3d(1, 4, 3, padding=1), torch.nn.ReLU(),
                               torch.nn.Conv3d(4, 1, 3, padding=1))


def test_an_ensemble_of_two_fold_models_is_the_mean_of_their_probabilities() -> None:
    first, second = _member(0), _member(1)
    image = np.random.default_rng(0).random((20, 28, 24), dtype=np.float32)
    tiling = Tiling(patch_size=(16, 16, 16), overlap=0.25, batch_size=2)
    alone = [predict_volume(m, image, tiling) for m in (first, second)]
    together = predict_volume(EnsembleNetwork([first, second]), image, tiling)
    np.testing.assert_allclose(together, (alone[0] + alone[1]) / 2, atol=1e-6)
    assert np.abs(alone[0] - alone[1]).max() > 0.05  # the members do disagree


def test_an_ensemble_needs_a_member() -> None:
    with pytest.raises(ValueError, match="at least one member"):
        EnsembleNetwork([])
