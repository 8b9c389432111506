"""MLflow's side of a fold ensemble (``platform/tracking/ensemble_model.py``): the model
``<variant>-ensemble`` on its own child run, its scores, reuse, and ``predict``'s rules.

Members here are URIs only: logging never loads them. Loading a real ensemble and
predicting: ``tests/platform/postprocessing/test_ensemble_model.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from platform.postprocessing.ensemble_model import ENSEMBLE_CODE
from platform.tracking import start_sweep_run
from platform.tracking.ensemble_model import (
    MEMBERS_TAG,
    PortableEnsembleModel,
    ensemble_signature,
    log_ensemble_model,
)
from platform.tracking.store import global_tracking_uri

MEMBERS = {1: "models:/m-b", 0: "models:/m-a"}


def _parent(uri: str) -> str:
    return start_sweep_run(uri, "tiny", sweep_name="tiny", sweep_id="s1",
                           config_yaml="name: tiny\n", source_yaml="name: tiny\n", tags={})


def test_an_ensemble_is_its_own_model_on_its_own_run_and_is_reused(
        mlflow_sqlite_uri: str, tmp_path: Path) -> None:
    import mlflow.artifacts
    import mlflow.models

    parent = _parent(mlflow_sqlite_uri)
    scores = {"cv_mean_dice": 0.42, "external_test_dice": 0.4}
    uri = log_ensemble_model(mlflow_sqlite_uri, parent, variant="final", members=MEMBERS,
                             postprocessing=None, metrics=scores, code=ENSEMBLE_CODE)
    client = MlflowClient(mlflow_sqlite_uri)
    model = client.get_logged_model(uri.removeprefix("models:/"))
    assert model.name == "final-ensemble"
    assert {m.key: m.value for m in model.metrics or []} == scores
    run = client.get_run(model.source_run_id)
    assert (run.info.run_name, run.info.status) == ("final/ensemble", "FINISHED")
    assert (run.data.tags["run_kind"], run.data.tags["mlflow.parentRunId"]) == ("ensemble",
                                                                                parent)
    assert run.data.tags["model_uri"] == uri and run.data.tags["folds"] == "0,1"
    assert json.loads(run.data.tags[MEMBERS_TAG])["members"] == ["models:/m-a", "models:/m-b"]
    with global_tracking_uri(mlflow_sqlite_uri):
        folder = Path(mlflow.artifacts.download_artifacts(uri, dst_path=str(tmp_path)))
    stored = json.loads(next(folder.rglob("ensemble.json")).read_text())
    assert stored == {"variant": "final", "folds": [0, 1],
                      "members": ["models:/m-a", "models:/m-b"], "postprocessing": None}
    assert not list(folder.rglob("*.pt"))  # no weights: the members are referenced
    with global_tracking_uri(mlflow_sqlite_uri):  # runs:/<run id>/model takes the spacing too
        reference = mlflow.models.get_model_info(f"runs:/{run.info.run_id}/model")
    assert reference.signature.params == ensemble_signature().params
    again = log_ensemble_model(mlflow_sqlite_uri, parent, variant="final", members=MEMBERS,
                               postprocessing=None, metrics=scores, code=ENSEMBLE_CODE)
    assert again == uri
    chosen = log_ensemble_model(mlflow_sqlite_uri, parent, variant="final", members=MEMBERS,
                                postprocessing={"name": "keep_largest_component",
                                                "connectivity": 26},
                                metrics=scores, code=ENSEMBLE_CODE)
    assert chosen != uri  # another model: the same members, another post-processing


def test_a_failed_log_ends_its_run_failed(mlflow_sqlite_uri: str, tmp_path: Path) -> None:
    parent = _parent(mlflow_sqlite_uri)
    with pytest.raises(MlflowException, match="does not exist"):
        log_ensemble_model(mlflow_sqlite_uri, parent, variant="v", members=MEMBERS,
                           postprocessing=None, metrics={}, code=tmp_path / "missing.py")
    client = MlflowClient(mlflow_sqlite_uri)
    experiment = client.get_run(parent).info.experiment_id
    (run,) = client.search_runs([experiment], "tags.run_kind = 'ensemble'")
    assert run.info.status == "FAILED"


def test_predict_needs_a_load_and_the_spacing_a_post_processing_reads() -> None:
    signature = ensemble_signature()
    assert [(p.name, p.default) for p in signature.params.params] == [("spacing", [])]
    calls = []
    model = PortableEnsembleModel(
        combine=lambda members: members[0],
        segment=lambda network, config, hu, *, device: (hu > 0).astype(np.uint8),
        postprocess=lambda chosen, mask, spacing: calls.append((chosen, spacing)) or mask * 0)
    volume = np.array([[[1.0, -1.0]]], np.float32)
    with pytest.raises(RuntimeError, match="not loaded"):
        model.predict(None, volume)  # type: ignore[arg-type]  # predict reads no context
    model.network, model.config = object(), object()  # type: ignore[assignment]  # stand-ins
    np.testing.assert_array_equal(model.predict(None, volume), [[[1, 0]]])  # type: ignore[arg-type]  # as above
    model.postprocessing = {"name": "keep_largest_component"}
    with pytest.raises(ValueError, match="keep_largest_component.*spacing"):
        model.predict(None, volume, params={"spacing": [1.0, 2.0]})  # type: ignore[arg-type]  # as above
    out = model.predict(None, volume, params={"spacing": [3, 1, 1]})  # type: ignore[arg-type]  # as above
    assert calls == [({"name": "keep_largest_component"}, [3.0, 1.0, 1.0])] and not out.any()
