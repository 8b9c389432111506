"""Finished work in the store, found by its content key; reused work linked into a sweep.

Why in MLflow: every sweep on every node already logs there, so a training or an
evaluation that another sweep finished (an earlier batch of folds, the variants before
one was added, a sweep on another node) is found by its key (:mod:`platform.sweep.keys`)
with one search, and a cluster needs no other shared state.

Layout (tag names: :mod:`platform.tracking.tags`): a training run (``run_kind=training``,
tag ``training_key``) holds the learning
curves and the portable model (:mod:`platform.tracking.portable_model`: a state dict and the
config, nothing pickled), which a reused training is loaded from; an evaluation run
(``run_kind=evaluation``; ``trial`` before issue 26; tags ``evaluation_key``,
``training_key``, ``training_run``) holds
the metrics and per-patient rows of one (variant, fold). A reused evaluation appears in
the new sweep as a link run: the same tags, params and metrics, tag ``reused_from``
naming the run that did the work (whose artifacts readers follow).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from platform.tracking.phi_guard import check_no_identifiers
from platform.tracking.runs import run_tags
from platform.tracking.store import mlflow_client, search_all, sqlite_file
from platform.tracking.tags import (
    EVALUATION,
    EVALUATION_KEY,
    PARENT_TAG,
    REUSED_FROM,
    RUN_KIND,
    TRAINING,
    TRAINING_KEY,
    kind_filters,
)

__all__ = ["FinishedRun", "FinishedWork", "find_finished", "finished_work",
           "link_evaluation"]

logger = logging.getLogger(__name__)

"""Tag of a link run: the run whose work it stands for."""
_BATCH = 100  # MLflow's log_batch takes at most 100 params per call


@dataclass(frozen=True)
class FinishedRun:
    """A finished training or evaluation: the run that did the work, and when."""

    run_id: str
    end_time: int
    """Milliseconds since the epoch."""
    training_key: str
    git_commit: str


@dataclass(frozen=True)
class FinishedWork:
    """Finished trainings and evaluations of an experiment, by key (the newest of each)."""

    trainings: Mapping[str, FinishedRun] = field(default_factory=dict)
    evaluations: Mapping[str, FinishedRun] = field(default_factory=dict)

    def since(self, ms: int | None) -> FinishedWork:
        """Only the work that ended at or after ``ms`` (None: all of it)."""
        if ms is None:
            return self
        return FinishedWork({k: r for k, r in self.trainings.items() if r.end_time >= ms},
                            {k: r for k, r in self.evaluations.items() if r.end_time >= ms})

    def without_trainings(self, keys: Iterable[str]) -> FinishedWork:
        """Forget the trainings ``keys`` and every evaluation of them (``--retrain``)."""
        dropped = set(keys)
        return replace(self, trainings={k: r for k, r in self.trainings.items()
                                        if k not in dropped},
                       evaluations={k: r for k, r in self.evaluations.items()
                                    if r.training_key not in dropped})


def _store_exists(uri: str) -> bool:
    database = sqlite_file(uri)
    return database is None or database.exists()


def _finished(run: Any, key_tag: str) -> tuple[str, FinishedRun] | None:
    tags = run.data.tags
    key = tags.get(key_tag)
    if not key:
        return None
    return key, FinishedRun(run_id=tags.get(REUSED_FROM, run.info.run_id),
                            end_time=int(run.info.end_time or 0),
                            training_key=tags.get("training_key", ""),
                            git_commit=tags.get("source_git_commit", tags.get("git_commit", "")))


def _newest(runs: Iterable[Any], key_tag: str) -> dict[str, FinishedRun]:
    found: dict[str, FinishedRun] = {}
    for run in runs:
        item = _finished(run, key_tag)
        if item is not None and (item[0] not in found
                                 or item[1].end_time > found[item[0]].end_time):
            found[item[0]] = item[1]
    return found


_KEY_TAGS = {TRAINING: TRAINING_KEY, EVALUATION: EVALUATION_KEY}


def finished_work(uri: str, experiment: str) -> FinishedWork:
    """Every finished training and evaluation of ``experiment``; nothing is created (a
    SQLite store that does not exist yet simply holds no work)."""
    if not _store_exists(uri):
        return FinishedWork()
    client = mlflow_client(uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return FinishedWork()
    by_kind = {kind: _newest(_search_kind(client, found.experiment_id, kind,
                                          "attributes.status = 'FINISHED'"), tag)
               for kind, tag in _KEY_TAGS.items()}
    return FinishedWork(by_kind[TRAINING], by_kind[EVALUATION])


def _search_kind(client: Any, experiment_id: str, kind: str, condition: str) -> list[Any]:
    """Every run of ``kind`` (old ``run_kind`` values included) meeting ``condition``."""
    return [run for clause in kind_filters(kind)
            for run in search_all(client, experiment_id, f"{clause} and {condition}")]


def find_finished(uri: str, experiment_id: str, *, kind: str, key: str,
                  since_ms: int | None) -> FinishedRun | None:
    """The newest finished training (``kind="training"``) or evaluation
    (``"evaluation"``) with ``key`` that ended at or after ``since_ms``, or None."""
    tag = _KEY_TAGS[kind]
    runs = _search_kind(mlflow_client(uri), experiment_id, kind,
                        f"tags.{tag} = '{key}' and attributes.status = 'FINISHED'")
    newest = _newest(runs, tag).get(key)
    if newest is None or (since_ms is not None and newest.end_time < since_ms):
        return None
    return newest


def link_evaluation(uri: str, *, parent_run_id: str, source: FinishedRun, variant: str,
                    fold: int, sweep_id: str, trial_id: str) -> str:
    """Show the finished evaluation ``source`` in the sweep ``parent_run_id`` as a link
    run (same params, metrics and keys, tag ``reused_from``); return the link's id.

    A link already made for ``trial_id`` under this parent (a resumed sweep) is kept.
    """
    from mlflow.entities import Metric, Param

    client = mlflow_client(uri)
    experiment_id = client.get_run(parent_run_id).info.experiment_id
    existing = search_all(client, experiment_id,
                          f"tags.`{PARENT_TAG}` = '{parent_run_id}' and "
                          f"tags.trial_id = '{trial_id}' and attributes.status = 'FINISHED'")
    if existing:
        return str(existing[0].info.run_id)
    done = client.get_run(source.run_id)
    copied = {k: v for k, v in done.data.tags.items()
              if k in ("evaluation_key", "training_key", "training_run", "model_uri", "device")}
    tags = {**run_tags(variant=variant, fold=fold, sweep_id=sweep_id, trial_id=trial_id),
            **copied, RUN_KIND: EVALUATION, PARENT_TAG: parent_run_id,
            REUSED_FROM: source.run_id, "source_git_commit": source.git_commit}
    check_no_identifiers(tags, what="link run tags")
    run = client.create_run(experiment_id, tags=tags, run_name=f"{variant}/fold{fold} (reused)")
    params = [Param(k, v) for k, v in done.data.params.items()]
    metrics = [Metric(k, v, source.end_time, 0) for k, v in done.data.metrics.items()]
    for start in range(0, max(len(params), len(metrics)), _BATCH):
        client.log_batch(run.info.run_id, metrics=metrics[start:start + _BATCH],
                         params=params[start:start + _BATCH])
    client.set_terminated(run.info.run_id, status="FINISHED")
    logger.info("%s fold %d: evaluation reused from run %s", variant, fold, source.run_id)
    return str(run.info.run_id)
