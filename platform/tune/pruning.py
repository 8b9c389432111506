"""Optuna pruners (Wilcoxon, for one) as a Ray Tune trial scheduler.

Why: Ray Tune's OptunaSearch reports intermediate values to its study but never asks
the study's pruner, so Optuna's ``WilcoxonPruner`` (made for scores over instances, here
the folds) would never stop a trial. This scheduler keeps its own in-memory study with
the chosen pruner: each Ray trial is one Optuna trial, each fold score one step, and the
pruner's verdict becomes ``STOP``. Only public Ray Tune and Optuna APIs are used.
"""

from __future__ import annotations

from typing import Any

import optuna
from ray.tune.schedulers import FIFOScheduler, TrialScheduler

__all__ = ["OptunaPrunerScheduler"]


class OptunaPrunerScheduler(FIFOScheduler):
    """Stop a Ray trial when an Optuna pruner says so, fold score by fold score.

    Args:
        pruner: any Optuna pruner, e.g. ``optuna.pruners.WilcoxonPruner()``.
        score: the per-step result key (a fold's score), not the running objective.
        step: the result key that counts steps (folds done).
        mode: ``"max"`` or ``"min"``, as the search's.
    """

    def __init__(self, pruner: optuna.pruners.BasePruner, *, score: str, step: str,
                 mode: str) -> None:
        super().__init__()
        self._score, self._step = score, step
        self._study = optuna.create_study(
            direction="maximize" if mode == "max" else "minimize", pruner=pruner
        )
        self._trials: dict[str, optuna.trial.Trial] = {}
        self._scores: dict[str, list[float]] = {}

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
        if self._score not in result:
            return TrialScheduler.CONTINUE
        if trial.trial_id not in self._trials:
            self._trials[trial.trial_id] = self._study.ask()
        ot_trial = self._trials[trial.trial_id]
        score = float(result[self._score])
        self._scores.setdefault(trial.trial_id, []).append(score)
        ot_trial.report(score, step=int(result[self._step]))
        if ot_trial.should_prune():
            self._study.tell(ot_trial, state=optuna.trial.TrialState.PRUNED)
            del self._trials[trial.trial_id]
            return TrialScheduler.STOP
        return TrialScheduler.CONTINUE

    def on_trial_complete(self, tune_controller: Any, trial: Any, result: dict) -> None:
        ot_trial = self._trials.pop(trial.trial_id, None)
        scores = self._scores.pop(trial.trial_id, [])
        if ot_trial is not None and scores:
            self._study.tell(ot_trial, sum(scores) / len(scores))
