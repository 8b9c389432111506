"""One trial end to end on a synthetic DICOM cohort (issue 7, "Done when"):
:func:`platform.trial.run.run_trial`.

A short CPU training run through the real pieces: the synthetic cohort (pydicom series,
NIfTI masks), the preprocessing cache, TorchIO samplers, the registry's U-Net, the
training loop, tiled inference, metrics and an MLflow SQLite store. The slow tests read
the session's trained trial (``trained_trial`` in ``tests/platform/conftest.py``); the
reuse of a training by key and resuming from a checkpoint are in ``test_fold.py``.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from mlflow import MlflowClient

import models
from data_pipeline.parts import NoParams
from data_pipeline.synthetic.generator import phi_values
from models.registry import LOSSES
from platform.tracking import load_trial_model
from platform.tracking.payloads import config_params
from platform.trial.fold import load_data
from platform.trial.stops import TrainingStopped
from platform.trial.training import CHECKPOINT_FILE, NonFiniteLossError
from tests.platform.trial.harness import run_spec, trial_context


def _history(client: MlflowClient, run_id: str, key: str) -> list[float]:
    return [m.value for m in sorted(client.get_metric_history(run_id, key), key=lambda m: m.step)]


@pytest.mark.slow
def test_short_training_lowers_loss_and_beats_chance(trained_trial):
    context, outcome = trained_trial["context"], trained_trial["outcome"]
    client = MlflowClient(tracking_uri=context.tracking_uri)
    losses = _history(client, outcome.training_run_id, "train_loss")
    assert np.mean(losses[-3:]) < 0.9 * np.mean(losses[:3])
    # Chance = predicting every cropped voxel as lesion: Dice 2p / (1 + p) for lesion
    # fraction p. The synthetic lesions are 3-8 HU below tissue with 5 HU noise, so a
    # network that learned anything beats it several times over (0.6 measured here); 3x
    # chance and 0.15 leave room for the spread of an 80-iteration CPU run.
    assert len(outcome.rows) == 2  # 6 patients in 3 folds: two held-out patients
    held_out = load_data(trained_trial["spec"].config, context, context.folds[0]).eval
    fraction = float(np.mean([case.lesion.mean() for case in held_out]))
    chance = 2 * fraction / (1 + fraction)
    assert outcome.fold_means["dice"] > max(0.15, 3 * chance)


@pytest.mark.slow
def test_mlflow_run_holds_every_param_metric_and_artifact(trained_trial):
    context, spec = trained_trial["context"], trained_trial["spec"]
    outcome = trained_trial["outcome"]
    client = MlflowClient(tracking_uri=context.tracking_uri)
    run = client.get_run(outcome.run_id)
    assert run.info.status == "FINISHED"
    params = run.data.params
    assert set(config_params(spec.config.model_dump(mode="json"))) <= set(params)
    assert params["model.se_ratio"] == "16" and params["optimizer.lr"] == "0.001"
    tags = run.data.tags
    assert tags["variant"] == "final" and tags["fold"] == "0"
    assert tags["trial_id"] == spec.trial_id and tags["sweep_id"] == context.sweep_id
    assert len(tags["git_commit"]) in (40, 7) or tags["git_commit"] == "unknown"
    assert "torch_version" in tags and "host" in tags
    assert tags["training_run"] == outcome.training_run_id
    assert tags["evaluation_key"] == spec.evaluation_key
    assert tags["device"].startswith("CPU")
    training = client.get_run(outcome.training_run_id)
    assert training.data.tags["run_kind"] == "training"
    assert training.data.tags["training_key"] == spec.training_key == tags["training_key"]
    for key in ("train_loss", "lr", "iterations_per_s"):
        # every 5 of 80 iterations, on the training run
        assert len(client.get_metric_history(outcome.training_run_id, key)) == 16
    for key in ("dice", "sensitivity", "specificity", "precision", "hd95_mm",
                "seconds_per_patient", "patches_per_patient"):
        assert run.data.metrics[key] == pytest.approx(outcome.fold_means[key])
    artifacts = {a.path for a in client.list_artifacts(outcome.run_id)}
    assert {"per_patient.csv", "config.yaml", "figures"} <= artifacts
    trained_artifacts = {a.path for a in client.list_artifacts(outcome.training_run_id)}
    assert {"config.yaml", "lesion_loss.csv", "figures"} <= trained_artifacts
    losses = list(csv.DictReader(io.StringIO(Path(client.download_artifacts(
        outcome.training_run_id, "lesion_loss.csv", str(trained_trial["tmp"]))).read_text())))
    assert sorted(row["role"] for row in losses) == ["test"] * 2 + ["train"] * 4
    assert all(0.0 <= float(row["lost_fraction"]) <= 0.005 for row in losses)
    local = Path(client.download_artifacts(outcome.run_id, "per_patient.csv",
                                           str(trained_trial["tmp"])))
    rows = list(csv.DictReader(io.StringIO(local.read_text())))
    assert [r["case"] for r in rows] == [r["case"] for r in outcome.rows]
    config = yaml.safe_load(Path(client.download_artifacts(
        outcome.run_id, "config.yaml", str(trained_trial["tmp"]))).read_text())
    assert config["model"]["se_ratio"] == 16
    figures = {f.path for f in client.list_artifacts(outcome.run_id, "figures")}
    assert len(figures) == 1 and all(f.startswith("figures/case-") and f.endswith(".png")
                                     for f in figures)  # the overlay of one held-out patient
    curves = {f.path for f in client.list_artifacts(outcome.training_run_id, "figures")}
    assert curves == {f"figures/learning_curves.{s}" for s in ("png", "svg", "json")}
    model, resolved = load_trial_model(context.tracking_uri, outcome.run_id)
    assert isinstance(model, torch.nn.Module) and resolved["model"]["base_width"] == 8


@pytest.mark.slow
def test_no_identifier_reaches_mlflow_or_the_cache(trained_trial, trial_cache):
    context = trained_trial["context"]
    identifiers = phi_values(Path(context.cohort))
    assert len(identifiers) >= 5  # the synthetic headers do carry PHI
    written = [*(trained_trial["tmp"] / "mlruns").rglob("*"),
               *(trial_cache / "preprocessed").rglob("*")]
    blobs = [p.read_bytes() for p in written if p.is_file()]
    assert blobs
    for value in identifiers:
        needle = value.encode()
        assert not any(needle in blob for blob in blobs), "an identifier leaked"


@pytest.fixture
def exploding_loss():
    """A lab's own loss registered from outside ``models``: NaN from its third call."""
    @LOSSES.register("test_nan_on_third_call", params=NoParams)
    def build(params: NoParams, *, class_counts) -> torch.nn.Module:  # noqa: ANN001
        class NanOnThird(models.losses.SegmentationLoss):
            calls = 0

            def compute(self, logits, target):
                NanOnThird.calls += 1
                loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, target)
                return loss * float("nan") if NanOnThird.calls >= 3 else loss

        return NanOnThird()

    yield "test_nan_on_third_call"
    LOSSES.unregister("test_nan_on_third_call")


