"""The parent run of a sweep invocation: created with the resolved sweep, found again, ended.

Why explicit runs: MLflow's fluent API keeps one global active run, and Ray's
``MLflowLoggerCallback`` ignores a tracking URI inside trials
(https://github.com/ray-project/ray/issues/36257). So the driver creates the parent run
here and hands its id to the trials, which log their own child runs
(:mod:`platform.tracking.runs`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Literal

import yaml

from platform.tracking.phi_guard import check_no_identifiers
from platform.tracking.provenance import environment_tags
from platform.tracking.store import ensure_experiment, mlflow_client
from platform.tracking.tags import RUN_KIND, SWEEP, kind_filters

__all__ = ["RunStatus", "end_run", "find_sweep_run", "start_sweep_run"]

logger = logging.getLogger(__name__)

RunStatus = Literal["FINISHED", "FAILED", "KILLED"]


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
    all_tags = {**environment_tags(), RUN_KIND: SWEEP, "sweep_name": sweep_name,
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
        filter_string=f"{kind_filters(SWEEP)[0]} and tags.sweep_id = '{sweep_id}'")
    return runs[0].info.run_id if runs else None


def end_run(uri: str, run_id: str, status: RunStatus) -> None:
    """Mark a run ended with ``status`` (``FINISHED``, ``FAILED`` or ``KILLED``)."""
    if status not in ("FINISHED", "FAILED", "KILLED"):
        raise ValueError(f"status must be FINISHED, FAILED or KILLED, got {status!r}")
    mlflow_client(uri).set_terminated(run_id, status=status)
