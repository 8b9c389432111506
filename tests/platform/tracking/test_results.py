"""platform.tracking.results: a sweep read back from a real MLflow store (SQLite): its
evaluation runs, its parent run, a run's metric history and text artifacts, and a trial's
portable model by run id, ``runs:/`` or ``models:/`` URI. The runs are written with the
helpers of ``test_runs.py``."""

from __future__ import annotations

import time
from pathlib import Path

import mlflow
import pytest
import torch
from mlflow import MlflowClient

from platform.tracking import (
    fetch_trial_results,
    load_trial_model,
    metric_history,
    read_json,
    read_run_text,
)
from platform.tracking.results import find_sweep_parent, model_uri_of
from tests.platform.tracking.test_runs import (
    EXPERIMENT,
    ROWS,
    SWEEP_YAML,
    TRIAL_CONFIG,
    _log_full_trial,
    _parent,
    _trial,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_load_trial_model_by_run_id_and_uris(mlflow_sqlite_uri: str, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    _, child, model = _log_full_trial(mlflow_sqlite_uri, tmp_path)
    client = MlflowClient(mlflow_sqlite_uri)
    model_uri = client.get_run(child).data.tags["model_uri"]
    # A lab registers a trial's model and points an alias at it (issue 13); MLflow
    # resolves the models:/ source through the global tracking URI.
    with monkeypatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", mlflow_sqlite_uri)
        version = mlflow.register_model(model_uri, "stroke-final")
    client.set_registered_model_alias("stroke-final", "champion", version.version)
    x = torch.rand(1, 1, 8, 8, 8)
    for reference in (child, f"runs:/{child}", f"runs:/{child}/model", model_uri,
                      "models:/stroke-final@champion", "models:/stroke-final/1"):
        loaded, config = load_trial_model(mlflow_sqlite_uri, reference)
        assert config == TRIAL_CONFIG.model_dump(mode="json"), reference
        torch.testing.assert_close(loaded(x), model(x))
    with pytest.raises(KeyError, match="no trial model"):
        load_trial_model(mlflow_sqlite_uri, "0123456789abcdef0123456789abcdef")
    with pytest.raises(KeyError, match="not a model reference"):
        model_uri_of(client, "final/fold0")


def test_fetch_trial_results_reads_children(mlflow_sqlite_uri: str) -> None:
    parent = _parent(mlflow_sqlite_uri)
    with _trial(mlflow_sqlite_uri, parent, variant="se", fold=0) as done:
        done.log_per_patient(ROWS)
        done.log_metrics({"dice": 0.625, "precision": 0.7})
    with _trial(mlflow_sqlite_uri, parent, variant="se", fold=1) as failed:
        failed.set_failed("NaN loss")
    other_sweep = _parent(mlflow_sqlite_uri, sweep_id="sw2")
    with _trial(mlflow_sqlite_uri, other_sweep, variant="base", fold=0):
        pass
    results = fetch_trial_results(mlflow_sqlite_uri, parent)
    assert [(r.variant, r.fold, r.status) for r in results] == [
        ("se", 0, "FINISHED"), ("se", 1, "FAILED")]
    first, second = results
    assert first.run_id == done.run_id and first.trial_id == "se-f0"
    assert first.metrics == {"dice": 0.625, "precision": 0.7}
    assert first.per_patient == ROWS and first.failure_reason is None
    assert second.failure_reason == "NaN loss" and second.per_patient == []


def test_find_sweep_parent_by_name_run_name_and_run_ids(mlflow_sqlite_uri: str) -> None:
    first = _parent(mlflow_sqlite_uri, sweep_id="sw1")
    time.sleep(0.01)  # start times order the sweeps
    newest = _parent(mlflow_sqlite_uri, sweep_id="sw2")
    with _trial(mlflow_sqlite_uri, first) as run:
        pass
    assert find_sweep_parent(mlflow_sqlite_uri, EXPERIMENT) == newest
    assert find_sweep_parent(mlflow_sqlite_uri, f"{EXPERIMENT}/sw1") == first
    assert find_sweep_parent(mlflow_sqlite_uri, first) == first
    assert find_sweep_parent(mlflow_sqlite_uri, run.run_id) == first  # a trial: its parent
    with pytest.raises(KeyError, match=EXPERIMENT):
        find_sweep_parent(mlflow_sqlite_uri, "no-such-sweep")


def test_a_runs_metric_history_json_and_text_artifacts_are_read_back(
        mlflow_sqlite_uri: str) -> None:
    parent = _parent(mlflow_sqlite_uri)
    with _trial(mlflow_sqlite_uri, parent) as run:
        run.log_metrics({"train_loss": 0.5}, step=2)
        run.log_metrics({"train_loss": 1.0}, step=1)
        run.log_json({"chosen": None, "cases": 4}, "postprocessing.json")
    assert metric_history(mlflow_sqlite_uri, run.run_id, "train_loss") == [(1, 1.0), (2, 0.5)]
    assert metric_history(mlflow_sqlite_uri, run.run_id, "dice") == []
    assert read_json(mlflow_sqlite_uri, run.run_id, "postprocessing.json") == {
        "cases": 4, "chosen": None}
    assert read_json(mlflow_sqlite_uri, run.run_id, "missing.json") is None
    assert read_run_text(mlflow_sqlite_uri, parent, "sweep.yaml") == SWEEP_YAML
    assert read_run_text(mlflow_sqlite_uri, parent, "figures/none.json") is None
