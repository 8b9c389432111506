"""Issue 28: the claim heartbeat and takeover, on two real processes, one killed.

Before, only a stale tag planted in one process was tested. Here process A claims a key
and "trains" (its heartbeat thread refreshing the claim), process B waits on the same
key: B must still be waiting after several times ``stale_after_s`` (the heartbeat keeps
the claim alive), and once A is killed with SIGKILL (no release), B must take the claim
over (the next generation) within ``stale_after_s`` plus a few polls. The cores are kept
busy meanwhile; every wait is bounded.
"""

from __future__ import annotations

import multiprocessing
import queue
import time

import pytest
from mlflow import MlflowClient

from platform.tracking.claims import TrainingClaim, claim_name
from tests.platform.concurrency_harness import busy_cores

STALE_S = 3.0
POLL_S = 0.2


def _hold(uri: str, events) -> None:  # noqa: ANN001
    claim = TrainingClaim(uri, "e", "k", owner="A", stale_after_s=STALE_S, poll_s=POLL_S)
    assert claim.wait_or_claim(lambda: None) is None
    events.put(("A", "claimed", time.time()))
    time.sleep(600)  # "training" until killed; the heartbeat thread runs meanwhile


def _wait_then_claim(uri: str, events) -> None:  # noqa: ANN001
    events.put(("B", "waiting", time.time()))
    claim = TrainingClaim(uri, "e", "k", owner="B", stale_after_s=STALE_S, poll_s=POLL_S)
    assert claim.wait_or_claim(lambda: None) is None
    events.put(("B", "claimed", time.time()))
    claim.release()


def _next(events, timeout: float) -> tuple[str, str, float]:  # noqa: ANN001
    try:
        return events.get(timeout=timeout)
    except queue.Empty as err:
        raise AssertionError(f"no event within {timeout} s") from err


@pytest.mark.slow
def test_a_killed_owner_loses_its_claim_only_once_its_heartbeat_stops(
        mlflow_sqlite_uri: str) -> None:
    spawn = multiprocessing.get_context("spawn")
    events = spawn.Queue()
    holder = spawn.Process(target=_hold, args=(mlflow_sqlite_uri, events))
    waiter = spawn.Process(target=_wait_then_claim, args=(mlflow_sqlite_uri, events))
    with busy_cores():
        try:
            holder.start()
            assert _next(events, 120)[:2] == ("A", "claimed")
            waiter.start()
            assert _next(events, 120)[:2] == ("B", "waiting")
            with pytest.raises(AssertionError, match="no event"):
                _next(events, 4 * STALE_S)  # A's heartbeat keeps its claim alive
            holder.kill()  # SIGKILL: no release, the heartbeat just stops
            killed = time.time()
            holder.join(30)
            who, what, when = _next(events, 60)
            assert (who, what) == ("B", "claimed")
            assert when - killed < STALE_S + 10  # stale after STALE_S, seen at a poll
            waiter.join(60)  # it releases the claim, then ends
            assert waiter.exitcode == 0
        finally:
            for process in (holder, waiter):
                if process.is_alive():
                    process.kill()
                process.join(30)
    client = MlflowClient(tracking_uri=mlflow_sqlite_uri)
    assert client.get_experiment_by_name(claim_name("e", "k", 0)).tags["owner"] == "A"
    taken = client.get_experiment_by_name(claim_name("e", "k", 1))
    assert taken.tags["owner"] == "B" and taken.tags["released"] == "done"
