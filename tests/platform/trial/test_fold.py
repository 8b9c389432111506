"""One fold's training and evaluations (:mod:`platform.trial.fold`), through the trial.

A training is found by its key and reused (two evaluations of one training, a rerun
that redoes nothing), and a training stopped at a checkpoint resumes to the weights of
an uninterrupted one. In process, no Ray, an MLflow SQLite store (``harness.py``).
"""

from __future__ import annotations

import pytest
import torch
from mlflow import MlflowClient

from platform.config.request import TrialRequest
from platform.tracking import load_trial_model
from platform.trial.run import ConsoleReporter, run_trial
from platform.trial.training import CHECKPOINT_FILE
from tests.platform.trial.harness import run_spec, trial_context


@pytest.mark.usefixtures("one_torch_thread")
def test_resumed_trial_ends_with_the_weights_of_an_uninterrupted_one(tmp_path, trial_cache):
    quick = ["train.checkpoint_every=2", "train.log_every=2", "eval.figure_patients=0"]
    context, specs = trial_context(tmp_path, trial_cache, [*quick, "train.iterations=4"])
    straight = run_spec(specs[("final", 0)], context, tmp_path / "straight")
    # The same trial stopped at its checkpoint of iteration 2, then restarted for 4.
    _, short = trial_context(tmp_path, trial_cache, [*quick, "train.iterations=2"])
    run_spec(short[("final", 0)], context, tmp_path / "resumed")
    resumed = run_spec(specs[("final", 0)], context, tmp_path / "resumed", fresh=True)
    state = torch.load(tmp_path / "resumed" / "checkpoint" / CHECKPOINT_FILE, weights_only=True)
    assert state["iteration"] == 4
    first, _ = load_trial_model(context.tracking_uri, straight.run_id)
    second, _ = load_trial_model(context.tracking_uri, resumed.run_id)
    for a, b in zip(first.state_dict().values(), second.state_dict().values(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.usefixtures("one_torch_thread")
def test_one_training_is_evaluated_at_two_overlaps_from_the_same_weights(tmp_path, trial_cache):
    """Issue 11 (Table 2): variants that differ in evaluation only share one training."""
    overlaps = ["variants=[{name: overlap_25, eval: {inference: {overlap: 0.25}}}, "
                "{name: overlap_50, eval: {inference: {overlap: 0.5}}}]",
                "train.iterations=2", "eval.figure_patients=0"]
    context, specs = trial_context(tmp_path, trial_cache, overlaps)
    first, second = specs[("overlap_25", 0)], specs[("overlap_50", 0)]
    assert first.training_key == second.training_key
    assert first.evaluation_key != second.evaluation_key
    reporter = ConsoleReporter(tmp_path / "work" / "checkpoint", iterations=2)
    outcomes = run_trial(TrialRequest(spec=first, also_evaluate=(second,), context=context),
                         reporter, work_dir=tmp_path / "work")
    assert len(outcomes) == 2 and outcomes[0].training_run_id == outcomes[1].training_run_id
    client = MlflowClient(tracking_uri=context.tracking_uri)
    experiment = client.get_experiment_by_name(context.experiment).experiment_id
    assert len(client.search_runs([experiment], "tags.run_kind = 'training'")) == 1
    runs = [client.get_run(o.run_id) for o in outcomes]
    assert [r.data.tags["variant"] for r in runs] == ["overlap_25", "overlap_50"]
    assert [r.data.params["eval.inference.overlap"] for r in runs] == ["0.25", "0.5"]
    quarter, half = (r.data.metrics for r in runs)
    assert half["patches_per_patient"] > quarter["patches_per_patient"]  # denser grid
    assert quarter["seconds_per_patient"] > 0 and half["seconds_per_patient"] > 0

    # Run again: both evaluations and the training are found by key, nothing is redone.
    again = run_trial(TrialRequest(spec=first, also_evaluate=(second,), context=context),
                      reporter, work_dir=tmp_path / "again")
    assert [o.run_id for o in again] == [o.run_id for o in outcomes]
    assert len(client.search_runs([experiment], "tags.run_kind = 'training'")) == 1
