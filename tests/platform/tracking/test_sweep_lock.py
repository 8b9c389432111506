"""Issue 28: one driver per sweep at a time; a claim of a driver that is gone is taken
over at once.

Real MLflow SQLite store; the "other driver" is a real process (alive, or killed) whose
pid and start time the lock records.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest
from mlflow import MlflowClient

from platform.tracking.claims import TrainingClaim, claim_name
from platform.tracking.sweep_lock import Invocation, SweepAlreadyRunning, SweepLock, lock_name
from tests.platform.concurrency_harness import die_with_parent, kill_group


def _process_invocation(process: subprocess.Popen[bytes], name: str) -> Invocation:
    import psutil

    return Invocation(id=name, host=socket.gethostname(), pid=process.pid,
                      started=psutil.Process(process.pid).create_time())


def _sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"],
                            preexec_fn=die_with_parent, start_new_session=True)


def _lock(uri: str, invocation: Invocation, stale_after_s: float = 300.0) -> SweepLock:
    return SweepLock(uri, "e", "sid", sweep="tiny", stale_after_s=stale_after_s,
                     invocation=invocation)


def test_a_live_driver_refuses_a_second_one_naming_itself(mlflow_sqlite_uri: str) -> None:
    other = _sleeper()
    try:
        with _lock(mlflow_sqlite_uri, _process_invocation(other, "first")):
            with pytest.raises(SweepAlreadyRunning) as refused:
                _lock(mlflow_sqlite_uri, Invocation.current()).acquire()
    finally:
        kill_group(other)
    message = str(refused.value)
    assert message.startswith("sweep 'tiny' (id sid) is already running on this store (host ")
    assert f"pid {other.pid}, started " in message and "\n" not in message


def test_a_dead_driver_on_this_host_is_taken_over_at_once(mlflow_sqlite_uri: str) -> None:
    other = _sleeper()
    dead = _process_invocation(other, "dead")
    stale = _lock(mlflow_sqlite_uri, dead)
    stale.acquire()
    stale._stop.set()  # the heartbeat dies with the driver
    kill_group(other)
    started = time.monotonic()
    with _lock(mlflow_sqlite_uri, Invocation.current()) as new:
        assert new.name == lock_name("e", "sid", 1)
    assert time.monotonic() - started < 30  # no wait for the 300 s staleness
    client = MlflowClient(tracking_uri=mlflow_sqlite_uri)
    assert client.get_experiment_by_name(lock_name("e", "sid", 0)).tags["released"] == "taken over"


def test_a_driver_on_another_host_is_taken_over_once_its_heartbeat_is_stale(
        mlflow_sqlite_uri: str) -> None:
    elsewhere = Invocation(id="far", host="another-host", pid=1, started=time.time())
    held = _lock(mlflow_sqlite_uri, elsewhere, stale_after_s=1.0)
    held.acquire()
    held._stop.set()  # that driver died: no more heartbeats
    with pytest.raises(SweepAlreadyRunning):
        _lock(mlflow_sqlite_uri, Invocation.current(), stale_after_s=1.0).acquire()
    time.sleep(1.5)
    with _lock(mlflow_sqlite_uri, Invocation.current(), stale_after_s=1.0) as new:
        assert new.name == lock_name("e", "sid", 1)


def test_a_claim_of_a_driver_that_no_longer_holds_its_lock_is_taken_at_once(
        mlflow_sqlite_uri: str) -> None:
    gone = Invocation(id="gone", host="another-host", pid=1, started=time.time())
    lock = _lock(mlflow_sqlite_uri, gone)
    name = lock.acquire()
    old = TrainingClaim(mlflow_sqlite_uri, "e", "k", owner="gone:t", stale_after_s=300,
                        poll_s=0.05, lock=(name, gone.id))
    assert old.wait_or_claim(lambda: None) is None
    old._stop.set()  # its worker died with the driver: no release
    mine = Invocation.current()
    waiter = TrainingClaim(mlflow_sqlite_uri, "e", "k", owner=f"{mine.id}:t",
                           stale_after_s=300, poll_s=0.05, lock=(name, mine.id))
    client = MlflowClient(tracking_uri=mlflow_sqlite_uri)
    held = client.get_experiment_by_name(claim_name("e", "k", 0)).tags
    assert not waiter._gone(held)  # its driver still holds the lock: the claim is live
    lock.release()  # the driver ended (or a new one took the sweep over)
    started = time.monotonic()
    assert waiter.wait_or_claim(lambda: None) is None
    assert time.monotonic() - started < 30  # not the 300 s staleness
    taken = client.get_experiment_by_name(claim_name("e", "k", 1))
    assert taken.tags["owner"] == f"{mine.id}:t"
    waiter.release()

