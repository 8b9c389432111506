"""End to end: ``python -m platform.sweep`` with real Ray, a real MLflow store, real DICOM.

Each test runs the command line in a subprocess from its own ``tmp_path`` (its Ray state
and MLflow SQLite store there); all of them share one synthetic cohort and preprocessing
cache (:func:`sweep_cache`), which is safe because the cohort is keyed by its settings and
the cache by content. What is checked is what a user relies on: Table 1 is the mean and
sample sd of the child runs, an interrupted sweep resumes without redoing finished trials,
a trial whose worker dies is retried from its checkpoint into the same MLflow run, and
the command line refuses a bad file before anything starts.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import signal
import statistics
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml
from mlflow import MlflowClient

from data_pipeline.cohort.cohort import load_case, load_cohort
from data_pipeline.cohort.splits import make_folds
from platform.config import load_sweep
from platform.report.table1 import build_table1
from platform.sweep.__main__ import main
from platform.sweep.expand import expand
from platform.tracking import fetch_trial_results
from tests.platform.sweep.harness import (
    SWEEP_TIMEOUT_S,
    TINY_SWEEP,
    SweepProcess,
    child_runs,
    isolation_overrides,
    ray_session_processes,
    run_to_completion,
    wait_until,
    write_sweep,
)

# The paper's Table 1 columns, named here so a renamed metric fails this test.
TABLE_METRICS = ("dice", "sensitivity", "specificity", "precision")


def _experiment_runs(uri: str, experiment: str, kind: str) -> list:
    client = MlflowClient(tracking_uri=uri)
    found = client.get_experiment_by_name(experiment)
    assert found is not None, f"no MLflow experiment {experiment!r} in {uri}"
    return client.search_runs([found.experiment_id], filter_string=f"tags.run_kind = '{kind}'")


def _only_parent(uri: str) -> Any:
    parents = _experiment_runs(uri, "tiny", "sweep")
    assert len(parents) == 1, f"expected one parent run, got {len(parents)}"
    return parents[0]


def _expected_cells(children: list) -> dict[tuple[str, str], tuple[float, float]]:
    """``(variant, metric) -> (mean, sd with ddof=1)`` over the child runs, as the paper."""
    cells = {}
    for variant in {run.data.tags["variant"] for run in children}:
        runs = [run for run in children if run.data.tags["variant"] == variant]
        for metric in TABLE_METRICS:
            values = [run.data.metrics[metric] for run in runs]
            cells[(variant, metric)] = (statistics.fmean(values), statistics.stdev(values))
    return cells


@pytest.mark.slow
def test_sweep_table_is_mean_and_sd_of_its_child_runs(finished_tiny_sweep: Any) -> None:
    mlflow_sqlite_uri, overrides = finished_tiny_sweep.uri, list(finished_tiny_sweep.overrides)
    sweep_cache, tmp_path = finished_tiny_sweep.cache, finished_tiny_sweep.root
    parent = _only_parent(mlflow_sqlite_uri)
    assert parent.info.status == "FINISHED"
    client = MlflowClient(tracking_uri=mlflow_sqlite_uri)
    children = client.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.`mlflow.parentRunId` = "
        f"'{parent.info.run_id}' and tags.run_kind = 'evaluation'")
    specs = {spec.trial_id: spec for spec in expand(load_sweep(TINY_SWEEP, overrides))}
    assert sorted(run.data.tags["trial_id"] for run in children) == sorted(specs)
    assert [run.info.status for run in children] == ["FINISHED"] * 4
    # Each evaluation names the training it evaluated: four trainings, one per trial.
    trainings = client.search_runs([parent.info.experiment_id],
                                   filter_string="tags.run_kind = 'training'")
    assert {run.info.run_id for run in trainings} == {
        run.data.tags["training_run"] for run in children}
    assert [run.info.status for run in trainings] == ["FINISHED"] * 4

    # Each child run evaluated exactly its fold's test patients.
    cohort = next((sweep_cache / "cohorts").glob("synthetic-*"))
    folds = make_folds([ref.key for ref in load_cohort(cohort)], 2, 0)
    results = fetch_trial_results(mlflow_sqlite_uri, parent.info.run_id)
    for result in results:
        assert sorted(row["case"] for row in result.per_patient) == sorted(
            folds[result.fold].test)

    # Issue 16: "plain" (no skull removal, no crop) and "final" (cropped to the brain) are
    # scored over the same voxels of each patient: the scan's original grid.
    voxels = {(r.variant, row["case"]): row["voxels"] for r in results for row in r.per_patient}
    originals = {ref.key: load_case(ref).lesion.size for ref in load_cohort(cohort)}
    for case, size in originals.items():
        assert voxels[("plain", case)] == voxels[("final", case)] == size

    expected = _expected_cells(children)
    table = build_table1(results, variants=["plain", "final"], folds=[0, 1])
    assert table.complete
    for row in table.rows:
        for metric in TABLE_METRICS:
            mean, sd = expected[(row.variant, metric)]
            summary = row.summaries[metric]
            assert (summary.n, summary.mean, summary.sd) == (
                2, pytest.approx(mean, rel=1e-12), pytest.approx(sd, rel=1e-12))

    # What the sweep itself logged on the parent run: table1.csv, the same as MLflow's
    # table artifact table1.json, and each variant's mean Dice as a metric (issue 23).
    logged = client.download_artifacts(parent.info.run_id, "table1.csv", str(tmp_path))
    rows = {row["variant"]: row for row in csv.DictReader(io.StringIO(Path(logged).read_text()))}
    assert sorted(rows) == ["final", "plain"]
    table = json.loads(Path(client.download_artifacts(parent.info.run_id, "table1.json",
                                                      str(tmp_path))).read_text())
    cells = {row[table["columns"].index("variant")]: dict(zip(table["columns"], row, strict=True))
             for row in table["data"]}
    for (variant, metric), (mean, sd) in expected.items():
        assert float(rows[variant][f"{metric}_mean"]) == pytest.approx(mean, rel=1e-12)
        assert float(rows[variant][f"{metric}_sd"]) == pytest.approx(sd, rel=1e-12)
        assert cells[variant][f"{metric}_mean"] == pytest.approx(mean, rel=1e-12)
    assert {k: v for k, v in parent.data.metrics.items() if k.startswith("t1.")} == {
        f"t1.{variant}.dice_mean": pytest.approx(expected[(variant, "dice")][0], rel=1e-12)
        for variant in ("plain", "final")}


@pytest.mark.slow
def test_default_console_is_one_progress_display_then_table_1(finished_tiny_sweep: Any) -> None:
    """Issue 13: without -v a sweep prints a bounded handful of lines, Table 1 and the
    command that opens the MLflow UI; none of Ray Tune's tables, MLflow's download bars
    or library warnings."""
    console = finished_tiny_sweep.console
    lines = console.splitlines()
    # Measured: 17 lines for 4 trials (cohort bar, 1-2 status lines, Table 1 with 2 rows
    # and its notes, 3 closing lines). Nothing in it grows with the trials but the rows.
    assert len(lines) <= 30, console
    assert "Table 1: mean ± sd over folds" in console
    rows = [line.split()[:2] for line in lines if line.split()[:1] in (["plain"], ["final"])]
    assert rows == [["plain", "2/2"], ["final", "2/2"]]
    assert "tiny: trials: 4/4 done, 0 running, 0 failed, 0 reused" in console
    parent = _only_parent(finished_tiny_sweep.uri)
    assert f"parent run {parent.info.run_id}" in console
    assert "ui --backend-store-uri sqlite:///" in console
    assert "python -m platform.report tiny" in console
    for noise in ("Trial status", "Configuration for experiment", "Downloading artifacts",
                  "Checkpoint successfully created", "(trainable pid=", "INFO", "WARNING",
                  "Traceback"):
        assert noise not in console, f"{noise!r} in the default console:\n{console}"


@pytest.mark.slow
def test_trial_runs_carry_system_metrics_git_commit_and_the_cohort(
        finished_tiny_sweep: Any) -> None:
    """Issue 13: MLflow system metrics (on the trainings, where the time goes), the standard
    git tag and the cohort as a dataset input (digest: the work keys' data fingerprint)."""
    from platform.sweep.keys import data_fingerprint
    from platform.tracking.provenance import git_state

    evaluations = child_runs(finished_tiny_sweep.uri, "tiny")
    trainings = child_runs(finished_tiny_sweep.uri, "tiny", "training")
    assert len(evaluations) == len(trainings) == 4
    cohort = next((finished_tiny_sweep.cache / "cohorts").glob("synthetic-*"))
    sweep = load_sweep(TINY_SWEEP, list(finished_tiny_sweep.overrides))
    digest = data_fingerprint(sweep.data, load_cohort(cohort))
    for run in [*evaluations, *trainings]:
        assert run.data.tags["mlflow.source.git.commit"] == git_state()[0]
        (given,) = run.inputs.dataset_inputs
        assert (given.dataset.name, given.dataset.digest) == (cohort.name, digest)
        assert json.loads(given.dataset.profile) == {"cases": 4, "train_cases": 2,
                                                     "test_cases": 2}
        assert [t.value for t in given.tags] == [f"fold {run.data.tags['fold']}"]
    for run in trainings:
        assert "system/cpu_utilization_percentage" in run.data.metrics, run.info.run_name


def _done_in_tune(storage: Path, trial_id: str) -> bool:
    """Whether Ray Tune recorded the trial's last result (``done: true`` in result.json)."""
    for path in storage.glob(f"*/{trial_id}/result.json"):
        for line in path.read_text().splitlines():
            try:
                if json.loads(line).get("done"):
                    return True
            except json.JSONDecodeError:  # a line being written
                continue
    return False


def _finished_snapshot(uri: str, storage: Path) -> dict[str, tuple[str, int, int]]:
    """``trial_id -> (run id, end time, train_loss history length)`` of finished trials.

    Finished means the evaluation run ended FINISHED and Ray Tune recorded its training's
    trial (named by the training's id) as done; a trial stopped between the two is
    evaluated again on resume, by design.
    """
    client = MlflowClient(tracking_uri=uri)
    snapshot = {}
    for run in child_runs(uri, "tiny"):
        if run.info.status != "FINISHED":
            continue
        training = client.get_run(run.data.tags["training_run"])
        if _done_in_tune(storage, training.data.tags["trial_id"]):
            snapshot[run.data.tags["trial_id"]] = (
                run.info.run_id, run.info.end_time,
                len(client.get_metric_history(training.info.run_id, "train_loss")))
    return snapshot


@pytest.mark.slow
def test_interrupted_sweep_resumes_without_redoing_finished_trials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sweep_cache: Path, mlflow_sqlite_uri: str
) -> None:
    monkeypatch.chdir(tmp_path)
    overrides = ["cv.run_folds=[0,1]",
                 *isolation_overrides(tmp_path, sweep_cache, mlflow_sqlite_uri)]
    args = [TINY_SWEEP, *overrides]
    storage = tmp_path / "ray"  # ray.storage_path, from isolation_overrides
    with SweepProcess(args, cwd=tmp_path, log=tmp_path / "interrupted.log") as sweep:
        wait_until(lambda: bool(_finished_snapshot(mlflow_sqlite_uri, storage)),
                   timeout=SWEEP_TIMEOUT_S, what="a trial finished", process=sweep)
        sweep.interrupt()  # Ctrl-C: Ray Tune saves the experiment state and stops
        code = sweep.wait(60)
        assert code != 0, f"an interrupted sweep must not report success:\n{sweep.log_tail()}"
        wait_until(lambda: not ray_session_processes(sweep.pid), timeout=30,
                   what="the interrupted sweep's Ray processes ended")
    before = _finished_snapshot(mlflow_sqlite_uri, storage)
    assert 1 <= len(before) < 4, f"the interruption came too late to test resuming: {before}"

    run_to_completion(args, tmp_path, tmp_path / "resumed.log")
    # Issue 13: the resumed run's display counts the trials it did not run again.
    reused = re.search(r"tiny: trials: 4/4 done, 0 running, 0 failed, (\d) reused",
                       (tmp_path / "resumed.log").read_text())
    assert reused is not None and 1 <= int(reused.group(1)) <= 3

    runs = child_runs(mlflow_sqlite_uri, "tiny")
    specs = [spec.trial_id for spec in expand(load_sweep(TINY_SWEEP, overrides))]
    assert sorted(run.data.tags["trial_id"] for run in runs) == sorted(specs)  # one run each
    assert {run.info.status for run in runs} == {"FINISHED"}
    after = _finished_snapshot(mlflow_sqlite_uri, storage)
    assert {trial: after[trial] for trial in before} == before  # not run again
    assert _only_parent(mlflow_sqlite_uri).info.status == "FINISHED"


