"""Tests of platform/config/request.py: the one typed object a Ray trial receives."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from platform.config import ConfigError, load_sweep
from platform.config.request import REQUEST_KEY, SAMPLE_KEY, FoldKeys, SweepContext, TrialRequest
from platform.sweep.expand import expand

TINY = Path(__file__).resolve().parents[3] / "sweeps" / "tiny.yaml"

CONTEXT = SweepContext(
    cohort="/c", cache_root="/cache", folds=(FoldKeys(index=0, train=("b",), test=("a",)),
                                             FoldKeys(index=1, train=("a",), test=("b",))),
    run_folds=(0, 1), cv_seed=0, tracking_uri="sqlite:////m.db", experiment="tiny",
    sweep_id="s", cpus_per_trial=1.0, gpus_per_trial=0.0, data_fingerprint="d")


def _request(**extra: object) -> TrialRequest:
    spec = expand(load_sweep(TINY))[1]
    return TrialRequest(spec=spec, context=CONTEXT, **extra)


def test_a_request_crosses_ray_as_json_and_is_validated_again() -> None:
    request = _request()
    config = json.loads(json.dumps({REQUEST_KEY: request.to_ray(), SAMPLE_KEY: {}}))
    assert TrialRequest.from_ray(config) == request
    assert request.fold(1).test == ("b",)


def test_a_search_sample_is_applied_to_the_trial_config() -> None:
    base = _request(search_metric="val_dice")
    ray_config = {REQUEST_KEY: base.to_ray(), SAMPLE_KEY: {"model.se_ratio": 4,
                                                          "optimizer.lr": 3.0e-4}}
    request = TrialRequest.from_ray(ray_config)
    config = request.spec.config
    assert (config.model.params.se_ratio, config.optimizer.params.lr) == (4, 3.0e-4)
    assert request.sample == {"model.se_ratio": 4, "optimizer.lr": 3.0e-4}
    assert request.search_metric == "val_dice"


def test_a_bad_request_or_sample_is_refused_on_the_worker() -> None:
    broken = _request().to_ray()
    broken["spec"]["config"]["loss"]["gamma"] = 2
    with pytest.raises(ValidationError, match="unknown parameter 'gamma'"):
        TrialRequest.from_ray({REQUEST_KEY: broken})
    with pytest.raises(ConfigError, match="search sample: model.se_ratio"):
        TrialRequest.from_ray({REQUEST_KEY: _request().to_ray(), SAMPLE_KEY: {"model.se_ratio": 0}})
