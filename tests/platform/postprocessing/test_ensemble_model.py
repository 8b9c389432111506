"""Issue 23: each variant's fold ensemble is a model of its own, ``<variant>-ensemble``
(``platform/postprocessing/ensemble_model.py``).

On the session's finished tiny sweep (two variants, folds 0 and 1, no external test):
the ensemble model is logged with the mean of its folds' cross-validation scores, under
names that say so (``cv_mean_dice``, never ``dice``). It loads in a fresh process
outside the repository, and its mask is the mean of the fold models' probabilities,
computed here without the ensemble code and thresholded as the ensemble rule does.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml
from mlflow import MlflowClient

from data_pipeline.cache import stored_image
from data_pipeline.cohort.cohort import load_case, load_cohort
from data_pipeline.preprocess import preprocess
from platform.config.sweep import DataConfig
from platform.config.trial import TrialConfig
from platform.inference import from_config
from platform.inference.segment import segment_volume
from platform.postprocessing.ensemble import EnsembleNetwork, load_predictor
from platform.postprocessing.ensemble_model import (
    FoldEnsembleModel,
    ensemble_scores,
    log_variant_ensemble,
)
from platform.postprocessing.rules import POSTPROCESSING, apply_postprocessing
from platform.sweep.context import synthetic_cohort_path
from platform.tracking import (
    TrialResult,
    fetch_trial_results,
    find_sweep_parent,
    load_trial_model,
    read_run_text,
)
from tests.platform.sweep.harness import child_runs
from tests.platform.trial.test_portable_model import install_like_pip

SCORES = ("dice", "sensitivity", "specificity", "precision")

_LOAD_AND_PREDICT = """
import json, site, sys
site.addsitedir(sys.argv[1])  # after the standard library, as site-packages is
import mlflow, numpy as np, torch
torch.set_num_threads(1)
mlflow.set_tracking_uri(sys.argv[2])
model = mlflow.pyfunc.load_model(sys.argv[3])
np.save(sys.argv[5], model.predict(np.load(sys.argv[4])))
ensemble = model.unwrap_python_model()
print(json.dumps({"members": ensemble.members,
                  "file": sys.modules[type(ensemble).__module__].__file__}))
"""


def _result(fold: int, **metrics: float) -> TrialResult:
    return TrialResult(run_id=f"run{fold}", trial_id=f"t{fold}", variant="v", fold=fold,
                       status="FINISHED", metrics=dict(metrics), per_patient=[],
                       failure_reason=None)


def test_scores_say_where_they_come_from() -> None:
    members = [_result(0, dice=0.5, sensitivity=0.4, specificity=0.99, precision=0.7),
               _result(1, dice=0.7, sensitivity=math.nan, specificity=0.97, precision=0.9)]
    scores = ensemble_scores(members)
    assert scores == pytest.approx({"cv_mean_dice": 0.6, "cv_mean_specificity": 0.98,
                                    "cv_mean_precision": 0.8})  # a NaN fold: left out
    external = {"dice": 0.55, "sensitivity": 0.6, "specificity": 0.9, "precision": 0.5,
                "hd95_mm": 3.0}
    with_test = ensemble_scores(members, external)
    assert {k: v for k, v in with_test.items() if k.startswith("external_test_")} == {
        "external_test_dice": 0.55, "external_test_sensitivity": 0.6,
        "external_test_specificity": 0.9, "external_test_precision": 0.5}
    assert not set(with_test) & set(SCORES)  # never the fold models' own names


def _ensembles(uri: str) -> list[Any]:
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("tiny").experiment_id
    return [m for m in client.search_logged_models([experiment]) if m.name.endswith("-ensemble")]


def _volume(uri: str) -> np.ndarray:
    """A patient's CT from the tiny sweep's synthetic cohort, in HU."""
    sweep = yaml.safe_load(read_run_text(uri, find_sweep_parent(uri, "tiny"), "sweep.yaml"))
    cohort = synthetic_cohort_path(DataConfig.model_validate(sweep["data"]))
    return load_case(load_cohort(cohort)[0]).hu.astype(np.float32)


def _mean_probability_mask(uri: str, members: list[TrialResult],
                           volume: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """The ensemble rule, done here by hand: each fold model's tiled probabilities on the
    preprocessed volume, their mean, the threshold, pasted back; with the mean and the
    members' own masks."""
    probabilities, masks = [], []
    for member in members:
        network, resolved = load_trial_model(uri, member.run_id)
        config = TrialConfig.model_validate(resolved)
        case = preprocess(volume, np.zeros(volume.shape, np.uint8), config.preprocessing.steps)
        case = replace(case, image=stored_image(case.image))
        probability = from_config.inference(config)(
            network, case.image, patch_size=from_config.patch_size(config),
            device=torch.device("cpu"), amp=False, brain=case.brain.astype(bool))
        probabilities.append(probability)
        masks.append(case.paste((probability >= config.eval.threshold).astype(np.uint8)))
    mean = np.mean(probabilities, axis=0)
    return case.paste((mean >= config.eval.threshold).astype(np.uint8)), case.paste(mean), masks


