"""Issue 23: ``report --register`` registers a variant's best fold model by Dice
(:mod:`platform.tracking.registry`), on the session's finished tiny sweep."""

from __future__ import annotations

from typing import Any

import pytest
from mlflow import MlflowClient

from platform.report.rebuild import main as report_main
from platform.tracking.registry import best_fold_model, register_best_model
from platform.tracking.store import global_tracking_uri
from tests.platform.sweep.harness import child_runs

pytestmark = pytest.mark.slow  # the session's finished tiny sweep (~1 min once)


def _parent(uri: str) -> str:
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("tiny")
    return client.search_runs([experiment.experiment_id], "tags.run_kind = 'sweep'")[0].info.run_id


def test_the_best_fold_model_of_a_variant_is_registered_under_an_alias(
        finished_tiny_sweep: Any) -> None:
    import mlflow.pyfunc

    uri = finished_tiny_sweep.uri
    finals = [r for r in child_runs(uri, "tiny") if r.data.tags["variant"] == "final"]
    best = max(finals, key=lambda r: r.data.metrics["dice"])
    parent = _parent(uri)
    assert best_fold_model(uri, parent, "final")[0] == best.data.tags["model_uri"]
    done = register_best_model(uri, parent, "final", "issue23-final", "champion")
    assert (done.model_uri, done.alias) == (best.data.tags["model_uri"], "champion")
    version = MlflowClient(uri).get_model_version_by_alias("issue23-final", "champion")
    assert str(version.version) == done.version and version.tags["variant"] == "final"
    with global_tracking_uri(uri):
        loaded = mlflow.pyfunc.load_model("models:/issue23-final@champion")
    assert loaded.metadata.model_id == done.model_uri.removeprefix("models:/")
    with pytest.raises(KeyError, match="no evaluated model of variant 'nope'"):
        best_fold_model(uri, parent, "nope")


def test_the_report_command_registers_on_request(finished_tiny_sweep: Any, tmp_path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    uri = finished_tiny_sweep.uri
    assert report_main(["tiny", "--tracking-uri", uri, "--out", str(tmp_path), "--no-trials",
                        "--register", "issue23-plain", "--variant", "plain"]) == 0
    assert "models:/issue23-plain/1" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        report_main(["tiny", "--tracking-uri", uri, "--register", "x"])  # no --variant


def test_a_variants_fold_ensemble_is_registered_on_request(finished_tiny_sweep: Any, tmp_path,
                                                           capsys: pytest.CaptureFixture[str]
                                                           ) -> None:
    uri = finished_tiny_sweep.uri
    (run,) = [r for r in child_runs(uri, "tiny", kind="ensemble")
              if r.data.tags["variant"] == "final"]
    assert report_main(["tiny", "--tracking-uri", uri, "--out", str(tmp_path), "--no-trials",
                        "--register", "issue23-ensemble", "--variant", "final", "--ensemble",
                        "--alias", "team"]) == 0
    out = capsys.readouterr().out
    assert f"registered {run.data.tags['model_uri']} (cv_mean_dice " in out  # not its own Dice
    version = MlflowClient(uri).get_model_version_by_alias("issue23-ensemble", "team")
    assert version.tags["ensemble_run"] == run.info.run_id
    assert float(version.tags["cv_mean_dice"]) == pytest.approx(
        run.data.metrics["cv_mean_dice"], rel=1e-5)
    with pytest.raises(KeyError, match="no ensemble model of variant 'nope'"):
        register_best_model(uri, _parent(uri), "nope", "x", ensemble=True)
    with pytest.raises(SystemExit):
        report_main(["tiny", "--tracking-uri", uri, "--variant", "final", "--ensemble"])
