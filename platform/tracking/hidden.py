"""Housekeeping records that users never see: MLflow experiments kept in the deleted stage.

Why: claims (:mod:`platform.tracking.claims`) and sweep locks
(:mod:`platform.tracking.sweep_lock`) need a record that exactly one process can create,
and MLflow's only such primitive in every backend (SQLite, PostgreSQL, a tracking
server) is an experiment name, unique by a database constraint. Kept active, these
records sat beside the real experiments in the MLflow UI's experiment list (issue 23).
MLflow 3.17 has no tag or setting that hides an active experiment from the UI. Its list,
like ``MlflowClient.search_experiments()``, shows the active lifecycle stage only, and a
deleted experiment keeps its name taken. So a record is created and deleted at once, and
stays deleted: hidden from users, still found by name (``get_experiment_by_name`` sees
every stage), its name still unique.

MLflow writes no tag on a deleted experiment, so a write (a heartbeat, the release)
restores the record, sets the tags and deletes it again: it is active for the few
milliseconds of one write. Whether a record is held is therefore never read from its
lifecycle stage but from its tags: :data:`RELEASED` marks it released.

Caveat: ``mlflow gc`` purges deleted experiments, so a plain ``mlflow gc`` while sweeps
run would free the names of held records. Run it with ``--older-than`` (a held record is
written at every heartbeat, so it is never older than a few minutes), or between sweeps.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from platform.tracking.store import artifact_location, mlflow_client

__all__ = ["RELEASED", "create_hidden", "is_released", "set_hidden_tags"]

RELEASED = "released"
"""The tag that marks a record released (its value says why)."""
_WRITE_TRIES = 5
"""Tries of one write, when another writer hid the record between restore and write."""


def create_hidden(uri: str, name: str, experiment: str, tags: Mapping[str, str]) -> str | None:
    """Create the record ``name`` with ``tags`` and hide it at once; its experiment id,
    or None when the name is taken (another process holds or held it).

    Args:
        experiment: the user's experiment it belongs to (its artifact location is used,
            so that MLflow makes no ``./mlruns`` folder for it).
    """
    from mlflow.exceptions import MlflowException  # mlflow on use: ~1 s to import

    client = mlflow_client(uri)
    try:
        experiment_id = client.create_experiment(
            name, artifact_location=artifact_location(uri, experiment), tags=dict(tags))
    except MlflowException as err:
        if err.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
        return None
    client.delete_experiment(experiment_id)
    return str(experiment_id)


def set_hidden_tags(uri: str, experiment_id: str, tags: Mapping[str, str]) -> None:
    """Set ``tags`` on a hidden record (restored for the write, then hidden again).

    Two writers at once (a heartbeat and a takeover) are fine: a write that finds the
    record hidden again by the other one is tried again.

    Raises:
        RuntimeError: the record could not be written in :data:`_WRITE_TRIES` tries.
    """
    from mlflow.exceptions import MlflowException  # mlflow on use: ~1 s to import

    client = mlflow_client(uri)
    for _ in range(_WRITE_TRIES):
        _quietly(client.restore_experiment, experiment_id)  # already active: another writer's
        try:
            for key, value in tags.items():
                client.set_experiment_tag(experiment_id, key, value)
        except MlflowException as err:
            if err.error_code != "INVALID_PARAMETER_VALUE":  # not "must be active"
                raise
            continue
        finally:
            _quietly(client.delete_experiment, experiment_id)  # hidden: another writer's
        return
    raise RuntimeError(f"could not write the housekeeping experiment {experiment_id} in "
                       f"{_WRITE_TRIES} tries (other writers kept hiding it)")


def is_released(tags: Mapping[str, str]) -> bool:
    """Whether a record's tags mark it released."""
    return RELEASED in tags


def _quietly(call: Callable[[str], object], experiment_id: str) -> None:
    """Restore or delete, where "already in that stage" is no error."""
    from mlflow.exceptions import MlflowException  # mlflow on use: ~1 s to import

    try:
        call(experiment_id)
    except MlflowException as err:
        if err.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
