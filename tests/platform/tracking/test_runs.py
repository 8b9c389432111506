"""platform.tracking against real MLflow stores: a SQLite file and an ``mlflow server``.

Everything is read back with ``MlflowClient``, the way the MLflow UI sees it (issue 7,
item 6; issue 8, item 4).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import mlflow
import mlflow.pyfunc
import pytest
import torch
import yaml
from matplotlib.figure import Figure
from mlflow import MlflowClient

from platform.config import load_sweep
from platform.report.figures.canvas import save_figure
from platform.sweep.expand import expand
from platform.tracking import (
    TrialRun,
    end_run,
    find_sweep_run,
    find_trial_run,
    log_files,
    log_table,
    run_tags,
    start_sweep_run,
)
from platform.tracking.payloads import PARAM_VALUE_LIMIT
from platform.tracking.provenance import GIT_COMMIT_TAG, environment_tags, git_state
from platform.trial.parts import network
from platform.trial.portable_model import MODEL_CODE
from platform.tune.env import REPO_ROOT

EXPERIMENT = "ablation-test"
SWEEP_YAML = "name: ablation-test\nfolds: 2\nvariants: [{name: base}, {name: se}]\n"
CONFIG = {
    "model": {"name": "unet3d", "se": True, "channels": [8, 16]},
    "optimizer": {"name": "adam", "lr": 0.001},
    "notes": "x" * (PARAM_VALUE_LIMIT + 100),
}
ROWS = [{"case": "case-001", "dice": 0.5, "hd95_mm": 3.0},
        {"case": "case-002", "dice": 0.75, "hd95_mm": 1.5}]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _parent(uri: str, sweep_id: str = "sw1") -> str:
    return start_sweep_run(uri, EXPERIMENT, sweep_name="ablation-test", sweep_id=sweep_id,
                           config_yaml=SWEEP_YAML, source_yaml=SWEEP_YAML,
                           tags={"purpose": "test"})


def _trial(uri: str, parent: str, *, variant: str = "se", fold: int = 0,
           run_id: str | None = None) -> TrialRun:
    tags = run_tags(variant=variant, fold=fold, sweep_id="sw1", trial_id=f"{variant}-f{fold}")
    return TrialRun(uri, EXPERIMENT, parent_run_id=parent, run_name=f"{variant}/fold{fold}",
                    tags=tags, run_id=run_id)


# A real trial config (tiny.yaml's final variant: a width-4, depth-2 residual SE U-Net):
# the portable model rebuilds its network from it.
TRIAL_CONFIG = next(s.config for s in expand(load_sweep(REPO_ROOT / "sweeps" / "tiny.yaml"))
                    if s.variant == "final")


def _tiny_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return network(TRIAL_CONFIG).eval()


def _log_full_trial(uri: str, tmp_path: Path) -> tuple[str, str, torch.nn.Module]:
    """Log every kind of thing a trial logs; return (parent id, child id, model)."""
    parent = _parent(uri)
    model = _tiny_model()
    figure = Figure()
    figure.add_subplot().plot([0, 1], [1, 0])
    png = tmp_path / "curve.png"
    figure.savefig(png)
    with _trial(uri, parent) as run:
        run.log_config(CONFIG)
        for step in (1, 2, 3):
            run.log_metrics({"train_loss": 1.0 / step, "lr": 0.001 * 0.5**step}, step=step)
        run.log_per_patient(ROWS)
        run.log_metrics({"dice": 0.625})
        run.log_figure(figure, "figures/case-001")
        run.log_figure(png, "curve.png")
        run.log_model(model, TRIAL_CONFIG.model_dump(mode="json"), code=MODEL_CODE)
        child = run.run_id
    return parent, child, model


def _assert_round_trip(uri: str, parent: str, child: str, model: torch.nn.Module,
                       tmp_path: Path) -> None:
    client = MlflowClient(uri)
    run = client.get_run(child)
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "se/fold0"
    tags = run.data.tags
    assert tags["mlflow.parentRunId"] == parent
    assert (tags["variant"], tags["fold"], tags["sweep_id"], tags["trial_id"]) == (
        "se", "0", "sw1", "se-f0")
    assert tags["git_commit"] and tags["host"] and tags["torch_version"] == torch.__version__
    params = run.data.params
    assert params["model.se"] == "True" and params["optimizer.lr"] == "0.001"
    assert params["model.channels"] == "[8, 16]"
    assert len(params["notes"]) == PARAM_VALUE_LIMIT and params["notes"].endswith("config.yaml]")
    history = {key: [(m.step, m.value) for m in client.get_metric_history(child, key)]
               for key in ("train_loss", "lr")}
    assert sorted(history["train_loss"]) == [(1, 1.0), (2, 0.5), (3, 1.0 / 3)]
    assert sorted(history["lr"]) == [(s, 0.001 * 0.5**s) for s in (1, 2, 3)]
    assert run.data.metrics["dice"] == 0.625
    paths = {f.path for f in client.list_artifacts(child)}
    assert {"config.yaml", "per_patient.csv", "curve.png", "figures"} <= paths
    assert [f.path for f in client.list_artifacts(child, "figures")] == ["figures/case-001.png"]
    local = Path(client.download_artifacts(child, "", str(tmp_path / "down")))
    assert yaml.safe_load((local / "config.yaml").read_text()) == CONFIG
    csv_lines = (local / "per_patient.csv").read_text().splitlines()
    assert csv_lines == ["case,dice,hd95_mm", "case-001,0.5,3.0", "case-002,0.75,1.5"]
    for png in (local / "curve.png", local / "figures" / "case-001.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)  # how models:/ URIs find their store
        loaded = mlflow.pyfunc.load_model(tags["model_uri"])
    # A pyfunc built from weights and config (models from code), nothing pickled.
    flavor = loaded.metadata.flavors["python_function"]
    assert flavor["loader_module"] == "mlflow.pyfunc.loaders.code_model"
    assert "python_model" not in flavor  # the key of a cloudpickled model
    x = torch.rand(1, 1, 8, 8, 8)
    torch.testing.assert_close(loaded.unwrap_python_model().network(x), model(x))
    parent_files = {f.path for f in client.list_artifacts(parent)}
    assert "sweep.yaml" in parent_files


def test_trial_run_round_trip_sqlite(mlflow_sqlite_uri: str, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    parent, child, model = _log_full_trial(mlflow_sqlite_uri, tmp_path)
    _assert_round_trip(mlflow_sqlite_uri, parent, child, model, tmp_path)
    # Artifacts and models sit beside the database; nothing lands in the working folder
    # (MLflow's defaults would write ./mlruns and ./mlflow.db there).
    assert list((tmp_path / "mlruns" / "mlartifacts").iterdir())
    assert list(work.iterdir()) == []


@pytest.mark.slow
def test_trial_run_round_trip_server(mlflow_server: str, tmp_path: Path) -> None:
    parent, child, model = _log_full_trial(mlflow_server, tmp_path)
    _assert_round_trip(mlflow_server, parent, child, model, tmp_path)


def test_exception_in_block_marks_run_failed_with_reason(mlflow_sqlite_uri: str) -> None:
    parent = _parent(mlflow_sqlite_uri)
    with pytest.raises(FloatingPointError, match="loss is nan"), _trial(
            mlflow_sqlite_uri, parent) as run:
        run.log_metrics({"train_loss": 0.9}, step=1)
        raise FloatingPointError("loss is nan at step 2")
    stored = MlflowClient(mlflow_sqlite_uri).get_run(run.run_id)
    assert stored.info.status == "FAILED"
    assert stored.data.tags["failure_reason"] == "FloatingPointError: loss is nan at step 2"


def test_set_failed_keeps_the_run_failed(mlflow_sqlite_uri: str) -> None:
    parent = _parent(mlflow_sqlite_uri)
    with _trial(mlflow_sqlite_uri, parent) as run:
        run.set_failed("out of memory on 128^3 patches")
    stored = MlflowClient(mlflow_sqlite_uri).get_run(run.run_id)
    assert stored.info.status == "FAILED"
    assert stored.data.tags["failure_reason"] == "out of memory on 128^3 patches"


def test_resumed_trial_logs_into_the_same_child_run(mlflow_sqlite_uri: str) -> None:
    parent = _parent(mlflow_sqlite_uri)
    assert find_trial_run(mlflow_sqlite_uri, parent, "se-f0") is None
    with pytest.raises(RuntimeError), _trial(mlflow_sqlite_uri, parent) as first:
        first.log_metrics({"train_loss": 1.0}, step=1)
        raise RuntimeError("node lost")
    found = find_trial_run(mlflow_sqlite_uri, parent, "se-f0")
    assert found == first.run_id
    with _trial(mlflow_sqlite_uri, parent, run_id=found) as second:
        second.log_metrics({"train_loss": 0.5}, step=2)
    client = MlflowClient(mlflow_sqlite_uri)
    children = client.search_runs([client.get_run(parent).info.experiment_id],
                                  f"tags.mlflow.parentRunId = '{parent}'")
    assert [r.info.run_id for r in children] == [found]
    stored = client.get_run(found)
    assert stored.info.status == "FINISHED"
    assert "failure_reason" not in stored.data.tags
    assert stored.data.tags["previous_failure_reason"] == "RuntimeError: node lost"
    assert [(m.step, m.value) for m in client.get_metric_history(found, "train_loss")] == [
        (1, 1.0), (2, 0.5)]


def test_resume_refuses_a_run_of_another_sweep(mlflow_sqlite_uri: str) -> None:
    parent, other = _parent(mlflow_sqlite_uri), _parent(mlflow_sqlite_uri, sweep_id="sw2")
    with _trial(mlflow_sqlite_uri, parent) as run:
        pass
    with pytest.raises(ValueError, match="not of"), _trial(mlflow_sqlite_uri, other,
                                                           run_id=run.run_id):
        pass


def test_trial_run_needs_identity_tags_and_a_with_block(mlflow_sqlite_uri: str) -> None:
    run = TrialRun(mlflow_sqlite_uri, EXPERIMENT, parent_run_id=None, run_name="x",
                   tags={"variant": "se"})
    with pytest.raises(RuntimeError, match="not started"):
        run.log_metrics({"dice": 0.1})
    with pytest.raises(ValueError, match="run_tags"), run:
        pass


def test_log_table_and_sweep_lookup(mlflow_sqlite_uri: str, tmp_path: Path) -> None:
    parent = _parent(mlflow_sqlite_uri, sweep_id="sw9")
    assert find_sweep_run(mlflow_sqlite_uri, EXPERIMENT, "sw9") == parent
    assert find_sweep_run(mlflow_sqlite_uri, EXPERIMENT, "nope") is None
    assert find_sweep_run(mlflow_sqlite_uri, "no-such-experiment", "sw9") is None
    log_table(mlflow_sqlite_uri, parent, markdown="| a |\n", csv="a\n1\n",
              metrics={"t1.se.dice_mean": 0.6})
    end_run(mlflow_sqlite_uri, parent, "FINISHED")
    client = MlflowClient(mlflow_sqlite_uri)
    stored = client.get_run(parent)
    assert stored.info.status == "FINISHED" and stored.data.metrics == {"t1.se.dice_mean": 0.6}
    assert stored.data.tags["run_kind"] == "sweep" and stored.data.tags["purpose"] == "test"
    local = Path(client.download_artifacts(parent, "", str(tmp_path / "p")))
    assert (local / "table1.md").read_text() == "| a |\n"
    assert (local / "table1.csv").read_text() == "a\n1\n"
    assert (local / "sweep.yaml").read_text() == SWEEP_YAML
    with pytest.raises(ValueError, match="FINISHED, FAILED or KILLED"):
        end_run(mlflow_sqlite_uri, parent, "DONE")  # type: ignore[arg-type]


def test_run_tags_carry_identity_and_provenance() -> None:
    tags = run_tags(variant="se", fold=3, sweep_id="sw1", trial_id="t7")
    assert (tags["variant"], tags["fold"], tags["sweep_id"], tags["trial_id"]) == (
        "se", "3", "sw1", "t7")
    assert environment_tags().items() <= tags.items()
    assert {"git_commit", "git_dirty", "host", "torch_version", "cuda_version"} <= set(tags)
    # MLflow's standard tag (the UI shows and links it), equal to our own.
    assert tags[GIT_COMMIT_TAG] == tags["git_commit"] == git_state()[0]


def test_trial_run_logs_system_metrics_and_the_cohort_as_a_dataset(
        mlflow_sqlite_uri: str) -> None:
    tags = run_tags(variant="se", fold=0, sweep_id="sw1", trial_id="se-f0")
    with TrialRun(mlflow_sqlite_uri, EXPERIMENT, parent_run_id=None, run_name="se/fold0",
                  tags=tags, system_metrics_interval_s=0.2) as run:
        run.log_dataset(name="cohort-a", digest="ab" * 20, source="/data/cohort-a",
                        profile={"cases": 6, "train_cases": 4, "test_cases": 2},
                        context="fold 0")
        deadline = time.monotonic() + 20
        client = MlflowClient(mlflow_sqlite_uri)
        while time.monotonic() < deadline and not any(
                k.startswith("system/") for k in client.get_run(run.run_id).data.metrics):
            time.sleep(0.2)
    stored = MlflowClient(mlflow_sqlite_uri).get_run(run.run_id)
    assert stored.info.status == "FINISHED"
    assert 0.0 <= stored.data.metrics["system/cpu_utilization_percentage"] <= 100.0 * 64
    assert stored.data.metrics["system/system_memory_usage_megabytes"] > 0
    (given,) = stored.inputs.dataset_inputs
    assert (given.dataset.name, given.dataset.digest) == ("cohort-a", "ab" * 18)  # 36 chars
    assert json.loads(given.dataset.profile) == {"cases": 6, "test_cases": 2, "train_cases": 4}
    assert [(t.key, t.value) for t in given.tags] == [("mlflow.data.context", "fold 0")]
    with TrialRun(mlflow_sqlite_uri, EXPERIMENT, parent_run_id=None, run_name="x",
                  tags=tags) as other, pytest.raises(ValueError, match="DICOM identifier"):
        other.log_dataset(name="c", digest="0", source="/d", profile={"PatientID": 3},
                          context="fold 0")


def test_log_files_and_figure_files_refuse_identifiers(mlflow_sqlite_uri: str,
                                                       tmp_path: Path) -> None:
    parent = _parent(mlflow_sqlite_uri)
    folder = tmp_path / "report"
    folder.mkdir()
    (folder / "table.json").write_text(json.dumps({"rows": [{"case": "case-001"}]}))
    log_files(mlflow_sqlite_uri, parent, folder, "report")
    client = MlflowClient(mlflow_sqlite_uri)
    assert [f.path for f in client.list_artifacts(parent, "report")] == ["report/table.json"]
    (folder / "bad.json").write_text(json.dumps({"rows": [{"PatientName": "DOE^JANE"}]}))
    with pytest.raises(ValueError, match="DICOM identifier"):
        log_files(mlflow_sqlite_uri, parent, folder, "report")
    figure = Figure()
    figure.add_subplot().plot([0, 1], [1, 0])
    with _trial(mlflow_sqlite_uri, parent) as run:
        save_figure(figure, {"values": [1.0, 0.0]}, tmp_path / "ok", "curve")
        run.log_files(tmp_path / "ok", "figures")
        save_figure(figure, {"patient_id": [1]}, tmp_path / "bad", "leak")
        with pytest.raises(ValueError, match="DICOM identifier"):
            run.log_files(tmp_path / "bad", "figures")
    paths = sorted(f.path for f in client.list_artifacts(run.run_id, "figures"))
    assert paths == ["figures/curve.json", "figures/curve.png", "figures/curve.svg"]


FAKE_PHI = {
    "PatientName": "DOE^JANE^Q",
    "PatientID": "PID-99812377",
    "PatientBirthDate": "19561231",
    "AccessionNumber": "ACC-55501234",
    "InstitutionName": "St Example General Hospital",
    "StudyDate": "20190417",
}
FAKE_UID = "1.2.826.0.1.3680043.8.498.77766655544433322211"


def test_no_identifier_reaches_the_store(mlflow_sqlite_uri: str, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # anything MLflow writes to the working folder is grepped too
    parent = _parent(mlflow_sqlite_uri)
    with _trial(mlflow_sqlite_uri, parent) as run:
        with pytest.raises(ValueError, match="DICOM identifier"):
            run.log_config({**CONFIG, "source": {"dicom_header": FAKE_PHI}})
        with pytest.raises(ValueError, match="DICOM identifier"):
            run.log_per_patient([{**ROWS[0], "PatientName": FAKE_PHI["PatientName"]}])
        with pytest.raises(ValueError, match="DICOM UID"):
            run.log_config({"series": FAKE_UID})
        with pytest.raises(ValueError, match="DICOM identifier"):
            run.log_metrics({"patient_id": 1.0})
        run.log_config(CONFIG)
        run.log_per_patient(ROWS)
    bad_tags = {**run_tags(variant="se", fold=1, sweep_id="sw1", trial_id="t"),
                "accession_number": FAKE_PHI["AccessionNumber"]}
    with pytest.raises(ValueError, match="DICOM identifier"):
        TrialRun(mlflow_sqlite_uri, EXPERIMENT, parent_run_id=parent, run_name="x",
                 tags=bad_tags).__enter__()
    with pytest.raises(ValueError, match="sweep.yaml"):
        start_sweep_run(mlflow_sqlite_uri, EXPERIMENT, sweep_name="s", sweep_id="s2",
                        config_yaml=yaml.safe_dump({"cohort": FAKE_PHI}), source_yaml="{}",
                        tags={})
    stored = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    assert b"case-001" in stored and b"unet3d" in stored  # the grep does see logged text
    for secret in [*FAKE_PHI.values(), FAKE_UID]:
        assert secret.encode() not in stored, f"{secret!r} leaked into the MLflow store"