def _train_loss_steps(uri: str, run_id: str) -> list[int]:
    history = MlflowClient(tracking_uri=uri).get_metric_history(run_id, "train_loss")
    return [metric.step for metric in history]


def _trial_worker(driver_pid: int) -> psutil.Process:
    """The Ray worker running the (only) trial.

    Ray sets the worker's command line to ``ray::ImplicitFunc.train`` (its process name is
    that, cut to 15 characters); idle workers read ``ray::IDLE``.
    """
    workers = [p for p in ray_session_processes(driver_pid)
               if " ".join(p.cmdline()).startswith("ray::ImplicitFunc")]
    assert len(workers) == 1, f"expected one trial worker, found {workers}"
    return workers[0]


@pytest.mark.slow
def test_trial_whose_worker_is_killed_is_retried_into_the_same_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sweep_cache: Path, mlflow_sqlite_uri: str
) -> None:
    monkeypatch.chdir(tmp_path)
    tiny = yaml.safe_load(TINY_SWEEP.read_text())
    one_trial = write_sweep(tmp_path / "one.yaml", {"variants": tiny["variants"][1:]})
    args = [one_trial, "failure.max_failures=1", "train.iterations=80",
            "train.checkpoint_every=5",
            *isolation_overrides(tmp_path, sweep_cache, mlflow_sqlite_uri)]

    def trainings() -> list:
        return child_runs(mlflow_sqlite_uri, "tiny", "training")

    def past_first_checkpoint() -> bool:
        # Step 6 is logged only after the checkpoint of step 5 was reported to Ray Tune.
        runs = trainings()
        return bool(runs) and max(_train_loss_steps(mlflow_sqlite_uri, runs[0].info.run_id),
                                  default=0) >= 6

    with SweepProcess(args, cwd=tmp_path, log=tmp_path / "sweep.log") as sweep:
        wait_until(past_first_checkpoint, timeout=SWEEP_TIMEOUT_S, interval=0.1,
                   what="the trial logged step 6", process=sweep)
        _trial_worker(sweep.pid).send_signal(signal.SIGKILL)
        code = sweep.wait(SWEEP_TIMEOUT_S)
        assert code == 0, f"the retried sweep exited {code}:\n{sweep.log_tail()}"

    (evaluation,) = child_runs(mlflow_sqlite_uri, "tiny")
    assert evaluation.info.status == "FINISHED"
    assert set(TABLE_METRICS) <= set(evaluation.data.metrics)
    runs = trainings()
    assert len(runs) == 1, "the retry must reopen the training's run, not start another"
    run = runs[0]
    assert run.info.status == "FINISHED"
    assert evaluation.data.tags["training_run"] == run.info.run_id
    steps = _train_loss_steps(mlflow_sqlite_uri, run.info.run_id)
    assert set(steps) == set(range(1, 81))
    repeated = {step for step in steps if steps.count(step) > 1}
    # Resumed from a checkpoint at step >= 5: steps 1..5 were never trained twice.
    assert all(step > 5 for step in repeated), f"restarted from scratch: {sorted(repeated)}"


