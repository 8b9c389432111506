"""Issue 23: models a researcher can choose (:mod:`platform.tracking.model_reference`).

On the session's finished tiny sweep: each training's logged model is named
``<variant>-fold<k>`` and carries its evaluation's scores (the Models tab ranks them), its
requirements are ranges, and ``runs:/<evaluation run id>/model`` and ``runs:/<training run
id>/model`` both load the same network and predict the same mask.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from mlflow import MlflowClient
from packaging.requirements import Requirement

from platform.tracking.portable_model import TORCH_REQUIREMENT
from platform.tracking.store import global_tracking_uri
from tests.platform.sweep.harness import child_runs

pytestmark = pytest.mark.slow  # the session's finished tiny sweep (~1 min once)

SCORES = ("dice", "sensitivity", "specificity", "precision")


def _models(uri: str) -> list[Any]:
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("tiny")
    return client.search_logged_models([experiment.experiment_id])


def test_models_are_named_by_variant_and_fold_and_carry_their_scores(
        finished_tiny_sweep: Any) -> None:
    uri = finished_tiny_sweep.uri
    evaluations = child_runs(uri, "tiny")
    models = {model.name: model for model in _models(uri)}
    assert set(models) == {f"{run.data.tags['variant']}-fold{run.data.tags['fold']}"
                           for run in evaluations} | {  # and each variant's fold ensemble
        f"{run.data.tags['variant']}-ensemble" for run in evaluations}
    for run in evaluations:
        model = models[f"{run.data.tags['variant']}-fold{run.data.tags['fold']}"]
        assert run.data.tags["model_uri"] == f"models:/{model.model_id}"
        linked = {m.key: m.value for m in model.metrics or [] if m.run_id == run.info.run_id}
        for score in SCORES:
            assert linked[score] == pytest.approx(run.data.metrics[score], nan_ok=True), score


def test_model_requirements_are_ranges(finished_tiny_sweep: Any, tmp_path: Path) -> None:
    uri = finished_tiny_sweep.uri
    for kind in ("-fold0", "-ensemble"):
        model = [m for m in _models(uri) if m.name.endswith(kind)][0]
        with global_tracking_uri(uri):
            import mlflow.artifacts

            folder = mlflow.artifacts.download_artifacts(f"models:/{model.model_id}",
                                                         dst_path=str(tmp_path / kind))
        lines = (Path(folder) / "requirements.txt").read_text().split()
        (torch,) = [Requirement(line) for line in lines if line.startswith("torch")]
        assert torch.specifier == Requirement(TORCH_REQUIREMENT).specifier  # MLflow reorders
        assert not any("==" in line for line in lines if not line.startswith("mlflow")), lines


def test_runs_uris_of_the_evaluation_and_the_training_load_the_same_model(
        finished_tiny_sweep: Any) -> None:
    import mlflow.pyfunc

    uri = finished_tiny_sweep.uri
    evaluation = child_runs(uri, "tiny")[0]
    training = evaluation.data.tags["training_run"]
    volume = np.full((32, 40, 40), -1000.0, np.float32)  # air
    volume[4:28, 6:34, 6:34] = 1000.0  # a closed skull, so skull removal finds a brain
    volume[6:26, 8:32, 8:32] = 40.0  # brain
    volume[12:18, 14:22, 14:22] = 20.0  # a darker region
    masks = []
    with global_tracking_uri(uri):
        for run_id in (evaluation.info.run_id, training):
            loaded = mlflow.pyfunc.load_model(f"runs:/{run_id}/model")
            reference = loaded.unwrap_python_model()
            assert reference.model_uri == evaluation.data.tags["model_uri"]
            masks.append(loaded.predict(volume))
    assert masks[0].shape == volume.shape and masks[0].dtype == np.uint8
    np.testing.assert_array_equal(masks[0], masks[1])
