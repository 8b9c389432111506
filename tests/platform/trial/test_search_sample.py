"""A search sample (:mod:`platform.trial.search_sample`), and the sweep's search end to end.

The end-to-end test runs a nested search (2 samples per outer fold) over the synthetic
cohort through the command line, with real Ray, MLflow and an Optuna SQLite study, then
checks from what the trials logged that no test-fold patient took part in choosing the
configuration tested on it (inner folds looped in a sample, scored on validation
patients only). A killed sample resumes at its next fold. The pruning rule is tested in
``tune/test_pruning.py``, the study's name and generations in ``tune/test_tuner.py``.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import optuna
import pytest
import torch
from mlflow import MlflowClient

from data_pipeline.cohort.cohort import load_cohort
from data_pipeline.cohort.splits import make_folds
from platform.config import load_sweep
from platform.config.request import FoldKeys, TrialRequest
from platform.config.search import SEARCH_METRICS
from platform.sweep.context import build_context, materialize_cohort
from platform.sweep.expand import expand
from platform.sweep.folds import inner_folds
from platform.trial.search_sample import PROGRESS_FILE, VALIDATION_METRICS, run_search_sample
from platform.trial.stops import NonFiniteLossError
from tests.platform.sweep.harness import (
    TWO_AT_A_TIME,
    child_runs,
    isolation_overrides,
    run_to_completion,
    write_sweep,
)

SE_RATIOS = [1, 2]
LR_RANGE = (1.0e-4, 1.0e-2)
SAMPLES = 2  # per outer fold: enough for a choice between samples
# Not the default val_dice: proves search.metric reaches the trials and sets the direction.
METRIC = "val_avd"


def _search_sweep(tmp_path: Path) -> Path:
    search = {
        "variant": "final",
        "space": {"model.se_ratio": {"choice": SE_RATIOS},
                  "optimizer.lr": {"loguniform": list(LR_RANGE)}},
        "metric": METRIC, "num_samples": SAMPLES, "max_concurrent": 2, "pruner": "none",
        "storage": str(tmp_path / "optuna.db"), "seed": 0,
    }
    return write_sweep(tmp_path / "search.yaml",
                       {"cv": {"folds": 2, "seed": 0, "run_folds": [0, 1]}, "search": search})


def _logged_cases(client: MlflowClient, run_id: str, fold: int, dst: Path) -> dict:
    path = client.download_artifacts(run_id, f"cases/fold{fold}.json", str(dst))
    return json.loads(Path(path).read_text())


@pytest.mark.slow
def test_nested_search_chooses_per_outer_fold_without_its_test_patients(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sweep_cache: Path, mlflow_sqlite_uri: str
) -> None:
    """Issue 16: no test-fold key is among the patients any choice saw."""
    monkeypatch.chdir(tmp_path)
    overrides = [*TWO_AT_A_TIME, *isolation_overrides(tmp_path, sweep_cache, mlflow_sqlite_uri)]
    run_to_completion([_search_sweep(tmp_path), *overrides], tmp_path, tmp_path / "sweep.log")

    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    cohort = next((sweep_cache / "cohorts").glob("synthetic-*"))
    folds = make_folds([ref.key for ref in load_cohort(cohort)], 2, 0)
    client = MlflowClient(tracking_uri=mlflow_sqlite_uri)
    runs = child_runs(mlflow_sqlite_uri, "tiny")
    parent = client.get_run(runs[0].data.tags["mlflow.parentRunId"])
    choices = json.loads(Path(client.download_artifacts(
        parent.info.run_id, "search_choices.json", str(tmp_path))).read_text())
    assert [choice["folds"] for choice in choices] == [[0], [1]]
    for outer in (0, 1):
        # search.study_name is null: each outer fold's study takes the sweep's name, the
        # space's hash and the outer fold.
        name = choices[outer]["study"]
        assert re.fullmatch(rf"tiny-[0-9a-f]{{8}}-outer{outer}", name)
        study = optuna.load_study(study_name=name, storage=storage)
        assert study.direction == optuna.study.StudyDirection.MINIMIZE  # lower AVD is better
        assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * SAMPLES
        for trial in study.trials:
            assert trial.params["sample/model.se_ratio"] in SE_RATIOS
            assert LR_RANGE[0] <= trial.params["sample/optimizer.lr"] <= LR_RANGE[1]
        test = set(folds[outer].test)
        # The patients that chose this fold's configuration, as the parent run records them.
        assert not test & set(choices[outer]["seen"])
        assert set(choices[outer]["seen"]) == set(folds[outer].train)
        searched = [run for run in runs if run.data.tags["variant"] == "search"
                    and run.data.tags["outer_fold"] == str(outer)]
        assert len(searched) == SAMPLES and {run.info.status for run in searched} == {"FINISHED"}
        assert sorted(t.value for t in study.trials) == pytest.approx(
            sorted(run.data.metrics[METRIC] for run in searched), rel=1e-9)
        for run in searched:  # what each sample trained and validated on, as it logged it
            cases = _logged_cases(client, run.info.run_id, 0, tmp_path)
            validation, train = set(cases["validation"]), set(cases["train"])
            assert validation and train and not validation & train
            assert not (validation | train) & test
        # The fold's best sample, and only it, was tested on the fold's test patients.
        best = min(study.trials, key=lambda t: t.value)
        assert choices[outer]["sample"] == {"model.se_ratio": best.params["sample/model.se_ratio"],
                                            "optimizer.lr": best.params["sample/optimizer.lr"]}
        (tested,) = [run for run in runs if run.data.tags["variant"] == "final"
                     and run.data.tags["fold"] == str(outer)]
        assert tested.info.status == "FINISHED"
        assert int(tested.data.params["model.se_ratio"]) == best.params["sample/model.se_ratio"]
        assert float(tested.data.params["optimizer.lr"]) == pytest.approx(
            best.params["sample/optimizer.lr"], rel=1e-9)
        rows = client.download_artifacts(tested.info.run_id, "per_patient.csv", str(tmp_path))
        keys = [line.split(",")[0] for line in Path(rows).read_text().splitlines()[1:]]
        assert sorted(keys) == sorted(test)
    table = client.download_artifacts(parent.info.run_id, "table1.md", str(tmp_path))
    assert "the table is the outer cross-validation estimate" in Path(table).read_text()
    # Issue 13: the search's figures on the parent run, drawn from the samples' runs.
    figures = {f.path for f in client.list_artifacts(parent.info.run_id, "figures")}
    assert {f"figures/{name}.{suffix}" for name in ("search_history", "parameter_importance")
            for suffix in ("png", "svg", "json")} <= figures
    history, importance = (json.loads(Path(client.download_artifacts(
        parent.info.run_id, f"figures/{name}.json", str(tmp_path))).read_text())
        for name in ("search_history", "parameter_importance"))
    assert (history["metric"], history["mode"]) == (METRIC, "min")
    for outer in (0, 1):
        study = optuna.load_study(study_name=choices[outer]["study"], storage=storage)
        drawn = history["studies"][f"outer fold {outer}"]
        assert sorted(drawn["value"]) == pytest.approx(sorted(t.value for t in study.trials),
                                                       rel=1e-9)
        assert drawn["best_so_far"][-1] == pytest.approx(min(t.value for t in study.trials))
        weights = importance["studies"][f"outer fold {outer}"]
        assert set(weights) == {"model.se_ratio", "optimizer.lr"}
        assert sum(weights.values()) == pytest.approx(1.0)

    # Re-running the finished search continues it: no new samples, no re-evaluation.
    run_to_completion([_search_sweep(tmp_path), *overrides], tmp_path, tmp_path / "again.log")
    for outer in (0, 1):
        study = optuna.load_study(study_name=choices[outer]["study"], storage=storage)
        assert len(study.trials) == SAMPLES
    assert len(child_runs(mlflow_sqlite_uri, "tiny")) == len(runs)


def test_every_search_metric_names_a_per_patient_metric() -> None:
    assert sorted(VALIDATION_METRICS) == sorted(SEARCH_METRICS)


class _Crash(Exception):
    """Stands for the worker dying right after a fold's checkpoint was reported."""


