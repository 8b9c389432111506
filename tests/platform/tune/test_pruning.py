"""platform.tune.pruning: an Optuna pruner (Wilcoxon, over folds) as a Ray Tune scheduler."""

from __future__ import annotations

from types import SimpleNamespace

import optuna
import pytest
from ray.tune.schedulers import TrialScheduler

from platform.tune.pruning import OptunaPrunerScheduler


def _scheduler(mode: str = "max") -> OptunaPrunerScheduler:
    return OptunaPrunerScheduler(optuna.pruners.WilcoxonPruner(), score="fold_val_dice",
                                 step="folds_done", mode=mode)


def _report(scheduler: OptunaPrunerScheduler, trial: SimpleNamespace,
            scores: list[float]) -> list[str]:
    """Report ``scores`` fold by fold until the scheduler says STOP; its decisions."""
    decisions = []
    for fold, score in enumerate(scores, start=1):
        decisions.append(scheduler.on_trial_result(
            None, trial, {"fold_val_dice": score, "folds_done": float(fold)}))
        if decisions[-1] == TrialScheduler.STOP:
            break
    return decisions


BEST_SCORES = [0.80, 0.72, 0.85, 0.78, 0.83, 0.75, 0.81, 0.79]


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
@pytest.mark.parametrize(("mode", "shift"), [("max", -0.3), ("min", 0.3)])
def test_wilcoxon_scheduler_stops_a_clearly_worse_trial(mode: str, shift: float) -> None:
    scheduler = _scheduler(mode)
    best = SimpleNamespace(trial_id="best")
    assert set(_report(scheduler, best, BEST_SCORES)) == {TrialScheduler.CONTINUE}
    scheduler.on_trial_complete(None, best, {})

    worse = [score + shift for score in BEST_SCORES]
    decisions = _report(scheduler, SimpleNamespace(trial_id="worse"), worse)
    assert decisions[-1] == TrialScheduler.STOP
    assert len(decisions) < len(worse), "the worse trial ran every fold"


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_wilcoxon_scheduler_lets_a_comparable_trial_finish() -> None:
    scheduler = _scheduler()
    best = SimpleNamespace(trial_id="best")
    _report(scheduler, best, BEST_SCORES)
    scheduler.on_trial_complete(None, best, {})

    other = SimpleNamespace(trial_id="other")
    assert scheduler.on_trial_result(None, other, {"train_loss": 0.5}) == TrialScheduler.CONTINUE
    similar = [s + (0.01 if i % 2 else -0.01) for i, s in enumerate(BEST_SCORES)]
    assert set(_report(scheduler, other, similar)) == {TrialScheduler.CONTINUE}
