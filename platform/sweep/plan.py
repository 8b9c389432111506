"""What a sweep will do before it does it: trainings and evaluations to run or to reuse.

Pure: the keyed trials (:mod:`platform.sweep.keys`) of every fold and what the store
already holds (:class:`platform.tracking.work.FinishedWork`) go in; the work groups and
the one-line plan come out. Trials that share a training key (Table 2's overlaps, any
variants that differ only in ``eval``) are one training evaluated several times. Folds
outside ``cv.run_folds`` are not run, but their evaluations that are already finished
are reused, so folds run in batches end with one complete table.

Example of the line ``--dry-run`` ends with::

    plan: 5 trainings to run, 0 reused; 15 evaluations to run, 0 reused
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from platform.config.request import TrialSpec
from platform.tracking.work import FinishedRun, FinishedWork

__all__ = ["SweepPlan", "TrainingWork", "plan_sweep"]


@dataclass(frozen=True)
class TrainingWork:
    """One training key and the evaluations of it this sweep still has to run."""

    key: str
    evaluate: tuple[TrialSpec, ...]
    finished: FinishedRun | None
    """The finished training to evaluate, or None: it has to be trained."""


@dataclass(frozen=True)
class SweepPlan:
    """The sweep's work: what runs, what is reused, and the trials its table shows."""

    specs: tuple[TrialSpec, ...]
    """Every keyed trial of the sweep (every fold)."""
    work: tuple[TrainingWork, ...]
    reused: tuple[tuple[TrialSpec, FinishedRun], ...]
    """Evaluations taken from the store, with the run that did them."""
    trainings_reused: int
    """Distinct finished trainings among the folds to run."""

    @property
    def trainings_to_run(self) -> int:
        return sum(work.finished is None for work in self.work)

    @property
    def evaluations_to_run(self) -> int:
        return sum(len(work.evaluate) for work in self.work)

    @property
    def table_folds(self) -> tuple[int, ...]:
        """Every fold the table shows: those run now and those reused."""
        folds = {spec.fold for work in self.work for spec in work.evaluate}
        return tuple(sorted(folds | {spec.fold for spec, _ in self.reused}))

    @property
    def evaluation_keys(self) -> frozenset[str]:
        """The keys of the evaluations the table is built from."""
        return frozenset(spec.evaluation_key for spec in self.specs)

    @property
    def shares_trainings(self) -> bool:
        """Whether some variants differ in evaluation only (Table 2: one training each
        fold, evaluated at several overlaps): the table then shows seconds and patches
        per patient."""
        per_fold = {(spec.fold, spec.training_key) for spec in self.specs}
        return len(per_fold) < len(self.specs)

    def notes(self, commit: str) -> list[str]:
        """Table notes: reused evaluations that another code version made."""
        return [f"{spec.variant}, fold {spec.fold}: reused from run {done.run_id}, made by "
                f"commit {done.git_commit[:12] or 'unknown'} (this is {commit[:12]})"
                for spec, done in self.reused if done.git_commit != commit]

    def line(self) -> str:
        """``plan: T trainings to run, R reused; E evaluations to run, S reused``."""
        return (f"plan: {self.trainings_to_run} trainings to run, {self.trainings_reused} "
                f"reused; {self.evaluations_to_run} evaluations to run, {len(self.reused)} "
                "reused")


def plan_sweep(specs: Sequence[TrialSpec], *, run_folds: Sequence[int],
               finished: FinishedWork) -> SweepPlan:
    """Group keyed ``specs`` (every fold) into the work of the folds ``run_folds``.

    Raises:
        ValueError: a trial without keys (see :func:`platform.sweep.keys.keyed`).
    """
    groups: dict[str, list[TrialSpec]] = {}
    reused: list[tuple[TrialSpec, FinishedRun]] = []
    trained: set[str] = set()
    for spec in specs:
        if not spec.training_key or not spec.evaluation_key:
            raise ValueError(f"trial {spec.trial_id} has no work keys: plan keyed trials")
        done = finished.evaluations.get(spec.evaluation_key)
        if done is not None:
            reused.append((spec, done))
        elif spec.fold in run_folds:
            groups.setdefault(spec.training_key, []).append(spec)
        if spec.fold in run_folds and spec.training_key in finished.trainings:
            trained.add(spec.training_key)
    work = tuple(TrainingWork(key, tuple(group), finished.trainings.get(key))
                 for key, group in groups.items())
    return SweepPlan(specs=tuple(specs), work=work, reused=tuple(reused),
                     trainings_reused=len(trained))
