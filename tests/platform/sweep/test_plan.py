"""Issue 11: the plan of a sweep (:mod:`platform.sweep.plan`): what is trained, evaluated and
reused, from the real sweep files (pure: no Ray, no store). The keys are in ``test_keys.py``."""

from __future__ import annotations

from platform.sweep.plan import plan_sweep
from platform.tracking.work import FinishedRun, FinishedWork
from tests.platform.sweep.test_keys import _context, _specs


def _done(specs, *, trainings: bool = True, evaluations: bool = True) -> FinishedWork:
    def run(spec, kind: str) -> FinishedRun:
        return FinishedRun(run_id=f"{kind}-{spec.trial_id}", end_time=1000,
                           training_key=spec.training_key, git_commit="abc")

    return FinishedWork(
        trainings={s.training_key: run(s, "t") for s in specs} if trainings else {},
        evaluations={s.evaluation_key: run(s, "e") for s in specs} if evaluations else {})


def test_overlap_sweep_is_one_training_and_three_evaluations_per_fold() -> None:
    context = _context(5, (0, 1, 2, 3, 4))
    specs = _specs("overlap.yaml", [], context)
    plan = plan_sweep(specs, run_folds=context.run_folds, finished=FinishedWork())
    assert plan.line() == "plan: 5 trainings to run, 0 reused; 15 evaluations to run, 0 reused"
    assert plan.shares_trainings
    for work in plan.work:
        assert [s.variant for s in work.evaluate] == ["overlap_25", "overlap_50", "overlap_75"]
        assert len({s.evaluation_key for s in work.evaluate}) == 3
        assert len({s.fold for s in work.evaluate}) == 1


def test_an_added_variant_trains_only_itself() -> None:
    context = _context(2, (0,))
    before = _specs("tiny.yaml", [], context)
    added = _specs("tiny.yaml", ['variants=[{name: plain, preprocessing: {steps: [hu_window, '
                                 'minmax]}, sampler: {name: uniform}, model: {name: unet3d}, '
                                 'loss: {name: bce_dice}}, {name: final}, '
                                 '{name: seed1, train: {seed: 1}}]'], context)
    finished = _done([s for s in before if s.fold == 0])
    plan = plan_sweep(added, run_folds=(0,), finished=finished)
    assert plan.line() == "plan: 1 trainings to run, 2 reused; 1 evaluations to run, 2 reused"
    assert [s.variant for w in plan.work for s in w.evaluate] == ["seed1"]
    assert not plan.shares_trainings
    # The unchanged variants keep their keys: the added one changes nothing of theirs.
    assert {s.evaluation_key for s in before} <= {s.evaluation_key for s in added}


def test_folds_run_in_batches_end_in_one_complete_table() -> None:
    context = _context(2, (1,))
    specs = _specs("tiny.yaml", [], context)
    plan = plan_sweep(specs, run_folds=(1,), finished=_done([s for s in specs if s.fold == 0]))
    assert plan.line() == "plan: 2 trainings to run, 0 reused; 2 evaluations to run, 2 reused"
    assert plan.table_folds == (0, 1)
    assert {s.fold for w in plan.work for s in w.evaluate} == {1}


def test_a_finished_training_is_evaluated_again_only_where_evaluation_changed() -> None:
    context = _context(2, (0,))
    specs = _specs("tiny.yaml", [], context)
    threshold = _specs("tiny.yaml", ["eval.threshold=0.6"], context)
    assert [s.training_key for s in specs] == [s.training_key for s in threshold]
    assert not {s.evaluation_key for s in specs} & {s.evaluation_key for s in threshold}
    plan = plan_sweep(threshold, run_folds=(0,), finished=_done(specs))
    assert plan.line() == "plan: 0 trainings to run, 2 reused; 2 evaluations to run, 0 reused"
    assert all(work.finished is not None for work in plan.work)


def test_retrain_forgets_the_trainings_and_their_evaluations() -> None:
    context = _context(2, (0,))
    specs = _specs("tiny.yaml", [], context)
    plain = {s.training_key for s in specs if s.variant == "plain"}
    finished = _done([s for s in specs if s.fold == 0]).without_trainings(plain)
    plan = plan_sweep(specs, run_folds=(0,), finished=finished)
    assert plan.line() == "plan: 1 trainings to run, 1 reused; 1 evaluations to run, 1 reused"
    assert [s.variant for w in plan.work for s in w.evaluate] == ["plain"]


def test_reused_work_of_another_commit_is_noted_under_the_table() -> None:
    context = _context(2, (0,))
    specs = _specs("tiny.yaml", [], context)
    plan = plan_sweep(specs, run_folds=(0,), finished=_done(specs))
    assert plan.notes("abc") == []
    notes = plan.notes("def")
    assert len(notes) == 4 and all("made by commit abc (this is def)" in n for n in notes)
