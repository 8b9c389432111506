"""Reading a sweep back from MLflow: child runs, the parent run, trial models.

Why apart from :mod:`platform.tracking.runs` (which writes): Table 1, the report command
and ``predict`` only read the store, and they read it the same way whether the runs were
made a minute ago or on another cluster.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from platform.tracking.payloads import parse_per_patient_csv
from platform.tracking.phi_guard import check_no_identifiers
from platform.tracking.store import (
    global_tracking_uri,
    log_metric_batch,
    mlflow_client,
    read_text_artifact,
    search_all,
)
from platform.tracking.tags import (
    EVALUATION,
    PARENT_TAG,
    REUSED_FROM,
    RUN_KIND,
    SWEEP,
    TRAINING_RUN,
    kind_filters,
)

if TYPE_CHECKING:
    import torch
    from mlflow import MlflowClient

__all__ = ["TrialResult", "fetch_trial_results", "find_sweep_parent",
           "load_segmentation_model", "load_trial_model", "log_table", "metric_history",
           "model_uri_of", "read_json", "read_run_text"]

_RUN_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class TrialResult:
    """One finished (or failed) child run, as Table 1 and the report need it.

    ``metrics`` holds each metric's latest value (the fold means are logged under the
    names of :mod:`platform.evaluation.metrics`); ``per_patient`` the rows of ``per_patient.csv``
    with numbers parsed (empty list if the trial logged none); ``params`` the flattened
    resolved config; ``start_time`` milliseconds since the epoch.
    """

    run_id: str
    trial_id: str
    variant: str
    fold: int
    status: str
    metrics: dict[str, float]
    per_patient: list[dict[str, Any]]
    failure_reason: str | None
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    start_time: int = 0
    evaluation_key: str = ""
    """The evaluation's content key (:mod:`platform.sweep.keys`)."""
    reused_from: str | None = None
    """The run that did the work, for a link run of a reused evaluation."""
    device: str = ""
    """What ran the inference (Table 2's seconds per patient)."""
    training_device: str = ""
    """What ran the training whose model was evaluated (its run's ``device`` tag; empty
    where unknown)."""


def fetch_trial_results(uri: str, parent_run_id: str) -> list[TrialResult]:
    """Read every evaluation run (``run_kind=evaluation``, or ``trial`` as written before
    issue 26) of a sweep's parent run, sorted by
    (variant, fold, trial id); a link run's per-patient rows are its source run's."""
    client = mlflow_client(uri)
    experiment_id = client.get_run(parent_run_id).info.experiment_id
    results = []
    runs = [run for clause in kind_filters(EVALUATION)
            for run in search_all(client, experiment_id,
                                  f"tags.`{PARENT_TAG}` = '{parent_run_id}' and {clause}")]
    trainings = _training_devices(client, experiment_id,
                                  {run.data.tags.get(TRAINING_RUN, "") for run in runs})
    for run in runs:
        tags = run.data.tags
        reused_from = tags.get(REUSED_FROM)
        text = read_text_artifact(client, reused_from or run.info.run_id, "per_patient.csv")
        results.append(TrialResult(
            run_id=run.info.run_id, trial_id=tags.get("trial_id", ""),
            variant=tags.get("variant", ""), fold=int(tags.get("fold", "-1")),
            status=run.info.status, metrics=dict(run.data.metrics),
            per_patient=parse_per_patient_csv(text) if text else [],
            failure_reason=tags.get("failure_reason"), params=dict(run.data.params),
            tags=dict(tags), start_time=int(run.info.start_time or 0),
            evaluation_key=tags.get("evaluation_key", ""), reused_from=reused_from,
            device=tags.get("device", ""),
            training_device=trainings.get(tags.get(TRAINING_RUN, ""), ""),
        ))
    return sorted(results, key=lambda r: (r.variant, r.fold, r.trial_id))


def _training_devices(client: MlflowClient, experiment_id: str,
                      run_ids: set[str]) -> dict[str, str]:
    """The ``device`` tag of each training run in ``run_ids`` (trainings are reused only
    within their experiment), a hundred ids per search."""
    ids = sorted(i for i in run_ids if _RUN_ID.match(i))
    devices = {}
    for start in range(0, len(ids), 100):
        quoted = ", ".join(f"'{i}'" for i in ids[start:start + 100])
        for run in search_all(client, experiment_id, f"attributes.run_id IN ({quoted})"):
            devices[run.info.run_id] = run.data.tags.get("device", "")
    return devices


