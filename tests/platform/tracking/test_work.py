"""platform.tracking.work: finished work found by its key in a real store (SQLite), and the
link run that shows a reused evaluation in a new sweep. How a sweep plans with it is in
``sweep/test_plan.py``; reuse end to end in ``sweep/test_run.py``."""

from __future__ import annotations

from pathlib import Path

from mlflow import MlflowClient

from platform.tracking.tags import PARENT_TAG, REUSED_FROM
from platform.tracking.work import (
    FinishedRun,
    FinishedWork,
    find_finished,
    finished_work,
    link_evaluation,
)

EXPERIMENT = "work-test"


def _ended(client: MlflowClient, experiment_id: str, kind: str, tags: dict[str, str], *,
           end_time: int, status: str = "FINISHED", params: dict[str, str] | None = None,
           metrics: dict[str, float] | None = None) -> str:
    """A run of ``run_kind`` ``kind`` that ended at ``end_time`` (ms) with ``status``."""
    run_id = client.create_run(experiment_id, tags={"run_kind": kind, **tags}).info.run_id
    for key, value in (params or {}).items():
        client.log_param(run_id, key, value)
    for key, value in (metrics or {}).items():
        client.log_metric(run_id, key, value)
    client.set_terminated(run_id, status=status, end_time=end_time)
    return run_id


def test_a_store_that_does_not_exist_yet_holds_no_work_and_is_not_created(
        tmp_path: Path, mlflow_sqlite_uri: str) -> None:
    assert finished_work(f"sqlite:///{tmp_path / 'new' / 'mlflow.db'}", EXPERIMENT) == \
        FinishedWork()
    assert not (tmp_path / "new").exists()
    assert finished_work(mlflow_sqlite_uri, "no-such-experiment") == FinishedWork()


def test_the_newest_finished_run_of_each_key_is_the_work_done(mlflow_sqlite_uri: str) -> None:
    client = MlflowClient(mlflow_sqlite_uri)
    experiment = client.create_experiment(EXPERIMENT)
    _ended(client, experiment, "training", {"training_key": "t1", "git_commit": "aaa"},
           end_time=1000)
    newest = _ended(client, experiment, "training", {"training_key": "t1", "git_commit": "bbb"},
                    end_time=2000)
    _ended(client, experiment, "training", {"training_key": "t2"}, end_time=3000,
           status="FAILED")
    client.create_run(experiment, tags={"run_kind": "training", "training_key": "t3"})  # running
    evaluation = _ended(client, experiment, "trial", {"evaluation_key": "e1",
                                                      "training_key": "t1"}, end_time=2500)
    _ended(client, experiment, "trial", {"evaluation_key": "e2", "training_key": "t1",
                                         REUSED_FROM: evaluation, "source_git_commit": "ccc",
                                         "git_commit": "ddd"}, end_time=4000)

    work = finished_work(mlflow_sqlite_uri, EXPERIMENT)
    assert work.trainings == {"t1": FinishedRun(newest, 2000, "t1", "bbb")}
    assert work.evaluations == {
        "e1": FinishedRun(evaluation, 2500, "t1", ""),
        # A link run stands for the run that did the work, made by the source's commit.
        "e2": FinishedRun(evaluation, 4000, "t1", "ccc")}
    assert work.since(None) is work
    assert work.since(2500) == FinishedWork({}, {"e1": work.evaluations["e1"],
                                                 "e2": work.evaluations["e2"]})
    assert work.without_trainings(["t1"]) == FinishedWork({}, {})
    assert work.without_trainings(["t2"]) == work

    def found(kind: str, key: str, since_ms: int | None) -> str | None:
        run = find_finished(mlflow_sqlite_uri, experiment, kind=kind, key=key,
                            since_ms=since_ms)
        return None if run is None else run.run_id

    assert found("training", "t1", None) == newest
    assert found("training", "t1", 2000) == newest
    assert found("training", "t1", 2001) is None  # only work that ended since then counts
    assert found("training", "t2", None) is None  # failed
    assert found("training", "t3", None) is None  # still running
    assert found("evaluation", "e1", None) == evaluation


def test_a_reused_evaluation_is_linked_into_the_new_sweep_once(mlflow_sqlite_uri: str) -> None:
    client = MlflowClient(mlflow_sqlite_uri)
    experiment = client.create_experiment(EXPERIMENT)
    copied = {"evaluation_key": "e1", "training_key": "t1", "training_run": "r-training",
              "model_uri": "models:/m-1", "device": "CPU"}
    source_id = _ended(client, experiment, "trial", {**copied, "variant": "se", "fold": "0",
                                                     "host": "elsewhere"},
                       end_time=5000, params={"model.se_ratio": "16"}, metrics={"dice": 0.6})
    source = FinishedRun(run_id=source_id, end_time=5000, training_key="t1", git_commit="abc")
    parent = client.create_run(experiment, tags={"run_kind": "sweep"}).info.run_id

    def link() -> str:
        return link_evaluation(mlflow_sqlite_uri, parent_run_id=parent, source=source,
                               variant="se", fold=0, sweep_id="s2", trial_id="se-f0")

    link_id = link()
    run = client.get_run(link_id)
    assert link_id != source_id
    assert run.info.status == "FINISHED" and run.info.run_name == "se/fold0 (reused)"
    tags = run.data.tags
    assert {key: tags[key] for key in copied} == copied
    assert (tags["variant"], tags["fold"], tags["sweep_id"], tags["trial_id"]) == (
        "se", "0", "s2", "se-f0")
    assert (tags["run_kind"], tags[PARENT_TAG]) == ("evaluation", parent)
    assert (tags[REUSED_FROM], tags["source_git_commit"]) == (source_id, "abc")
    assert tags["host"] != "elsewhere"  # this sweep's provenance, not the source's
    assert run.data.params == {"model.se_ratio": "16"} and run.data.metrics == {"dice": 0.6}
    assert link() == link_id  # a resumed sweep keeps its link
    assert len(client.search_runs([experiment], f"tags.`{PARENT_TAG}` = '{parent}'")) == 1
    assert finished_work(mlflow_sqlite_uri, EXPERIMENT).evaluations["e1"].run_id == source_id
