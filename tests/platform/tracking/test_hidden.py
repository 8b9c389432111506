"""platform/tracking/hidden.py: housekeeping records users never see (issue 23: claim and
sweep-lock experiments sat beside the real experiments in the MLflow UI).

Real MLflow SQLite store. MLflow's UI lists experiments through the same search as
``MlflowClient.search_experiments()`` in its default view (active only).
"""

from __future__ import annotations

import threading

from mlflow import MlflowClient

from platform.tracking.claims import TrainingClaim, claim_name
from platform.tracking.hidden import create_hidden, is_released, set_hidden_tags
from platform.tracking.store import ensure_experiment
from platform.tracking.sweep_lock import Invocation, SweepLock, lock_name


def _listed(uri: str) -> list[str]:
    return sorted(e.name for e in MlflowClient(tracking_uri=uri).search_experiments())


def test_a_record_is_created_once_hidden_and_written_while_hidden(mlflow_sqlite_uri: str) -> None:
    uri = mlflow_sqlite_uri
    client = MlflowClient(tracking_uri=uri)
    record = create_hidden(uri, "e claim k #0", "e", {"owner": "a"})
    assert record is not None
    assert create_hidden(uri, "e claim k #0", "e", {"owner": "b"}) is None  # the name is taken
    assert "e claim k #0" not in _listed(uri)
    set_hidden_tags(uri, record, {"heartbeat": "1.5"})
    found = client.get_experiment_by_name("e claim k #0")
    assert found.lifecycle_stage == "deleted"
    assert (found.tags["owner"], found.tags["heartbeat"]) == ("a", "1.5")
    assert not is_released(found.tags)
    set_hidden_tags(uri, record, {"released": "done"})
    assert is_released(client.get_experiment_by_name("e claim k #0").tags)


def test_two_writers_at_once_both_land_and_the_record_stays_hidden(
        mlflow_sqlite_uri: str) -> None:
    """A heartbeat and a takeover may write one record at once: each restores it, writes
    and hides it again; a write that finds it hidden by the other is tried again."""
    uri = mlflow_sqlite_uri
    record = create_hidden(uri, "e sweep s #0", "e", {})
    assert record is not None
    errors: list[BaseException] = []

    def write(who: str) -> None:
        try:
            for n in range(8):
                set_hidden_tags(uri, record, {f"{who}{n}": str(n)})
        except BaseException as err:  # reported below, with the thread's name
            errors.append(err)

    threads = [threading.Thread(target=write, args=(who,)) for who in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    found = MlflowClient(tracking_uri=uri).get_experiment_by_name("e sweep s #0")
    assert found.lifecycle_stage == "deleted"
    assert {f"{who}{n}" for who in "ab" for n in range(8)} <= set(found.tags)


def test_the_default_experiment_list_shows_no_lock_and_no_claim(mlflow_sqlite_uri: str) -> None:
    """Issue 23: while a sweep lock and a claim are held, and after both are released,
    the experiment list users see holds the real experiment only."""
    uri = mlflow_sqlite_uri
    ensure_experiment(MlflowClient(tracking_uri=uri), uri, "stroke")
    expected = sorted(["Default", "stroke"])
    # No heartbeat during the test (every 12 s): a write shows a record for the
    # milliseconds it takes, and the first test proves a write leaves it hidden.
    lock = SweepLock(uri, "stroke", "sid", sweep="tiny", stale_after_s=60,
                     invocation=Invocation.current())
    with lock:
        claim = TrainingClaim(uri, "stroke", "key1", owner="me", stale_after_s=60,
                              poll_s=0.05, lock=(lock_name("stroke", "sid", 0), "x"))
        assert claim.wait_or_claim(lambda: None) is None
        assert _listed(uri) == expected
        claim.release()
    assert _listed(uri) == expected
    client = MlflowClient(tracking_uri=uri)
    for name in (lock_name("stroke", "sid", 0), claim_name("stroke", "key1", 0)):
        assert client.get_experiment_by_name(name).lifecycle_stage == "deleted"
