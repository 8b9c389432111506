"""Reading a sweep back from MLflow: finished child runs, Table 1's artifacts, trial models.

Why apart from :mod:`platform.tracking.runs` (which writes): Table 1, reports and
``predict`` only read the store, and they read it the same way whether the runs were
made a minute ago or on another cluster.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from platform.tracking.payloads import parse_per_patient_csv
from platform.tracking.phi_guard import check_no_identifiers
from platform.tracking.runs import PARENT_TAG
from platform.tracking.store import global_tracking_uri, log_metric_batch, mlflow_client, search_all
from platform.tracking.work import REUSED_FROM

if TYPE_CHECKING:
    import torch
    from mlflow import MlflowClient

__all__ = ["TrialResult", "fetch_trial_results", "load_trial_model", "log_table", "read_json"]


@dataclass(frozen=True)
class TrialResult:
    """One finished (or failed) child run, as Table 1 needs it.

    ``metrics`` holds each metric's latest value (the fold means are logged under the
    names of :mod:`platform.metrics`); ``per_patient`` the rows of ``per_patient.csv``
    with numbers parsed (empty list if the trial logged none).
    """

    run_id: str
    trial_id: str
    variant: str
    fold: int
    status: str
    metrics: dict[str, float]
    per_patient: list[dict[str, Any]]
    failure_reason: str | None
    evaluation_key: str = ""
    """The evaluation's content key (:mod:`platform.work_keys`)."""
    reused_from: str | None = None
    """The run that did the work, for a link run of a reused evaluation."""
    device: str = ""
    """What ran the inference (Table 2's seconds per patient)."""


def fetch_trial_results(uri: str, parent_run_id: str) -> list[TrialResult]:
    """Read every evaluation run (``run_kind=trial``) of a sweep's parent run, sorted by
    (variant, fold, trial id); a link run's per-patient rows are its source run's."""
    client = mlflow_client(uri)
    experiment_id = client.get_run(parent_run_id).info.experiment_id
    results = []
    runs = search_all(client, experiment_id,
                      f"tags.`{PARENT_TAG}` = '{parent_run_id}' and tags.run_kind = 'trial'")
    for run in runs:
        tags = run.data.tags
        reused_from = tags.get(REUSED_FROM)
        results.append(TrialResult(
            run_id=run.info.run_id, trial_id=tags.get("trial_id", ""),
            variant=tags.get("variant", ""), fold=int(tags.get("fold", "-1")),
            status=run.info.status, metrics=dict(run.data.metrics),
            per_patient=_read_per_patient(client, reused_from or run.info.run_id),
            failure_reason=tags.get("failure_reason"),
            evaluation_key=tags.get("evaluation_key", ""), reused_from=reused_from,
            device=tags.get("device", ""),
        ))
    return sorted(results, key=lambda r: (r.variant, r.fold, r.trial_id))


def log_table(uri: str, parent_run_id: str, *, markdown: str, csv: str,
              metrics: Mapping[str, float]) -> None:
    """Log the finished Table 1 on the parent run: ``table1.md``, ``table1.csv``, metrics."""
    check_no_identifiers(metrics, what="table metrics")
    client = mlflow_client(uri)
    client.log_text(parent_run_id, markdown, "table1.md")
    client.log_text(parent_run_id, csv, "table1.csv")
    log_metric_batch(client, parent_run_id, metrics, step=0)


def load_trial_model(uri: str, model: str) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Load a trial's model (on CPU) and its resolved config from the store at ``uri``.

    Args:
        uri: the tracking URI.
        model: a trial's run id, a ``runs:/<run id>`` URI, or a ``models:/<model id>`` URI.

    Returns:
        ``(module, config)``: the network from :meth:`TrialRun.log_model` and the dict
        that :meth:`TrialRun.log_config` stored as ``config.yaml``.

    Raises:
        KeyError: no such run or model, or the run logged no model.
    """
    import mlflow.pytorch
    from mlflow.exceptions import MlflowException

    client = mlflow_client(uri)
    try:
        if model.startswith("models:/"):
            run_id = client.get_logged_model(model.removeprefix("models:/")).source_run_id or ""
            model_uri = model
        else:
            run_id = model.removeprefix("runs:/").split("/")[0]
            model_uri = client.get_run(run_id).data.tags.get("model_uri", "")
        if not model_uri:
            raise KeyError(f"run {run_id} logged no model (tag 'model_uri' missing); pick a "
                           "finished trial's run id")
        with tempfile.TemporaryDirectory() as tmp, global_tracking_uri(uri):
            # models:/ URIs resolve through the global URI, whatever tracking_uri says.
            module = mlflow.pytorch.load_model(model_uri, dst_path=tmp, map_location="cpu")
            config_path = client.download_artifacts(run_id, "config.yaml", tmp)
            config = yaml.safe_load(Path(config_path).read_text())
    except MlflowException as err:
        raise KeyError(f"no trial model {model!r} in the MLflow store {uri}: "
                       f"{err.message}") from err
    return module, config


def read_json(uri: str, run_id: str, name: str) -> Any | None:
    """The JSON artifact ``name`` of run ``run_id`` (see ``log_json``), or None if absent."""
    client = mlflow_client(uri)
    folder = Path(name).parent.as_posix()
    listed = {f.path for f in client.list_artifacts(run_id, None if folder == "." else folder)}
    if name not in listed:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        return json.loads(Path(client.download_artifacts(run_id, name, tmp)).read_text())


def _read_per_patient(client: MlflowClient, run_id: str) -> list[dict[str, Any]]:
    if "per_patient.csv" not in {f.path for f in client.list_artifacts(run_id)}:
        return []
    with tempfile.TemporaryDirectory() as tmp:
        path = client.download_artifacts(run_id, "per_patient.csv", tmp)
        return parse_per_patient_csv(Path(path).read_text())