def read_run_text(uri: str, run_id: str, path: str) -> str | None:
    """The text artifact ``path`` of run ``run_id`` (``None`` if absent), no progress bar."""
    return read_text_artifact(mlflow_client(uri), run_id, path)


def metric_history(uri: str, run_id: str, key: str) -> list[tuple[int, float]]:
    """``(step, value)`` of every logged value of metric ``key``, by step (last one wins)."""
    history = mlflow_client(uri).get_metric_history(run_id, key)
    by_step = {m.step: m.value for m in sorted(history, key=lambda m: (m.step, m.timestamp))}
    return sorted(by_step.items())


def find_sweep_parent(uri: str, reference: str) -> str:
    """The parent run id of a sweep named by ``reference``.

    ``reference`` is a sweep's parent run id, a trial's run id (its parent is taken), a
    run name ``<sweep>/<sweep id>``, or an experiment name (one per sweep name: its
    newest sweep run).

    Raises:
        KeyError: nothing in the store at ``uri`` matches (the message lists the
            experiments that hold sweeps).
    """
    from mlflow.exceptions import MlflowException

    client = mlflow_client(uri)
    if _RUN_ID.match(reference):
        try:
            run = client.get_run(reference)
        except MlflowException:
            run = None
        if run is not None:
            parent = run.data.tags.get(PARENT_TAG)
            return parent if run.data.tags.get(RUN_KIND) != SWEEP and parent else reference
    name, _, sweep_id = reference.partition("/")
    if "'" in reference:
        raise KeyError(f"{reference!r}: a sweep reference must not contain a quote")
    query = kind_filters(SWEEP)[0] + (f" and tags.sweep_id = '{sweep_id}'" if sweep_id else "")
    experiments = client.search_experiments()
    for experiment in experiments:
        if experiment.name != name:
            continue
        runs = client.search_runs([experiment.experiment_id], filter_string=query,
                                  max_results=1, order_by=["attributes.start_time DESC"])
        if runs:
            return str(runs[0].info.run_id)
    known = sorted(e.name for e in experiments if e.name != "Default")
    raise KeyError(f"no sweep {reference!r} in the MLflow store {uri}: give a sweep name "
                   f"(experiments here: {known}), '<sweep>/<sweep id>' or a run id")


TABLE_ARTIFACT = "table1.json"
"""Table 1 as an MLflow table artifact (``mlflow.log_table``'s JSON, ``orient=split``)."""
_LOGGED_ARTIFACTS = "mlflow.loggedArtifacts"


def log_table(uri: str, parent_run_id: str, *, markdown: str, csv: str,
              metrics: Mapping[str, float]) -> None:
    """Log the finished Table 1 on the parent run: ``table1.md``, ``table1.csv``, the
    headline ``metrics`` (a handful: the runs table and charts stay readable) and the
    whole table as MLflow's table artifact ``table1.json`` (every column, one row per
    variant), which the UI shows as a table.

    ``mlflow.log_table`` appends to an existing file (a resumed sweep would list each
    row twice), so the same JSON and the tag that marks it a table are written here and
    replaced on every call.
    """
    check_no_identifiers(metrics, what="table metrics")
    client = mlflow_client(uri)
    client.log_text(parent_run_id, markdown, "table1.md")
    client.log_text(parent_run_id, csv, "table1.csv")
    client.log_text(parent_run_id, json.dumps(_split_table(csv)), TABLE_ARTIFACT)
    marked = json.loads(client.get_run(parent_run_id).data.tags.get(_LOGGED_ARTIFACTS, "[]"))
    entry = {"path": TABLE_ARTIFACT, "type": "table"}
    if entry not in marked:
        client.set_tag(parent_run_id, _LOGGED_ARTIFACTS, json.dumps([*marked, entry]))
    log_metric_batch(client, parent_run_id, metrics, step=0)


def _split_table(csv_text: str) -> dict[str, list[Any]]:
    """A CSV as pandas' ``orient="split"`` JSON (what ``mlflow.log_table`` writes); cells
    that read as numbers become numbers."""
    rows = list(csv.reader(io.StringIO(csv_text)))

    def cell(text: str) -> Any:
        try:
            number = float(text)
        except ValueError:
            return text
        return None if number != number else number  # NaN is not JSON

    return {"columns": rows[0] if rows else [],
            "data": [[cell(text) for text in row] for row in rows[1:]]}


