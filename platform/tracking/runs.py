"""One parent run per sweep, one child run per trial: creating, resuming and ending them.

Why explicit runs: MLflow's fluent API keeps one global active run, and Ray's
``MLflowLoggerCallback`` ignores a tracking URI inside trials
(https://github.com/ray-project/ray/issues/36257). So the driver creates the parent run
with :func:`start_sweep_run` and hands its id to the trials, and each trial logs its own
child run through :class:`TrialRun`, always through an explicit client bound to one URI,
so several trials in one process cannot log into each other's runs.

Layout that the MLflow UI's compare view shows side by side: child runs are named
``<variant>/fold<k>`` and tagged ``variant``, ``fold``, ``sweep_id``, ``trial_id``; their
params are the flattened resolved config, so selecting the runs of two variants lists
exactly the params that differ.

Privacy: every key and string value passes :func:`check_no_identifiers` before it is
sent; the pseudonymous case key is the only patient reference in the store.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

import yaml

from platform.tracking.payloads import config_params, per_patient_csv, plain_data
from platform.tracking.phi_guard import check_no_identifiers
from platform.tracking.provenance import environment_tags
from platform.tracking.store import (
    ensure_experiment,
    global_tracking_uri,
    log_metric_batch,
    mlflow_client,
)

if TYPE_CHECKING:
    import torch
    from matplotlib.figure import Figure
    from mlflow import MlflowClient

__all__ = ["PARENT_TAG", "TrialRun", "end_run", "find_sweep_run", "find_trial_run", "log_json",
           "run_tags", "start_sweep_run"]

logger = logging.getLogger(__name__)

_TAG_VALUE_LIMIT = 5000
PARENT_TAG = "mlflow.parentRunId"
_REQUIRED_TRIAL_TAGS = ("variant", "fold", "sweep_id", "trial_id")
RunStatus = Literal["FINISHED", "FAILED", "KILLED"]


def run_tags(*, variant: str, fold: int, sweep_id: str, trial_id: str) -> dict[str, str]:
    """Standard child-run tags: the trial's identity plus code and machine provenance.

    Adds ``git_commit`` (``unknown`` outside a git checkout), ``git_dirty``, ``host``,
    ``python_version``, ``torch_version`` and ``cuda_version`` (see
    :func:`platform.tracking.provenance.environment_tags`).
    """
    identity = {"variant": variant, "fold": str(int(fold)), "sweep_id": sweep_id,
                "trial_id": trial_id}
    return {**identity, **environment_tags()}


def start_sweep_run(uri: str, experiment: str, *, sweep_name: str, sweep_id: str,
                    config_yaml: str, source_yaml: str, tags: Mapping[str, str]) -> str:
    """Create the parent run of one sweep invocation and return its run id.

    The experiment (one per sweep name) is created if needed. The run is named
    ``<sweep_name>/<sweep_id>``, tagged with provenance (git commit, host, versions) and
    ``tags``, and holds the resolved sweep (overrides applied, every default filled in)
    as ``sweep.yaml`` and the file as written as ``sweep_file.yaml``.

    Raises:
        ValueError: ``tags`` or the YAML's keys name a DICOM identifier, or the YAML
            does not parse.
    """
    for text, what in ((config_yaml, "sweep.yaml"), (source_yaml, "sweep_file.yaml")):
        try:
            parsed = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise ValueError(f"sweep {sweep_name!r}: {what} is not valid YAML ({err})") from err
        if isinstance(parsed, Mapping):
            check_no_identifiers(parsed, what=what)
    all_tags = {**environment_tags(), "run_kind": "sweep", "sweep_name": sweep_name,
                "sweep_id": sweep_id, **tags}
    check_no_identifiers(all_tags, what="sweep tags")
    client = mlflow_client(uri)
    experiment_id = ensure_experiment(client, uri, experiment)
    run = client.create_run(experiment_id, tags=all_tags, run_name=f"{sweep_name}/{sweep_id}")
    client.log_text(run.info.run_id, config_yaml, "sweep.yaml")
    client.log_text(run.info.run_id, source_yaml, "sweep_file.yaml")
    logger.info("sweep %s: parent run %s in experiment %r", sweep_id, run.info.run_id,
                experiment)
    return run.info.run_id


def log_json(uri: str, run_id: str, name: str, data: Any) -> None:
    """Log ``data`` as the JSON artifact ``name`` of run ``run_id`` (checked for PHI).

    Raises:
        ValueError: a key names a DICOM identifier or a value is a DICOM UID.
    """
    check_no_identifiers({"data": data}, what=name)
    mlflow_client(uri).log_text(run_id, json.dumps(data, indent=2, sort_keys=True), name)


def end_run(uri: str, run_id: str, status: RunStatus) -> None:
    """Mark a run ended with ``status`` (``FINISHED``, ``FAILED`` or ``KILLED``)."""
    if status not in ("FINISHED", "FAILED", "KILLED"):
        raise ValueError(f"status must be FINISHED, FAILED or KILLED, got {status!r}")
    mlflow_client(uri).set_terminated(run_id, status=status)


def find_trial_run(uri: str, parent_run_id: str, trial_id: str) -> str | None:
    """The child run of ``parent_run_id`` tagged ``trial_id``, or ``None`` if there is none.

    Used to resume: a retried or restored trial logs into the same child run instead of
    leaving a half-finished duplicate. With several matches the newest wins (a warning
    says so).
    """
    if "'" in trial_id or "'" in parent_run_id:
        raise ValueError(f"trial id {trial_id!r} must not contain a quote (MLflow filter syntax)")
    client = mlflow_client(uri)
    experiment_id = client.get_run(parent_run_id).info.experiment_id
    runs = client.search_runs(
        [experiment_id],
        filter_string=f"tags.`{PARENT_TAG}` = '{parent_run_id}' and tags.trial_id = '{trial_id}'",
        order_by=["attributes.start_time DESC"],
    )
    if len(runs) > 1:
        logger.warning("trial %s has %d child runs; resuming the newest", trial_id, len(runs))
    return runs[0].info.run_id if runs else None


def find_sweep_run(uri: str, experiment: str, sweep_id: str) -> str | None:
    """The parent run of sweep ``sweep_id`` in ``experiment`` (newest), or ``None``.

    Used by ``--resume`` to log into the same parent run; :func:`end_run` then sets its
    final status again.
    """
    if "'" in sweep_id:
        raise ValueError(f"sweep id {sweep_id!r} must not contain a quote (MLflow filter syntax)")
    client = mlflow_client(uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return None
    runs = client.search_runs(
        [found.experiment_id], max_results=1, order_by=["attributes.start_time DESC"],
        filter_string=f"tags.run_kind = 'sweep' and tags.sweep_id = '{sweep_id}'")
    return runs[0].info.run_id if runs else None


class TrialRun:
    """Context manager for one trial's child run: create or resume, log, end.

    Entering creates the run (or reopens ``run_id``, setting it back to RUNNING); leaving
    ends it FINISHED, or FAILED with the exception's type and message as
    ``failure_reason`` when the block raised (KILLED on ``KeyboardInterrupt``). After
    :meth:`set_failed` the run stays FAILED.

    Example (the trial code)::

        with TrialRun(uri, "ablation", parent_run_id=pid, run_name="se/fold0",
                      tags=run_tags(variant="se", fold=0, sweep_id=sid, trial_id=tid)) as run:
            run.log_config(config)
            run.log_metrics({"train_loss": 0.7, "lr": 1e-3}, step=10)
    """

    def __init__(self, uri: str, experiment: str, *, parent_run_id: str | None, run_name: str,
                 tags: Mapping[str, str], run_id: str | None = None) -> None:
        self.uri = uri
        self.experiment = experiment
        self.parent_run_id = parent_run_id
        self.run_name = run_name
        self.tags = dict(tags)
        self._run_id = run_id
        self._resume = run_id is not None
        self._failed = False
        self._client: MlflowClient | None = None

    @property
    def run_id(self) -> str:
        """The MLflow run id (available once the ``with`` block is entered)."""
        if self._run_id is None or self._client is None:
            raise RuntimeError("TrialRun is not started: use it as `with TrialRun(...) as run:`")
        return self._run_id

    def __enter__(self) -> TrialRun:
        missing = [k for k in _REQUIRED_TRIAL_TAGS if k not in self.tags]
        if missing:
            raise ValueError(f"TrialRun tags lack {missing}; build them with run_tags(...)")
        check_no_identifiers(self.tags, what="tags")
        client = self._client = mlflow_client(self.uri)
        if self._resume:
            self._reopen(client)
        else:
            experiment_id = ensure_experiment(client, self.uri, self.experiment)
            tags = {**self.tags, "run_kind": "trial"}
            if self.parent_run_id:
                tags[PARENT_TAG] = self.parent_run_id
            run = client.create_run(experiment_id, tags=tags, run_name=self.run_name)
            self._run_id = run.info.run_id
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._failed or self._client is None:
            return
        if exc is None:
            self._client.set_terminated(self.run_id, status="FINISHED")
        elif isinstance(exc, KeyboardInterrupt):
            self._fail("KeyboardInterrupt: the trial was stopped", status="KILLED")
        else:
            self._fail(f"{type(exc).__name__}: {exc}", status="FAILED")

    def log_config(self, resolved: Mapping[str, Any]) -> None:
        """Log the resolved config as flattened params (dotted keys) and ``config.yaml``.

        See :func:`platform.tracking.payloads.config_params` for the flattening. A
        resumed run must log the same values: MLflow refuses to change a param.
        """
        from mlflow.entities import Param

        params = config_params(resolved)
        client = self._client_or_raise()
        client.log_batch(self.run_id, params=[Param(k, v) for k, v in params.items()])
        client.log_text(self.run_id, yaml.safe_dump(plain_data(resolved), sort_keys=False),
                        "config.yaml")

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Log metric values at ``step`` (0 if ``None``); curves are repeated calls."""
        check_no_identifiers(metrics, what="metrics")
        log_metric_batch(self._client_or_raise(), self.run_id, metrics, step=step or 0)

    def log_per_patient(self, rows: Sequence[Mapping[str, Any]],
                        name: str = "per_patient.csv") -> None:
        """Log one row per patient as the CSV artifact ``name`` (first column ``case``).

        ``case`` is the pseudonymous case key, the only patient reference logged (see
        :func:`platform.tracking.payloads.per_patient_csv`).
        """
        text = per_patient_csv(rows)
        self._client_or_raise().log_text(self.run_id, text, name)

    def log_figure(self, fig_or_png_path: Figure | str | Path, name: str) -> None:
        """Log a matplotlib figure or an existing PNG as artifact ``name`` (``.png`` added)."""
        name = name if name.endswith(".png") else f"{name}.png"
        client = self._client_or_raise()
        if not isinstance(fig_or_png_path, (str, Path)):
            client.log_figure(self.run_id, fig_or_png_path, name)
            return
        folder = Path(name).parent.as_posix()
        with tempfile.TemporaryDirectory() as tmp:
            target = Path(tmp) / Path(name).name
            shutil.copyfile(fig_or_png_path, target)
            client.log_artifact(self.run_id, str(target), None if folder == "." else folder)

    def log_model(self, model: torch.nn.Module, name: str = "model") -> str:
        """Log ``model`` with ``mlflow.pytorch.log_model``; return its ``models:/`` URI.

        MLflow 3 stores a model as a ``LoggedModel`` linked to this run (shown in the UI);
        it is created here in the run's experiment (``log_model`` would use the global
        one). Pickle serialization: the default ``pt2`` export needs an input example and
        traces the network, which costs time and fails on data-dependent code; loading
        needs this repository's ``models`` package importable. Requirements are pinned
        to the running torch instead of being inferred (inference loads the model in a
        subprocess, seconds per trial). The URI is also tagged ``model_uri``.
        """
        import mlflow.pytorch
        import torch as torch_module

        client = self._client_or_raise()
        experiment_id = client.get_run(self.run_id).info.experiment_id
        logged = client.create_logged_model(experiment_id, name=name, source_run_id=self.run_id)
        with global_tracking_uri(self.uri):
            info = mlflow.pytorch.log_model(
                model, name=name, run_id=self.run_id, model_id=logged.model_id,
                serialization_format="pickle",
                pip_requirements=[f"torch=={torch_module.__version__.split('+')[0]}"],
            )
        client.set_tag(self.run_id, "model_uri", info.model_uri)
        return info.model_uri

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        """Log a local file (or folder) as an artifact, optionally under ``artifact_path``."""
        client = self._client_or_raise()
        if Path(path).is_dir():
            client.log_artifacts(self.run_id, str(path), artifact_path)
        else:
            client.log_artifact(self.run_id, str(path), artifact_path)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        """Set (or overwrite) tags, such as where this attempt runs (node, device)."""
        check_no_identifiers(tags, what="tags")
        client = self._client_or_raise()
        for key, value in tags.items():
            client.set_tag(self.run_id, key, str(value)[:_TAG_VALUE_LIMIT])

    def set_failed(self, reason: str) -> None:
        """End the run FAILED now with ``reason`` as tag ``failure_reason``."""
        self._fail(reason, status="FAILED")

    def _fail(self, reason: str, *, status: RunStatus) -> None:
        client = self._client_or_raise()
        client.set_tag(self.run_id, "failure_reason", reason[:_TAG_VALUE_LIMIT])
        client.set_terminated(self.run_id, status=status)
        self._failed = True
        logger.warning("run %s (%s) ended %s: %s", self.run_id, self.run_name, status, reason)

    def _reopen(self, client: MlflowClient) -> None:
        """Resume ``run_id``: check it is this parent's child, clear an old failure."""
        run = client.get_run(self.run_id)
        parent = run.data.tags.get(PARENT_TAG)
        if self.parent_run_id and parent != self.parent_run_id:
            raise ValueError(f"run {self.run_id} is a child of {parent!r}, not of "
                             f"{self.parent_run_id!r}; pass the run id find_trial_run found")
        old_reason = run.data.tags.get("failure_reason")
        if old_reason is not None:
            client.set_tag(self.run_id, "previous_failure_reason", old_reason)
            client.delete_tag(self.run_id, "failure_reason")
        client.update_run(self.run_id, status="RUNNING")
        logger.info("resuming run %s (%s)", self.run_id, self.run_name)

    def _client_or_raise(self) -> MlflowClient:
        if self._client is None:
            raise RuntimeError("TrialRun is not started: use it as `with TrialRun(...) as run:`")
        return self._client