def test_invalid_sweep_file_exits_2_naming_the_yaml_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = write_sweep(tmp_path / "bad.yaml", {"base": {"model": {"norm": "instnce"}}})
    assert main([str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err
    assert "base.model.norm" in err and "instance" in err
    assert not (tmp_path / "runs").exists()




def test_a_cohort_that_does_not_exist_is_refused_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for flag in ([], ["--dry-run"]):
        assert main([str(TINY_SWEEP), *flag, f"data.cohort={tmp_path / 'no' / 'such'}"]) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert lines == [f"{TINY_SWEEP}: data.cohort: {tmp_path / 'no' / 'such'}: "
                         f"{tmp_path / 'no' / 'such'} is neither a cohort manifest "
                         "(.yaml/.csv) nor a folder"]
    assert not (tmp_path / "runs").exists()


def _plan_line(args: list, capsys: pytest.CaptureFixture[str]) -> str:
    assert main([*map(str, args), "--dry-run"]) == 0
    return capsys.readouterr().out.strip().splitlines()[-1]


@pytest.mark.slow
def test_an_added_variant_and_a_later_fold_train_only_what_is_new(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sweep_cache: Path, mlflow_sqlite_uri: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Issue 11: work is reused wherever its result would be the same, as the plan says."""
    monkeypatch.chdir(tmp_path)
    isolated = isolation_overrides(tmp_path, sweep_cache, mlflow_sqlite_uri)
    run_to_completion([TINY_SWEEP, *isolated], tmp_path, tmp_path / "two.log")
    assert len(child_runs(mlflow_sqlite_uri, "tiny", "training")) == 2

    tiny = yaml.safe_load(TINY_SWEEP.read_text())
    three = write_sweep(tmp_path / "three.yaml", {
        "variants": [*tiny["variants"], {"name": "seed1", "train": {"seed": 1}}]})
    assert _plan_line([three, *isolated], capsys) == (
        "plan: 1 trainings to run, 2 reused; 1 evaluations to run, 2 reused")
    run_to_completion([three, *isolated], tmp_path, tmp_path / "three.log")
    trainings = child_runs(mlflow_sqlite_uri, "tiny", "training")
    assert sorted(run.data.tags["variant"] for run in trainings) == ["final", "plain", "seed1"]
    parents = sorted(_experiment_runs(mlflow_sqlite_uri, "tiny", "sweep"),
                     key=lambda run: run.info.start_time)
    client = MlflowClient(tracking_uri=mlflow_sqlite_uri)
    linked = client.search_runs([parents[-1].info.experiment_id], filter_string=(
        f"tags.`mlflow.parentRunId` = '{parents[-1].info.run_id}' and "
        "tags.run_kind = 'evaluation'"))
    reused = {run.data.tags["variant"]: run.data.tags.get("reused_from") for run in linked}
    assert sorted(reused) == ["final", "plain", "seed1"]
    assert reused["seed1"] is None and reused["plain"] and reused["final"]
    first = {run.data.tags["variant"]: run.info.run_id for run in client.search_runs(
        [parents[0].info.experiment_id], filter_string=(
            f"tags.`mlflow.parentRunId` = '{parents[0].info.run_id}' and "
            "tags.run_kind = 'evaluation'"))}
    assert reused["plain"] == first["plain"] and reused["final"] == first["final"]

    # Folds in batches: fold 1 now, fold 0 taken from the store; one complete table.
    later = [three, "cv.run_folds=[1]", *isolated]
    assert _plan_line(later, capsys) == (
        "plan: 3 trainings to run, 0 reused; 3 evaluations to run, 3 reused")
    run_to_completion(later, tmp_path, tmp_path / "fold1.log")
    assert sorted((run.data.tags["variant"], run.data.tags["fold"])
                  for run in child_runs(mlflow_sqlite_uri, "tiny", "training")) == sorted(
        (variant, fold) for variant in ("plain", "final", "seed1") for fold in "01")
    last = max(_experiment_runs(mlflow_sqlite_uri, "tiny", "sweep"),
               key=lambda run: run.info.start_time)
    assert last.info.status == "FINISHED"
    table = client.download_artifacts(last.info.run_id, "table1.csv", str(tmp_path))
    rows = list(csv.DictReader(io.StringIO(Path(table).read_text())))
    assert [(r["variant"], r["n_folds"], r["missing"]) for r in rows] == [
        ("plain", "2", ""), ("final", "2", ""), ("seed1", "2", "")]


def test_overlap_sweep_plans_one_training_and_three_evaluations_per_fold(
    tmp_path: Path, mlflow_sqlite_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 11, Table 2: the dry run of sweeps/overlap.yaml on an empty store (its cohort
    made small: the plan does not depend on the scan size)."""
    overlap = TINY_SWEEP.parent / "overlap.yaml"
    line = _plan_line([overlap, "data.synthetic.shape=[32,32,32]",
                       f"data.cache_root={tmp_path / 'cache'}", f"tracking.uri={mlflow_sqlite_uri}",
                       "resources.gpus_per_trial=0", "resources.cpus_per_trial=1"], capsys)
    assert line == "plan: 5 trainings to run, 0 reused; 15 evaluations to run, 0 reused"


def test_retrain_of_a_variant_the_sweep_does_not_have_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(TINY_SWEEP), "--retrain", "finall", f"data.cache_root={tmp_path}"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"{TINY_SWEEP}: --retrain finall: no such variant; variants: plain, final")
    assert os.listdir(tmp_path) == []
