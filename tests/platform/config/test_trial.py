"""Tests of platform/config/trial.py: the knobs of one trial, their defaults and overrides."""

from __future__ import annotations

import json

import pytest

from data_pipeline.preprocess import FINAL_STEPS
from platform.config.errors import ConfigError
from platform.config.trial import PART_SECTIONS, TrialConfig


def test_defaults_are_the_papers_final_model_and_validate() -> None:
    config = TrialConfig()
    assert TrialConfig.model_validate(config.model_dump()) == config
    assert config.preprocessing.steps == FINAL_STEPS
    assert (config.model.name, config.loss.name) == ("unet3d_residual_se", "weighted_bce_dice")
    assert config.model.params.residual and config.model.params.se
    assert config.optimizer.params.betas == (0.9, 0.999) and config.loss.params.eps == 1.0e-5
    assert config.sampler.params.patches_per_patient == 32
    assert config.eval.inference.params.overlap == 0.25


def test_json_dump_validates_again() -> None:
    """Ray and MLflow carry the config as JSON: tuples become lists, int keys text."""
    config = TrialConfig.model_validate({
        "preprocessing": {"steps": ["hu_window", {"remove_skull": {"method": "paper"}},
                                    "minmax"]},
        "model": {"norm": {"name": "group", "num_groups": 4}},
        "sampler": {"augmentations": [{"flip": {"axes": [0]}}]}})
    text = json.dumps(config.model_dump(mode="json"))
    assert TrialConfig.model_validate(json.loads(text)) == config


def test_a_part_section_without_a_name_is_the_default_part() -> None:
    config = TrialConfig.model_validate({"model": {"base_width": 8}, "loss": "focal"})
    assert config.model.name == "unet3d_residual_se" and config.model.params.base_width == 8
    assert config.loss.name == "focal" and config.loss.params.gamma == 2.0


def test_focal_gamma_and_group_norm_groups_are_settable() -> None:
    config = TrialConfig.model_validate({"loss": {"name": "focal", "gamma": 1.5, "alpha": None},
                                         "model": {"norm": {"group": {"num_groups": 4}}}})
    assert (config.loss.params.gamma, config.loss.params.alpha) == (1.5, None)
    assert config.model.params.norm.params.num_groups == 4


def test_eval_keeps_the_older_flat_spelling_of_inference_parameters() -> None:
    config = TrialConfig.model_validate({"eval": {"overlap": 0.5, "threshold": 0.4}})
    assert config.eval.inference.params.overlap == 0.5 and config.eval.threshold == 0.4
    with pytest.raises(ValueError, match="given both"):
        TrialConfig.model_validate({"eval": {"overlap": 0.5, "inference": {"overlap": 0.25}}})


def test_with_overrides_applies_and_validates() -> None:
    config = TrialConfig().with_overrides({"model.se_ratio": 8, "optimizer.lr": 3.0e-4,
                                           "sampler.label_probabilities.0": 0.0,
                                           "model.norm.name": "batch"})
    assert (config.model.params.se_ratio, config.optimizer.params.lr) == (8, 3.0e-4)
    assert config.model.params.norm.name == "batch"
    with pytest.raises(ConfigError) as caught:
        TrialConfig().with_overrides({"model.se_ratoi": 8, "optimizer.lr": -1.0}, source="s")
    first, second = caught.value.problems
    assert first.startswith("s: model.se_ratoi: unknown parameter 'se_ratoi' (model "
                            "'unet3d_residual_se'); got 8; model 'unet3d_residual_se' "
                            "parameters: norm=instance, ")
    assert first.endswith("did you mean 'se_ratio'?")
    assert second.startswith("s: optimizer.lr: input should be greater than 0 (optimizer "
                             "'adam'); got -1.0")


@pytest.mark.parametrize("path", ["modle.se", "model", "model.se_ratio.deeper"])
def test_with_overrides_rejects_paths_that_are_not_knobs(path: str) -> None:
    with pytest.raises(ConfigError, match="s: "):
        TrialConfig().with_overrides({path: 1}, source="s")


def test_part_sections_are_the_five_parts() -> None:
    assert {name: marker.kind for name, marker in PART_SECTIONS.items()} == {
        "sampler": "sampler", "model": "model", "loss": "loss", "optimizer": "optimizer",
        "schedule": "schedule"}