def model_uri_of(client: MlflowClient, reference: str) -> str:
    """The model URI that ``reference`` names: a run id, ``runs:/<run id>`` or
    ``runs:/<run id>/model`` (the model a training logged or an evaluation scored, tag
    ``model_uri``), ``runs:/<run id>/<name>``, or any ``models:/`` URI
    (``models:/<model id>``, ``models:/<name>@<alias>``, ``models:/<name>/<version>``).

    Raises:
        KeyError: the run logged no model, or ``reference`` has none of these forms.
    """
    if reference.startswith("models:/"):
        return reference
    path = reference.removeprefix("runs:/").strip("/")
    run_id, _, name = path.partition("/")
    if not _RUN_ID.match(run_id):
        raise KeyError(f"{reference!r} is not a model reference: give a run id, 'runs:/<run "
                       "id>[/model]', 'models:/<model id>' or 'models:/<name>@<alias>'")
    model_uri = client.get_run(run_id).data.tags.get("model_uri", "")
    if name and not (name == "model" and model_uri):
        return f"runs:/{run_id}/{name}"
    if not model_uri:
        raise KeyError(f"run {run_id} logged no model (tag 'model_uri' missing); pick a "
                       "finished trial's run id")
    return model_uri


def _python_model(uri: str, model: str, what: str) -> Any:
    """The Python object of the pyfunc model ``model`` names (loaded on CPU or CUDA)."""
    import mlflow.pyfunc
    from mlflow.exceptions import MlflowException

    client = mlflow_client(uri)
    try:
        model_uri = model_uri_of(client, model)
        with global_tracking_uri(uri):  # models:/ URIs resolve through the global URI
            return mlflow.pyfunc.load_model(model_uri).unwrap_python_model()
    except MlflowException as err:
        raise KeyError(f"no {what} {model!r} in the MLflow store {uri}: "
                       f"{err.message}") from err


def _trial_parts(loaded: Any, model: str) -> tuple[torch.nn.Module, dict[str, Any]]:
    # mlflow.pyfunc and torch: loaded only by the callers that load a model.
    from platform.tracking.portable_model import PortableSegmentationModel

    if not isinstance(loaded, PortableSegmentationModel) or loaded.network is None:
        raise KeyError(f"{model!r} is not a portable trial model (logged by an older version "
                       "as a pickled mlflow.pytorch model?); run the trial again")
    assert loaded.config is not None  # set together with the network by load_context
    return loaded.network.cpu(), loaded.config.model_dump(mode="json")


def load_trial_model(uri: str, model: str) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Load a trial's portable model (:mod:`platform.tracking.portable_model`) on CPU.

    Args:
        uri: the tracking URI (registered models are looked up in the same store).
        model: see :func:`model_uri_of` (run id, ``runs:/``, ``models:/`` URIs).

    Returns:
        ``(network, config)``: the rebuilt network in eval mode and the trial's resolved
        config as a plain dict.

    Raises:
        KeyError: no such run or model, the run logged no model, or the model was
            logged before trials logged portable models (a pickled ``mlflow.pytorch``
            model: train it again).
    """
    return _trial_parts(_python_model(uri, model, "trial model"), model)


def load_segmentation_model(uri: str, model: str
                            ) -> tuple[torch.nn.Module, dict[str, Any], dict[str, Any] | None]:
    """Load a trial's model or a fold ensemble's (``<variant>-ensemble``,
    :mod:`platform.tracking.ensemble_model`) on CPU, as ``predict`` runs them.

    Returns:
        ``(network, config, post-processing)``: as :func:`load_trial_model`, with the
        post-processing an ensemble applies (``{name, **params}``; None for a trial).

    Raises:
        KeyError: see :func:`load_trial_model`.
    """
    # mlflow.pyfunc and torch: loaded only by the callers that load a model.
    from platform.tracking.ensemble_model import PortableEnsembleModel

    loaded = _python_model(uri, model, "model")
    if isinstance(loaded, PortableEnsembleModel) and loaded.network is not None:
        assert loaded.config is not None  # set together with the network by load_context
        return (loaded.network.cpu(), loaded.config.model_dump(mode="json"),
                loaded.postprocessing)
    return (*_trial_parts(loaded, model), None)


def read_json(uri: str, run_id: str, name: str) -> Any | None:
    """The JSON artifact ``name`` of run ``run_id`` (see ``log_json``), or None if absent."""
    text = read_text_artifact(mlflow_client(uri), run_id, name)
    return None if text is None else json.loads(text)