@pytest.mark.usefixtures("one_torch_thread")
def test_nan_loss_stops_the_trial_as_failed_and_keeps_the_last_checkpoint(
    tmp_path, trial_cache, exploding_loss
):
    overrides = ["train.iterations=6", "train.checkpoint_every=2", "train.log_every=1",
                 f"loss.name={exploding_loss}"]
    context, specs = trial_context(tmp_path, trial_cache, overrides)
    spec = specs[("final", 0)]
    with pytest.raises(NonFiniteLossError, match=r"iteration 3 \(last finite loss: [0-9.]+\)"):
        run_spec(spec, context, tmp_path / "work")
    state = torch.load(tmp_path / "work" / "checkpoint" / CHECKPOINT_FILE, weights_only=True)
    assert state["iteration"] == 2
    client = MlflowClient(tracking_uri=context.tracking_uri)
    experiment = client.get_experiment_by_name(context.experiment).experiment_id
    (run,) = client.search_runs([experiment], "tags.run_kind = 'training'")
    assert run.info.status == "FAILED"
    assert "iteration 3" in run.data.tags["failure_reason"]
    assert "dice" not in run.data.metrics  # never recorded as a result
    (evaluation,) = client.search_runs([experiment], "tags.run_kind = 'evaluation'")
    assert evaluation.info.status == "FAILED"  # issue 28: Table 1 says why
    assert evaluation.data.tags["failure_reason"].startswith("non-finite loss at iteration 3")
    with pytest.raises(TrainingStopped, match="not retried"):
        run_spec(spec, context, tmp_path / "work")
