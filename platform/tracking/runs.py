"""The child runs of a sweep: one per training and one per evaluation, created or resumed,
logged and ended.

Each trial logs its own child run through :class:`TrialRun`, always through an explicit
client bound to one URI, so several trials in one process cannot log into each other's
runs; the driver made the parent run (:mod:`platform.tracking.sweep_runs`).

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
import time
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import yaml

from platform.tracking.artifacts import log_files, log_json
from platform.tracking.payloads import config_params, per_patient_csv, plain_data
from platform.tracking.phi_guard import check_no_identifiers
from platform.tracking.provenance import environment_tags
from platform.tracking.store import (
    ensure_experiment,
    global_tracking_uri,
    log_metric_batch,
    mlflow_client,
)
from platform.tracking.sweep_runs import RunStatus
from platform.tracking.tags import EVALUATION, PARENT_TAG, RUN_KIND

if TYPE_CHECKING:
    import torch
    from matplotlib.figure import Figure
    from mlflow import MlflowClient

__all__ = ["TrialRun", "find_trial_run", "run_tags"]

logger = logging.getLogger(__name__)

_TAG_VALUE_LIMIT = 5000
SYSTEM_METRICS_INTERVAL_S = 10.0
"""Seconds between two samples of MLflow's system metrics (CPU, memory, disk, network,
GPU with ``nvidia-ml-py``); MLflow's ``MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL`` wins."""
_REQUIRED_TRIAL_TAGS = ("variant", "fold", "sweep_id", "trial_id")


def run_tags(*, variant: str, fold: int, sweep_id: str, trial_id: str) -> dict[str, str]:
    """Standard child-run tags: the trial's identity plus code and machine provenance.

    Adds ``git_commit`` (``unknown`` outside a git checkout), ``git_dirty``, ``host``,
    ``python_version``, ``torch_version`` and ``cuda_version`` (see
    :func:`platform.tracking.provenance.environment_tags`).
    """
    identity = {"variant": variant, "fold": str(int(fold)), "sweep_id": sweep_id,
                "trial_id": trial_id}
    return {**identity, **environment_tags()}


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


_DUPLICATE = ("duplicate key", "UNIQUE constraint failed")


def _log_inputs_once_stored(client: MlflowClient, run_id: str, given: Any) -> None:
    """``log_inputs`` of one dataset, again when a concurrent run stored it first.

    MLflow looks the dataset up, then inserts it: two trials that log the same cohort at
    once make the second insert fail on the store's unique key (PostgreSQL or SQLite).
    The dataset then exists, so the second attempt only links it to this run.
    """
    from mlflow.exceptions import MlflowException

    for attempt in range(3):
        try:
            client.log_inputs(run_id, datasets=[given])
            return
        except MlflowException as err:
            if attempt == 2 or not any(text in str(err) for text in _DUPLICATE):
                raise
            time.sleep(0.2 * (attempt + 1))


