"""Files logged on a run: JSON documents and folders of figures and tables, checked for PHI.

Figures and tables are drawn from pseudonymous data only; every file name and every JSON
document is checked for DICOM identifiers before anything reaches the store.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from platform.tracking.phi_guard import check_no_identifiers
from platform.tracking.store import mlflow_client

__all__ = ["download_folder", "log_files", "log_json"]


def log_json(uri: str, run_id: str, name: str, data: Any) -> None:
    """Log ``data`` as the JSON artifact ``name`` of run ``run_id`` (checked for PHI).

    Raises:
        ValueError: a key names a DICOM identifier or a value is a DICOM UID.
    """
    check_no_identifiers({"data": data}, what=name)
    mlflow_client(uri).log_text(run_id, json.dumps(data, indent=2, sort_keys=True), name)


def log_files(uri: str, run_id: str, folder: str | Path, artifact_path: str | None) -> None:
    """Log every file under the local ``folder`` as artifacts of run ``run_id``.

    Figures and tables are drawn from pseudonymous data only; their file names and any
    JSON beside them are checked for DICOM identifiers before anything is sent.

    Raises:
        ValueError: a file name, or a key of a ``.json`` file, names a DICOM identifier.
    """
    root = Path(folder)
    for path in sorted(root.rglob("*")):
        if path.is_file():
            check_no_identifiers({path.relative_to(root).as_posix(): ""}, what="artifact name")
            if path.suffix == ".json":
                check_no_identifiers({"data": json.loads(path.read_text())}, what=path.name)
    mlflow_client(uri).log_artifacts(run_id, str(root), artifact_path)


def download_folder(uri: str, run_id: str, artifact_path: str, dst: str | Path) -> Path:
    """Copy the artifact folder ``artifact_path`` of run ``run_id`` into the local ``dst``;
    return the local folder (``dst / artifact_path``).

    Raises:
        FileNotFoundError: the run holds no such folder.
    """
    Path(dst).mkdir(parents=True, exist_ok=True)
    client = mlflow_client(uri)
    if not client.list_artifacts(run_id, artifact_path):
        raise FileNotFoundError(f"run {run_id} holds no artifact folder {artifact_path!r}")
    return Path(client.download_artifacts(run_id, artifact_path, str(dst)))
