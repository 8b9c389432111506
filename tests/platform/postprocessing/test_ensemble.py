"""Fold ensembles (``platform/postprocessing/ensemble.py``): the mean of the members'
probabilities."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from platform.config.trial import TrialConfig
from platform.inference.sliding_window import Tiling, predict_volume
from platform.postprocessing.ensemble import EnsembleNetwork, check_members, variant_members
from platform.tracking import TrialResult
from platform.tracking.payloads import config_params


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


def _member_run(fold: int, config: TrialConfig, variant: str = "v",
                status: str = "FINISHED", trial: str = "a") -> TrialResult:
    return TrialResult(run_id=f"run{fold}{trial}", trial_id=f"{variant}-f{fold}-{trial}",
                       variant=variant, fold=fold, status=status, metrics={}, per_patient=[],
                       failure_reason=None, params=config_params(config.model_dump(mode="json")))


def test_members_are_one_finished_run_per_fold_with_one_preprocessing_and_inference() -> None:
    base = TrialConfig()
    results = [_member_run(1, base), _member_run(0, base), _member_run(0, base, trial="b"),
               _member_run(2, base, status="FAILED"), _member_run(3, base, variant="w")]
    members = variant_members(results, "v")
    assert list(members) == [0, 1] and members[0].trial_id == "v-f0-b"  # the newest trial
    check_members("v", members)  # the same settings: fine
    wider = base.with_overrides({"model.base_width": 8, "train.seed": 3})  # weights only
    check_members("v", {0: members[0], 1: _member_run(1, wider)})
    other = base.with_overrides({"eval.inference.overlap": 0.5})
    with pytest.raises(ValueError, match="fold 1's model was trained with other eval settings"):
        check_members("v", {0: members[0], 1: _member_run(1, other)})
    with pytest.raises(KeyError, match="no finished trial of variant 'x'"):
        variant_members(results, "x")
