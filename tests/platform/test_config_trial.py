"""Tests of platform/config_trial.py: the knobs of one trial, their defaults and helpers."""

from __future__ import annotations

import json

import pytest
import torch

from platform.config_errors import ConfigError
from platform.config_trial import TRIAL_SECTIONS, StepConfig, TrialConfig


def test_defaults_are_the_papers_final_model_and_validate() -> None:
    config = TrialConfig()
    again = TrialConfig.model_validate(config.model_dump())
    assert again == config
    assert config.optimizer.betas == (0.9, 0.999) and config.loss.eps == 1.0e-5
    assert config.model.norm == "instance" and config.model.activation == "leaky_relu"
    assert config.model.upsample == "trilinear" and config.sampler.patches_per_patient == 32


def test_json_dump_validates_again() -> None:
    """Ray and MLflow carry the config as JSON: tuples become lists, int keys text."""
    config = TrialConfig.model_validate({"preprocessing": {"steps": [
        "hu_window", {"remove_skull": {"method": "paper"}}, "minmax"]}})
    text = json.dumps(config.model_dump(mode="json"))
    assert TrialConfig.model_validate(json.loads(text)) == config


def test_step_written_three_ways() -> None:
    assert StepConfig.model_validate("minmax") == StepConfig(name="minmax")
    with_params = StepConfig.model_validate({"hu_window": {"low": 0, "high": 60}})
    assert with_params.params == {"low": 0, "high": 60}
    assert StepConfig.model_validate(with_params.model_dump()) == with_params
    assert str(with_params) == "hu_window(high=60,low=0)"


def test_step_with_two_names_in_one_mapping_is_refused() -> None:
    with pytest.raises(ValueError, match="one-key mapping"):
        StepConfig.model_validate({"hu_window": {}, "minmax": {}})


def test_as_flat_dict() -> None:
    flat = TrialConfig().as_flat_dict()
    assert flat["model.se_ratio"] == 16
    assert flat["sampler.patch_size"] == [128, 128, 128]
    assert flat["sampler.label_probabilities.2"] == 0.5
    assert flat["preprocessing.steps"] == (
        "hu_window+remove_skull+standardize+minmax(background=scaled)+crop_to_brain")
    assert flat["sampler.augmentations"] == []
    assert {key.split(".")[0] for key in flat} == set(TRIAL_SECTIONS)


def test_with_overrides_applies_and_validates() -> None:
    config = TrialConfig().with_overrides({"model.se_ratio": 8, "optimizer.lr": 3.0e-4,
                                           "sampler.label_probabilities.0": 0.0})
    assert (config.model.se_ratio, config.optimizer.lr) == (8, 3.0e-4)
    with pytest.raises(ConfigError) as caught:
        TrialConfig().with_overrides({"model.se_ratoi": 8, "optimizer.lr": -1.0}, source="s")
    assert caught.value.problems == (
        "s: model.se_ratoi: unknown key 'se_ratoi'; allowed: name, base_width, depth, norm, "
        "activation, residual, se, se_ratio, upsample, checkpointing; did you mean 'se_ratio'?",
        "s: optimizer.lr: input should be greater than 0; got -1.0",
    )


@pytest.mark.parametrize("path", ["modle.se", "model", "model.se_ratio.deeper"])
def test_with_overrides_rejects_paths_that_are_not_knobs(path: str) -> None:
    with pytest.raises(ConfigError, match="s: "):
        TrialConfig().with_overrides({path: 1}, source="s")


def test_builder_kwargs_keep_only_what_the_builder_takes() -> None:
    config = TrialConfig()
    assert config.builder_kwargs("schedule") == {"every": 5000, "factor": 0.5,
                                                 "min_lr": 1.25e-5}
    assert TrialConfig().with_overrides({"schedule.name": "constant"}).builder_kwargs(
        "schedule") == {}
    model_kwargs = config.builder_kwargs("model")
    assert model_kwargs["se_ratio"] == 16 and "name" not in model_kwargs


def test_builder_kwargs_build_every_part() -> None:
    from models import build_loss, build_model, build_optimizer, build_schedule

    torch.set_num_threads(1)
    config = TrialConfig().with_overrides({"model.base_width": 2, "model.depth": 1,
                                           "loss.name": "bce_dice"})
    net = build_model(config.model.name, **config.builder_kwargs("model"))
    optimizer = build_optimizer(config.optimizer.name, net.parameters(),
                                **config.builder_kwargs("optimizer"))
    build_schedule(config.schedule.name, optimizer, **config.builder_kwargs("schedule"))
    loss = build_loss(config.loss.name, **config.builder_kwargs("loss"))
    with torch.no_grad():
        assert float(loss(net(torch.zeros(1, 1, 8, 8, 8)), torch.zeros(1, 1, 8, 8, 8))) > 0