@pytest.mark.slow  # the session's finished tiny sweep (~1 min once), a fresh process (~15 s)
def test_each_variant_has_an_ensemble_model_that_loads_elsewhere_and_averages_its_folds(
        finished_tiny_sweep: Any, tmp_path: Path, one_torch_thread: None) -> None:
    uri = finished_tiny_sweep.uri
    evaluations = child_runs(uri, "tiny")
    models = {m.name: m for m in _ensembles(uri)}
    assert sorted(models) == ["final-ensemble", "plain-ensemble"]
    runs = {r.data.tags["variant"]: r for r in child_runs(uri, "tiny", kind="ensemble")}
    for variant, model in ((m.removesuffix("-ensemble"), models[m]) for m in models):
        folds = [r for r in evaluations if r.data.tags["variant"] == variant]
        linked = {m.key: m.value for m in model.metrics or []}
        for score in SCORES:
            values = [r.data.metrics[score] for r in folds]
            assert linked[f"cv_mean_{score}"] == pytest.approx(sum(values) / len(values))
        assert not set(linked) & set(SCORES)  # a CV mean is not the ensemble's own score
        assert runs[variant].data.tags["model_uri"] == f"models:/{model.model_id}"
        assert runs[variant].info.run_name == f"{variant}/ensemble"

    parent = find_sweep_parent(uri, "tiny")
    results = fetch_trial_results(uri, parent)
    again = log_variant_ensemble(uri, parent, results, "final")  # the same members
    assert again == f"models:/{models['final-ensemble'].model_id}"
    assert len(_ensembles(uri)) == 2  # reused: nothing new logged
    members = sorted((r for r in results if r.variant == "final"),
                     key=lambda r: r.fold)
    volume = _volume(uri)
    expected, mean, alone = _mean_probability_mask(uri, members, volume)
    np.save(tmp_path / "hu.npy", volume)
    site_dir = install_like_pip(tmp_path / "site-packages")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MLFLOW_TRACKING_URI")}
    env["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    done = subprocess.run(
        [sys.executable, "-c", _LOAD_AND_PREDICT, str(site_dir), uri,
         f"models:/{models['final-ensemble'].model_id}", str(tmp_path / "hu.npy"),
         str(tmp_path / "mask.npy")],
        cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert loaded["members"] == [r.tags["model_uri"] for r in members]  # by reference
    assert Path(loaded["file"]).is_relative_to(site_dir)
    mask = np.load(tmp_path / "mask.npy")
    assert mask.shape == volume.shape and mask.dtype == np.uint8
    at_threshold = np.abs(mean - 0.5) < 1e-5  # float32 rounding may flip these, no others
    assert at_threshold.sum() < 10
    np.testing.assert_array_equal(mask[~at_threshold], expected[~at_threshold])
    differs = [(mask != own)[~at_threshold].sum() for own in alone]
    assert all(n > 0 for n in differs), "a fold alone would pass: the test could not fail"
    # stroke-predict --model models:/<ensemble id> runs the same ensemble
    network, config, chosen = load_predictor(uri, f"models:/{models['final-ensemble'].model_id}",
                                             None)
    assert isinstance(network, EnsembleNetwork) and len(network.members) == 2
    assert chosen is None and config == load_trial_model(uri, members[0].run_id)[1]


@pytest.mark.slow  # the session's finished tiny sweep
def test_a_chosen_post_processing_runs_last_and_needs_the_spacing(
        finished_tiny_sweep: Any, one_torch_thread: None) -> None:
    uri = finished_tiny_sweep.uri
    members = [r for r in fetch_trial_results(uri, find_sweep_parent(uri, "tiny"))
               if r.variant == "final"]
    networks, configs = zip(*(load_trial_model(uri, r.run_id) for r in members), strict=True)
    model = FoldEnsembleModel()
    model.network, model.config = EnsembleNetwork(networks), TrialConfig(**configs[0])
    spec = POSTPROCESSING.spec("keep_largest_component", {})
    model.postprocessing = spec.dump()
    volume = _volume(uri)
    with pytest.raises(ValueError, match="keep_largest_component.*spacing"):
        model.predict(None, volume)  # type: ignore[arg-type]  # predict reads no context
    spacing = [2.0, 1.0, 1.0]
    mask = model.predict(None, volume, params={"spacing": spacing})  # type: ignore[arg-type]  # as above
    raw = segment_volume(model.network, model.config, volume, device=torch.device("cpu"))
    np.testing.assert_array_equal(mask, apply_postprocessing(spec, raw, spacing))
