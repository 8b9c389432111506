"""platform/report/fold_runs.py: one finished run per (variant, fold, seed), or why not."""

from __future__ import annotations

import pytest

from platform.evaluation.metrics import TABLE1_METRICS
from platform.report.fold_runs import fold_outcome, group_runs, lesion_loss_notes, seed_of
from platform.tracking import TrialResult

METRICS = dict.fromkeys(TABLE1_METRICS, 0.5)


def _run(run_id: str, *, variant: str = "final", fold: int = 0, status: str = "FINISHED",
         seed: str | None = None, rows: list | None = None, reason: str | None = None,
         metrics: dict | None = None) -> TrialResult:
    return TrialResult(run_id=run_id, trial_id=run_id, variant=variant, fold=fold,
                       status=status, metrics=METRICS if metrics is None else metrics,
                       per_patient=rows or [], failure_reason=reason,
                       params={} if seed is None else {"train.seed": seed})


def test_each_seed_has_its_run_and_old_runs_are_seed_0() -> None:
    runs = [_run("a"), _run("b", seed="1"), _run("c", seed="x")]
    assert [seed_of(r) for r in runs] == [0, 1, 0]
    with pytest.raises(ValueError, match="2 finished runs of seed 0"):
        fold_outcome("final", 0, runs)
    done, why = fold_outcome("final", 0, runs[:2])
    assert sorted(done) == [0, 1] and why == ""


def test_a_missing_fold_says_why() -> None:
    assert fold_outcome("final", 1, []) == ({}, "not run")
    failed = _run("f", status="FAILED", reason="non-finite loss at iteration 7")
    assert fold_outcome("final", 0, [failed]) == ({}, "failed: non-finite loss at iteration 7")
    assert "still running" in fold_outcome("final", 0, [_run("r", status="RUNNING")])[1]
    lacking = _run("m", metrics={"dice": 0.5})
    assert fold_outcome("final", 0, [lacking])[1].startswith("finished without metrics")


def test_runs_outside_the_table_are_left_out_and_lesion_loss_is_one_note_per_case() -> None:
    rows = [{"case": "case-001", "lesion_lost": 0.012}, {"case": "case-002", "lesion_lost": 0}]
    runs = [_run("a", variant="plain", rows=rows), _run("b", rows=rows),
            _run("c", variant="other"), _run("d", fold=3)]
    grouped = group_runs(runs, ["plain", "final"], [0])
    assert sorted(grouped) == [("final", 0), ("plain", 0)]
    assert lesion_loss_notes(["plain", "final"], grouped) == [
        "case-001 (fold 0): preprocessing took 1.20 % of the lesion in plain, final"]
