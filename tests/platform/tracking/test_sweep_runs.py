"""platform/tracking/sweep_runs.py: a sweep's parent run created once, found again, ended."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow import MlflowClient

from platform.tracking.sweep_runs import end_run, find_sweep_run, start_sweep_run

RESOLVED = "name: s\nvariants: [{name: a}]\n"


def test_the_parent_run_holds_the_sweep_and_is_found_by_its_id(mlflow_sqlite_uri: str,
                                                                tmp_path: Path) -> None:
    parent = start_sweep_run(mlflow_sqlite_uri, "s", sweep_name="s", sweep_id="id1",
                             config_yaml=RESOLVED, source_yaml="name: s\n", tags={"k": "v"})
    assert find_sweep_run(mlflow_sqlite_uri, "s", "id1") == parent
    assert find_sweep_run(mlflow_sqlite_uri, "s", "id2") is None
    end_run(mlflow_sqlite_uri, parent, "FAILED")
    run = MlflowClient(mlflow_sqlite_uri).get_run(parent)
    assert run.info.status == "FAILED" and run.info.run_name == "s/id1"
    assert run.data.tags["run_kind"] == "sweep" and run.data.tags["k"] == "v"
    local = Path(MlflowClient(mlflow_sqlite_uri).download_artifacts(parent, "",
                                                                    str(tmp_path / "d")))
    assert (local / "sweep.yaml").read_text() == RESOLVED
    assert (local / "sweep_file.yaml").read_text() == "name: s\n"


def test_bad_yaml_a_patient_tag_and_an_unknown_status_are_refused(
        mlflow_sqlite_uri: str) -> None:
    with pytest.raises(ValueError, match="not valid YAML"):
        start_sweep_run(mlflow_sqlite_uri, "s", sweep_name="s", sweep_id="x",
                        config_yaml="a: [", source_yaml="", tags={})
    with pytest.raises(ValueError, match="DICOM identifier"):
        start_sweep_run(mlflow_sqlite_uri, "s", sweep_name="s", sweep_id="x",
                        config_yaml=RESOLVED, source_yaml="", tags={"PatientID": "P1"})
    with pytest.raises(ValueError, match="FINISHED, FAILED or KILLED"):
        end_run(mlflow_sqlite_uri, "any", "DONE")  # type: ignore[arg-type]
