"""Issue 11: two sweeps sharing one MLflow store never train the same key twice.

Real parts: an MLflow SQLite store, two processes running the trial's own
:func:`platform.trial.fold.train_or_reuse` on the same training key at the same moment,
and claims left by a dead process.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from pathlib import Path

import pytest
import torch
from mlflow import MlflowClient

from platform.config import load_sweep
from platform.config.request import TrialRequest
from platform.sweep.context import build_context, materialize_cohort
from platform.sweep.expand import expand
from platform.sweep.keys import keyed
from platform.tracking import start_sweep_run
from platform.tracking.claims import TrainingClaim, claim_name
from platform.trial.fold import train_or_reuse

TINY = Path(__file__).resolve().parents[3] / "sweeps" / "tiny.yaml"


def _train_when_both_are_ready(request_json: str, work_dir: str, ready, results) -> None:  # noqa: ANN001
    torch.set_num_threads(1)
    request = TrialRequest.model_validate_json(request_json)
    ready.wait()
    _, _, run_id = train_or_reuse(request, device=torch.device("cpu"),
                                 checkpoint_dir=Path(work_dir), report=lambda *_: None)
    results.put(run_id)


@pytest.mark.slow
def test_two_sweeps_racing_for_one_training_train_it_once(
        tmp_path: Path, sweep_cache: Path, mlflow_sqlite_uri: str) -> None:
    uri = mlflow_sqlite_uri
    sweep = load_sweep(TINY, [f"data.cache_root={sweep_cache}", f"tracking.uri={uri}",
                              "reuse.claim_poll_s=0.2"])
    context = build_context(sweep, materialize_cohort(sweep.data, progress=False),
                            parent_run_id=None)
    spec = keyed(expand(sweep), context)[1]
    requests = []
    for sweep_id in ("first", "second"):  # two sweeps: two parent runs, one training key
        parent = start_sweep_run(uri, context.experiment, sweep_name="tiny", sweep_id=sweep_id,
                                 config_yaml="{}", source_yaml="{}", tags={})
        requests.append(TrialRequest(spec=spec, context=context.model_copy(
            update={"parent_run_id": parent, "sweep_id": sweep_id})))
    spawn = multiprocessing.get_context("spawn")
    ready, results = spawn.Barrier(2), spawn.Queue()
    workers = [spawn.Process(target=_train_when_both_are_ready,
                             args=(r.model_dump_json(), str(tmp_path / f"work{i}"), ready, results))
               for i, r in enumerate(requests)]
    for worker in workers:
        worker.start()
    run_ids = [results.get(timeout=240) for _ in workers]
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name(context.experiment).experiment_id
    trainings = client.search_runs([experiment], "tags.run_kind = 'training'")
    assert len(trainings) == 1, "the key was trained twice"
    assert run_ids == [trainings[0].info.run_id] * 2  # the other one reused it
    assert trainings[0].info.status == "FINISHED"
    assert trainings[0].data.tags["training_key"] == spec.training_key
    claim = client.get_experiment_by_name(claim_name(context.experiment, spec.training_key, 0))
    assert claim is not None and claim.tags["released"] == "done"  # released after training
    assert claim.lifecycle_stage == "deleted"  # hidden from users all along (issue 23)


def test_a_claim_without_heartbeat_is_taken_over(mlflow_sqlite_uri: str) -> None:
    uri = mlflow_sqlite_uri
    client = MlflowClient(tracking_uri=uri)
    client.create_experiment(claim_name("e", "k", 0), tags={"owner": "dead", "heartbeat": "0"})
    claim = TrainingClaim(uri, "e", "k", owner="alive", stale_after_s=5, poll_s=0.05)
    assert claim.wait_or_claim(lambda: None) is None
    held = client.get_experiment_by_name(claim_name("e", "k", 1))
    assert held.tags["owner"] == "alive" and "released" not in held.tags
    claim.release()
    assert client.get_experiment_by_name(claim_name("e", "k", 1)).tags["released"] == "done"


def test_a_live_claim_is_waited_on_until_its_training_finished(mlflow_sqlite_uri: str) -> None:
    uri = mlflow_sqlite_uri
    owner = TrainingClaim(uri, "e", "k", owner="first", stale_after_s=30, poll_s=0.05)
    assert owner.wait_or_claim(lambda: None) is None
    looks: list[float] = []

    def finished() -> str | None:  # the owner's run finishes on the waiter's fourth look
        looks.append(time.monotonic())
        return "run-of-first" if len(looks) >= 4 else None

    waiter = TrainingClaim(uri, "e", "k", owner="second", stale_after_s=30, poll_s=0.05)
    assert waiter.wait_or_claim(finished) == "run-of-first"
    assert len(looks) == 4
    owner.release()
    # A released claim without a result: the next process takes the next generation.
    third = TrainingClaim(uri, "e", "k", owner="third", stale_after_s=30, poll_s=0.05)
    assert third.wait_or_claim(lambda: None) is None
    assert MlflowClient(tracking_uri=uri).get_experiment_by_name(
        claim_name("e", "k", 1)).tags["owner"] == "third"
    third.release()


def test_a_retried_trial_owns_its_earlier_claim_again(mlflow_sqlite_uri: str) -> None:
    uri = mlflow_sqlite_uri
    first = TrainingClaim(uri, "e", "k", owner="sweep:trial", stale_after_s=30, poll_s=0.05)
    assert first.wait_or_claim(lambda: None) is None  # then the worker is killed
    retry = TrainingClaim(uri, "e", "k", owner="sweep:trial", stale_after_s=300, poll_s=0.05)
    claimed = threading.Event()  # issue 28: a bounded wait on the event, not a timed assert
    outcome: list[object] = []
    thread = threading.Thread(target=lambda: (outcome.append(retry.wait_or_claim(lambda: None)),
                                              claimed.set()), daemon=True)
    thread.start()
    assert claimed.wait(timeout=120)  # far below the 300 s a stale claim would take
    assert outcome == [None]
    retry.release()
    first.release()  # the killed attempt's claim is gone with the retry's: nothing to do