class _Reporter:
    """What Ray Tune gives a sample: the last reported checkpoint, kept as a folder."""

    def __init__(self, keep: Path, *, crash_after: int | None = None) -> None:
        self.keep, self.crash_after, self.reports = keep, crash_after, 0

    def restore_dir(self) -> Path | None:
        return self.keep if self.keep.exists() else None

    def report(self, metrics: dict, checkpoint_dir: Path | None) -> None:
        assert checkpoint_dir is not None
        shutil.copytree(checkpoint_dir, self.keep, dirs_exist_ok=True)
        self.reports += 1
        if self.reports == self.crash_after:
            raise _Crash


def test_a_killed_search_sample_resumes_at_its_next_fold(
    tmp_path: Path, sweep_cache: Path, mlflow_sqlite_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import platform.trial.search_sample as search_trial

    sweep = load_sweep(write_sweep(tmp_path / "s.yaml", {}), [
        f"data.cache_root={sweep_cache}", f"tracking.uri={mlflow_sqlite_uri}",
        "eval.validation_fraction=0.5"])
    context = build_context(sweep, materialize_cohort(sweep.data, progress=False),
                            parent_run_id=None)
    outer = context.folds[0]
    inner = tuple(FoldKeys(index=f.index, train=f.train, test=f.test) for f in inner_folds(
        (*outer.train, *outer.test), folds=2, validation_fraction=0.5, seed=0))
    request = TrialRequest(spec=expand(sweep)[1], context=context, search_metric="val_dice",
                           inner_folds=inner, outer_fold=0)
    trained: list[tuple[str, ...]] = []
    real_train_on = search_trial.train_fold

    def counting_train_on(config, data, **kwargs):  # noqa: ANN001, ANN003, ANN202
        trained.append(data.train_keys)
        return real_train_on(config, data, **kwargs)

    monkeypatch.setattr(search_trial, "train_fold", counting_train_on)
    keep = tmp_path / "checkpoint"
    with pytest.raises(_Crash):
        run_search_sample(request, search_trial_id="t1", device=torch.device("cpu"),
                          reporter=_Reporter(keep, crash_after=1))
    assert len(trained) == 1
    score = run_search_sample(request, search_trial_id="t1", device=torch.device("cpu"),
                              reporter=_Reporter(keep))
    assert trained == [inner[0].train, inner[1].train]  # fold 1 was not trained again
    client = MlflowClient(tracking_uri=mlflow_sqlite_uri)
    (run,) = child_runs(mlflow_sqlite_uri, "tiny")  # the retry logged into the same run
    history = client.get_metric_history(run.info.run_id, "val_dice")
    assert sorted(m.step for m in history) == [1, 2]
    assert run.data.metrics["val_dice"] == pytest.approx(score)
    assert json.loads((keep / PROGRESS_FILE).read_text())["run_id"] == run.info.run_id


def test_a_stopped_search_sample_ends_its_run_failed_with_its_reason(
        tmp_path: Path, sweep_cache: Path, mlflow_sqlite_uri: str) -> None:
    """Issue 28: a sample whose training stops (a NaN loss at lr=1e30) raises the stop for
    the trainable to end the trial with (``tune/test_tuner.py``: PRUNED in the study, the
    search goes on), and its MLflow run ends FAILED with the reason; no fold is scored."""
    sweep = load_sweep(write_sweep(tmp_path / "s.yaml", {}), [
        f"data.cache_root={sweep_cache}", f"tracking.uri={mlflow_sqlite_uri}",
        "eval.validation_fraction=0.5", "optimizer.lr=1.0e+30"])
    context = build_context(sweep, materialize_cohort(sweep.data, progress=False),
                            parent_run_id=None)
    outer = context.folds[0]
    inner = tuple(FoldKeys(index=f.index, train=f.train, test=f.test) for f in inner_folds(
        (*outer.train, *outer.test), folds=2, validation_fraction=0.5, seed=0))
    request = TrialRequest(spec=expand(sweep)[1], context=context, search_metric="val_dice",
                           inner_folds=inner, outer_fold=0)
    reporter = _Reporter(tmp_path / "checkpoint")
    with pytest.raises(NonFiniteLossError) as stopped:
        run_search_sample(request, search_trial_id="t1", device=torch.device("cpu"),
                          reporter=reporter)
    assert reporter.reports == 0
    (run,) = child_runs(mlflow_sqlite_uri, "tiny")
    assert run.info.status == "FAILED"
    assert run.data.tags["failure_reason"] == stopped.value.reason
    assert stopped.value.reason.startswith("non-finite loss at iteration ")
    assert "val_dice" not in run.data.metrics
