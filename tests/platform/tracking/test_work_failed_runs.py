"""Issue 28: a FAILED run with a matching key is never reused; a FINISHED one is.

Real MLflow SQLite store: a training and an evaluation run with the same keys, ended
FAILED (a NaN loss), then KILLED, then FINISHED. Only the finished ones are found, by
the sweep's plan (``finished_work``) and by a trial (``find_finished``).
"""

from __future__ import annotations

from mlflow import MlflowClient

from platform.tracking.store import ensure_experiment
from platform.tracking.tags import EVALUATION, EVALUATION_KEY, RUN_KIND, TRAINING, TRAINING_KEY
from platform.tracking.work import find_finished, finished_work


def _run(client: MlflowClient, experiment_id: str, kind: str, status: str) -> str:
    tags = {RUN_KIND: kind, TRAINING_KEY: "tkey"}
    if kind == EVALUATION:
        tags[EVALUATION_KEY] = "ekey"
    run = client.create_run(experiment_id, tags=tags)
    client.set_terminated(run.info.run_id, status=status)
    return str(run.info.run_id)


def test_a_failed_or_killed_run_with_a_matching_key_is_not_reused(mlflow_sqlite_uri: str) -> None:
    uri = mlflow_sqlite_uri
    client = MlflowClient(tracking_uri=uri)
    experiment_id = ensure_experiment(client, uri, "e")
    for status in ("FAILED", "KILLED"):
        for kind in (TRAINING, EVALUATION):
            _run(client, experiment_id, kind, status)
    assert finished_work(uri, "e").trainings == {}
    assert finished_work(uri, "e").evaluations == {}
    assert find_finished(uri, experiment_id, kind=TRAINING, key="tkey", since_ms=None) is None
    assert find_finished(uri, experiment_id, kind=EVALUATION, key="ekey", since_ms=None) is None

    trained = _run(client, experiment_id, TRAINING, "FINISHED")
    evaluated = _run(client, experiment_id, EVALUATION, "FINISHED")
    work = finished_work(uri, "e")
    assert work.trainings["tkey"].run_id == trained
    assert work.evaluations["ekey"].run_id == evaluated
    found = find_finished(uri, experiment_id, kind=TRAINING, key="tkey", since_ms=None)
    assert found is not None and found.run_id == trained
