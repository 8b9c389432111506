"""Issue 28 on PostgreSQL, as a lab runs it: a store created once under the advisory lock
(``tracking/store.py``), and claims and sweep locks on an MLflow server whose store is in
PostgreSQL.

Real parts: a throw-away PostgreSQL cluster and a plain ``mlflow server`` on loopback
(:mod:`tests.platform.cluster_harness`), processes started together at a barrier (the
store's creators while other processes keep the cores busy), the trial's own
``train_or_reuse``.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow import MlflowClient

from platform.config import load_sweep
from platform.config.request import TrialRequest
from platform.sweep.context import build_context, materialize_cohort
from platform.sweep.expand import expand
from platform.sweep.keys import keyed
from platform.tracking import start_sweep_run
from tests.platform.cluster_harness import MlflowServer, Postgres, pg_binary
from tests.platform.concurrency_harness import busy_cores
from tests.platform.tracking.test_claims import TINY, _train_when_both_are_ready

pytestmark = [
    pytest.mark.slow,
    pytest.mark.cluster,
    pytest.mark.skipif(pg_binary("initdb") is None, reason="PostgreSQL is not installed "
                       "(apt-get install postgresql; .ci/run does it)"),
]

OPENERS = 2


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    server = Postgres()
    try:
        server.start(("created_at_once", "server_store"))
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def server_uri(postgres: Postgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = MlflowServer(tmp_path_factory.mktemp("mlflow-server"),
                          backend=postgres.sqlalchemy_uri("server_store"))
    try:
        server.start()
        yield server.url
    finally:
        server.stop()


def _create(uri: str, name: str, ready, results) -> None:  # noqa: ANN001
    """Open the new store at the barrier, as every sweep process does, then write to it;
    report whether this process found the schema there when it got the lock."""
    # In the spawned child: it replaces its own copy of the store's opener.
    import sqlalchemy

    import platform.tracking.store as store

    real_open = store._open_store

    def observed_open(opened: str) -> None:  # runs under the advisory lock
        engine = sqlalchemy.create_engine(opened, poolclass=sqlalchemy.pool.NullPool)
        try:
            found = sqlalchemy.inspect(engine).has_table("alembic_version")
        finally:
            engine.dispose()
        results.put((name, "found" if found else "created"))
        real_open(opened)

    store._open_store = observed_open
    ready.wait(timeout=120)
    try:
        store.prepare_store(uri)
        MlflowClient(tracking_uri=uri).create_experiment(name)
        results.put((name, "ok"))
    except BaseException as err:  # reported to the test, which fails with it
        results.put((name, f"{type(err).__name__}: {str(err)[:300]}"))


def test_processes_creating_one_postgres_store_at_once_one_creates_none_fails(
        postgres: Postgres) -> None:
    uri = postgres.sqlalchemy_uri("created_at_once")
    spawn = multiprocessing.get_context("spawn")
    ready, results = spawn.Barrier(OPENERS), spawn.Queue()
    openers = [spawn.Process(target=_create, args=(uri, f"e{i}", ready, results))
               for i in range(OPENERS)]
    with busy_cores(1):  # one loop: the migration alone takes ~30 s on 2 loaded cores
        for opener in openers:
            opener.start()
        events = [results.get(timeout=240) for _ in range(2 * OPENERS)]
    for opener in openers:
        opener.join(60)
    outcomes = {name: what for name, what in events if what not in ("created", "found")}
    assert outcomes == {f"e{i}": "ok" for i in range(OPENERS)}
    opened = sorted(what for _, what in events if what in ("created", "found"))
    assert opened == ["created"] + ["found"] * (OPENERS - 1)  # one migration, the rest wait
    names = {e.name for e in MlflowClient(tracking_uri=uri).search_experiments()}
    assert names >= {f"e{i}" for i in range(OPENERS)}


def test_two_sweeps_racing_for_one_training_on_a_postgres_server_train_it_once(
        server_uri: str, sweep_cache: Path, tmp_path: Path) -> None:
    """The race of ``test_claims.py`` on the lab's kind of store: an MLflow server in
    PostgreSQL; the claim and the work are found through the server."""
    sweep = load_sweep(TINY, [f"data.cache_root={sweep_cache}", f"tracking.uri={server_uri}",
                              "reuse.claim_poll_s=0.2"])
    context = build_context(sweep, materialize_cohort(sweep.data, progress=False),
                            parent_run_id=None)
    spec = keyed(expand(sweep), context)[1]
    requests = []
    for sweep_id in ("first", "second"):  # two sweeps: two parent runs, one training key
        parent = start_sweep_run(server_uri, context.experiment, sweep_name="tiny",
                                 sweep_id=sweep_id, config_yaml="{}", source_yaml="{}", tags={})
        requests.append(TrialRequest(spec=spec, context=context.model_copy(
            update={"parent_run_id": parent, "sweep_id": sweep_id})))
    spawn = multiprocessing.get_context("spawn")
    ready, results = spawn.Barrier(2), spawn.Queue()
    workers = [spawn.Process(target=_train_when_both_are_ready,
                             args=(r.model_dump_json(), str(tmp_path / f"work{i}"), ready,
                                   results))
               for i, r in enumerate(requests)]
    for worker in workers:
        worker.start()
    run_ids = [results.get(timeout=240) for _ in workers]
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    client = MlflowClient(tracking_uri=server_uri)
    experiment = client.get_experiment_by_name(context.experiment).experiment_id
    trainings = client.search_runs([experiment], "tags.run_kind = 'training'")
    assert len(trainings) == 1, "the key was trained twice"
    assert run_ids == [trainings[0].info.run_id] * 2  # the other one reused it
    assert trainings[0].info.status == "FINISHED"
    # Issue 23: the claim was a hidden record; users see the sweep's experiment only.
    assert sorted(e.name for e in client.search_experiments()) == ["Default", "tiny"]
