"""platform/tracking/artifacts.py: JSON and folders of files reach a run only without PHI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow import MlflowClient

from platform.tracking.artifacts import download_folder, log_files, log_json


def _run(uri: str, tmp_path: Path) -> str:
    client = MlflowClient(uri)
    experiment = client.create_experiment("artifacts", artifact_location=str(tmp_path / "a"))
    return client.create_run(experiment).info.run_id


def test_a_json_document_is_logged_sorted_and_one_naming_a_patient_is_refused(
        mlflow_sqlite_uri: str, tmp_path: Path) -> None:
    run = _run(mlflow_sqlite_uri, tmp_path)
    log_json(mlflow_sqlite_uri, run, "choice.json", {"b": 1, "a": [0.5]})
    local = MlflowClient(mlflow_sqlite_uri).download_artifacts(run, "choice.json",
                                                               str(tmp_path / "d"))
    assert Path(local).read_text() == json.dumps({"a": [0.5], "b": 1}, indent=2)
    with pytest.raises(ValueError, match="DICOM identifier"):
        log_json(mlflow_sqlite_uri, run, "leak.json", {"PatientID": "PID-1"})


def test_a_folder_is_logged_whole_unless_a_file_name_names_a_patient(
        mlflow_sqlite_uri: str, tmp_path: Path) -> None:
    run = _run(mlflow_sqlite_uri, tmp_path)
    folder = tmp_path / "figures"
    folder.mkdir()
    (folder / "curve.json").write_text(json.dumps({"values": [1.0]}))
    (folder / "curve.png").write_bytes(b"\x89PNG")
    log_files(mlflow_sqlite_uri, run, folder, "figures")
    paths = [f.path for f in MlflowClient(mlflow_sqlite_uri).list_artifacts(run, "figures")]
    assert paths == ["figures/curve.json", "figures/curve.png"]
    (folder / "PatientName.png").write_bytes(b"\x89PNG")
    with pytest.raises(ValueError, match="DICOM identifier"):
        log_files(mlflow_sqlite_uri, run, folder, "figures")


def test_a_logged_folder_comes_back_whole_and_a_missing_one_is_named(
        mlflow_sqlite_uri: str, tmp_path: Path) -> None:
    run = _run(mlflow_sqlite_uri, tmp_path)
    folder = tmp_path / "predictions"
    folder.mkdir()
    (folder / "case-000.nii.gz").write_bytes(b"mask")
    (folder / "summary.json").write_text(json.dumps({"mean": {}}))
    log_files(mlflow_sqlite_uri, run, folder, "nnunet/predictions")
    local = download_folder(mlflow_sqlite_uri, run, "nnunet/predictions", tmp_path / "back")
    assert sorted(p.name for p in local.iterdir()) == ["case-000.nii.gz", "summary.json"]
    assert (local / "case-000.nii.gz").read_bytes() == b"mask"
    with pytest.raises(FileNotFoundError, match="nnunet/nothing"):
        download_folder(mlflow_sqlite_uri, run, "nnunet/nothing", tmp_path / "none")