class TrialRun:
    """Context manager for one trial's child run: create or resume, log, end.

    ``kind`` is its ``run_kind`` tag (:mod:`platform.tracking.tags`): ``evaluation`` (what
    Table 1 reads) or ``training``. Entering creates the run (or reopens ``run_id``, setting
    it back to RUNNING); leaving
    ends it FINISHED, or FAILED with the exception's type and message as
    ``failure_reason`` when the block raised (KILLED on ``KeyboardInterrupt``). After
    :meth:`set_failed` the run stays FAILED. While the run is open, MLflow's system
    metrics (``system/cpu_utilization_percentage``, ``system/system_memory_usage_megabytes``,
    GPU utilisation and memory where ``nvidia-ml-py`` finds a GPU, ...) are sampled every
    ``system_metrics_interval_s`` seconds (``None``: off); a run shorter than one
    interval has none.

    Example (the trial code)::

        with TrialRun(uri, "ablation", parent_run_id=pid, run_name="se/fold0",
                      tags=run_tags(variant="se", fold=0, sweep_id=sid, trial_id=tid)) as run:
            run.log_config(config)
            run.log_metrics({"train_loss": 0.7, "lr": 1e-3}, step=10)
    """

    def __init__(self, uri: str, experiment: str, *, parent_run_id: str | None, run_name: str,
                 tags: Mapping[str, str], run_id: str | None = None,
                 kind: str = EVALUATION,
                 system_metrics_interval_s: float | None = SYSTEM_METRICS_INTERVAL_S) -> None:
        self.uri = uri
        self.kind = kind
        self.experiment = experiment
        self.parent_run_id = parent_run_id
        self.run_name = run_name
        self.tags = dict(tags)
        self._run_id = run_id
        self._resume = run_id is not None
        self._failed = False
        self._client: MlflowClient | None = None
        self._system_metrics_interval_s = system_metrics_interval_s
        self._monitor: Any = None

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
            tags = {**self.tags, RUN_KIND: self.kind}
            if self.parent_run_id:
                tags[PARENT_TAG] = self.parent_run_id
            run = client.create_run(experiment_id, tags=tags, run_name=self.run_name)
            self._run_id = run.info.run_id
        self._start_system_metrics()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._failed or self._client is None:
            return
        self._stop_system_metrics()
        if exc is None:
            self._client.set_terminated(self.run_id, status="FINISHED")
        elif isinstance(exc, KeyboardInterrupt):
            self._fail("KeyboardInterrupt: the trial was stopped", status="KILLED")
        else:
            trace = "".join(traceback.format_exception(exc_type, exc, tb))
            self._fail(f"{type(exc).__name__}: {exc}", status="FAILED", details=trace)

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

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None, *,
                    model_uri: str | None = None) -> None:
        """Log metric values at ``step`` (0 if ``None``); curves are repeated calls.

        With ``model_uri`` (``models:/<model id>``, the model these numbers score) the
        metrics are linked to that logged model too, so the Models tab ranks it.
        """
        check_no_identifiers(metrics, what="metrics")
        model_id = model_uri.removeprefix("models:/") if model_uri else None
        log_metric_batch(self._client_or_raise(), self.run_id, metrics, step=step or 0,
                         model_id=model_id)

    def log_model_reference(self, model_uri: str) -> None:
        """Make ``runs:/<this run>/model`` load ``model_uri`` (a training's model that this
        evaluation scored, or this training's own model under its name); no weights copied
        (:func:`platform.tracking.portable_model.log_model_reference`)."""
        # mlflow.pyfunc and torch: imported only where a model is referenced.
        from platform.tracking.portable_model import log_model_reference

        client = self._client_or_raise()
        with global_tracking_uri(self.uri):
            log_model_reference(client, self.run_id, model_uri)
        client.set_tag(self.run_id, "model_uri", model_uri)

    def log_per_patient(self, rows: Sequence[Mapping[str, Any]],
                        name: str = "per_patient.csv") -> None:
        """Log one row per patient as the CSV artifact ``name`` (first column ``case``).

        ``case`` is the pseudonymous case key, the only patient reference logged (see
        :func:`platform.tracking.payloads.per_patient_csv`).
        """
        text = per_patient_csv(rows)
        self._client_or_raise().log_text(self.run_id, text, name)

    def log_json(self, data: Any, name: str) -> None:
        """Log ``data`` as the JSON artifact ``name`` (checked for PHI, like :func:`log_json`)."""
        log_json(self.uri, self.run_id, name, data)

    def log_files(self, folder: Path, artifact_path: str | None = "figures") -> None:
        """Log every file under ``folder`` (a figure's PNG, SVG and JSON, say) under
        ``artifact_path``, checked for DICOM identifiers first (see :func:`log_files`)."""
        log_files(self.uri, self.run_id, folder, artifact_path)

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

    def log_model(self, model: torch.nn.Module, config: Mapping[str, Any], *, code: Path,
                  name: str = "model") -> str:
        """Log ``model`` as a portable MLflow pyfunc; return its ``models:/`` URI.

        The model directory holds the ``state_dict``, the resolved ``config`` (a trial
        config, as :meth:`log_config` received it), a signature and pip requirements,
        and loads with ``mlflow.pyfunc.load_model`` wherever this package is installed,
        without unpickling anything (:mod:`platform.tracking.portable_model`; ``code`` is
        the models-from-code entry file that wires it). MLflow 3
        stores it as a ``LoggedModel`` named ``name`` (trials: ``<variant>-fold<k>``)
        linked to this run (the Models tab); ``runs:/<run id>/model`` loads it whatever its
        name (:meth:`log_model_reference`). The URI is also tagged ``model_uri``.
        """
        # mlflow.pyfunc and torch: imported only where a model is logged.
        from platform.tracking.portable_model import log_segmentation_model

        client = self._client_or_raise()
        with global_tracking_uri(self.uri):
            model_uri = log_segmentation_model(client, self.run_id, model, config, name=name,
                                               code=code)
        if name != "model":  # runs:/<run id>/model resolves by that name
            self.log_model_reference(model_uri)
        client.set_tag(self.run_id, "model_uri", model_uri)
        return model_uri

    def log_dataset(self, *, name: str, digest: str, source: str,
                    profile: Mapping[str, Any], context: str) -> None:
        """Record a dataset input of this run (the UI's *Datasets used* column).

        Args:
            name: dataset name (the cohort's folder name).
            digest: its fingerprint (at most 36 characters: MLflow's column).
            source: where it lives (a path or URI).
            profile: small summary numbers (case counts), stored as JSON.
            context: the ``mlflow.data.context`` tag, such as ``fold 0``.
        """
        from mlflow.entities import Dataset, DatasetInput, InputTag

        check_no_identifiers({"name": name, "source": source, **profile}, what="dataset")
        dataset = Dataset(name=name, digest=digest[:36], source_type="local",
                          source=json.dumps({"uri": source}),
                          profile=json.dumps(plain_data(profile), sort_keys=True))
        tag = InputTag(key="mlflow.data.context", value=context)
        _log_inputs_once_stored(self._client_or_raise(), self.run_id,
                                DatasetInput(dataset, [tag]))

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
            self.tags[key] = str(value)[:_TAG_VALUE_LIMIT]

    def set_failed(self, reason: str, *, details: str | None = None) -> None:
        """End the run FAILED now with ``reason`` as tag ``failure_reason`` (and
        ``details``, a full traceback, as the artifact ``failure.txt``)."""
        self._fail(reason, status="FAILED", details=details)

    def _start_system_metrics(self) -> None:
        if self._system_metrics_interval_s is None:
            return
        from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

        self._monitor = SystemMetricsMonitor(
            self.run_id, sampling_interval=self._system_metrics_interval_s,
            resume_logging=self._resume, tracking_uri=self.uri)
        self._monitor.start()

    def _stop_system_metrics(self) -> None:
        if self._monitor is not None:
            self._monitor.finish()
            self._monitor = None

    def _fail(self, reason: str, *, status: RunStatus, details: str | None = None) -> None:
        self._stop_system_metrics()
        client = self._client_or_raise()
        client.set_tag(self.run_id, "failure_reason", reason[:_TAG_VALUE_LIMIT])
        if details:
            client.log_text(self.run_id, details, "failure.txt")
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
