"""platform.report.search: a search's history and knob importances from its MLflow runs."""

from __future__ import annotations

import math

from platform.report.search import samples_of, search_figures, study_importances
from platform.tracking import TrialResult

SEARCH = {"metric": "val_dice", "mode": "max",
          "space": {"optimizer.lr": {"choice": None, "uniform": None,
                                     "loguniform": [1e-4, 1e-2], "randint": None},
                    "model.se_ratio": {"choice": [4, 16], "uniform": None, "loguniform": None,
                                       "randint": None}}}


def _sample(index: int, lr: float, ratio: int, value: float, outer: int = 0,
            status: str = "FINISHED") -> TrialResult:
    return TrialResult(
        run_id=f"r{outer}{index}", trial_id=f"t{index}", variant="search", fold=outer,
        status=status, metrics={"val_dice": value}, per_patient=[], failure_reason=None,
        params={"optimizer.lr": repr(lr), "model.se_ratio": str(ratio), "train.seed": "0"},
        tags={"outer_fold": str(outer)}, start_time=1000 - index)  # started in reverse


def _lr_decides() -> list[TrialResult]:
    """Twelve samples whose Dice follows the learning rate; the SE ratio does nothing."""
    grid = [(10 ** (-4 + i * 2 / 11), 4 if i % 2 else 16) for i in range(12)]
    return [_sample(i, lr, ratio, 0.2 + 0.5 * (math.log10(lr) + 4) / 2)
            for i, (lr, ratio) in enumerate(grid)]


def test_samples_are_numbered_by_start_time_per_study_with_typed_knobs() -> None:
    results = [*_lr_decides()[:3], _sample(0, 1e-3, 4, 0.5, outer=1),
               _sample(9, 1e-3, 4, math.nan, status="FAILED")]
    samples = samples_of(results, SEARCH)
    first = [s for s in samples if s.study == "outer fold 0"]
    assert [s.order for s in first] == [1, 2, 3]
    assert [s.params["optimizer.lr"] for s in first] == [
        float(results[i].params["optimizer.lr"]) for i in (2, 1, 0)]  # by start time
    assert first[0].params["model.se_ratio"] == 16  # the choice's own value, an int
    assert [s.study for s in samples].count("outer fold 1") == 1


def test_importance_names_the_knob_that_decides_the_objective() -> None:
    samples = samples_of(_lr_decides(), SEARCH)
    (importances,) = study_importances(samples, SEARCH).values()
    assert set(importances) == {"optimizer.lr", "model.se_ratio"}
    assert importances["optimizer.lr"] > 0.8 > importances["model.se_ratio"]
    assert math.isclose(sum(importances.values()), 1.0)
    figures = search_figures(_lr_decides(), SEARCH)
    assert sorted(figures) == ["parameter_importance", "search_history"]
    history = figures["search_history"][1]["studies"]["outer fold 0"]
    assert history["best_so_far"][-1] == max(s.value for s in samples)


def test_one_sample_draws_a_history_but_no_importance() -> None:
    assert sorted(search_figures(_lr_decides()[:1], SEARCH)) == ["search_history"]
    assert search_figures([], SEARCH) == {}
