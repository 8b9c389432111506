"""platform/sweep/search.py: a search sees only training patients of the fold it chooses for."""

from __future__ import annotations

from platform.config import load_sweep
from platform.config.request import FoldKeys, SweepContext
from platform.sweep.search import search_folds
from tests.platform.sweep.harness import TINY_SWEEP

SPACE = 'search.space={"model.se_ratio": {choice: [4, 8]}}'


def _context(folds: int) -> SweepContext:
    keys = [f"case{i:02d}" for i in range(4 * folds)]
    split = tuple(FoldKeys(index=k, train=tuple(c for i, c in enumerate(keys) if i % folds != k),
                           test=tuple(c for i, c in enumerate(keys) if i % folds == k))
                  for k in range(folds))
    return SweepContext.model_validate({
        "cohort": "/c", "cache_root": "/c", "folds": split, "run_folds": tuple(range(folds)),
        "cv_seed": 0, "tracking_uri": "sqlite:////c/m.db", "experiment": "e", "sweep_id": "s",
        "cpus_per_trial": 1.0, "gpus_per_trial": 0.0, "data_fingerprint": "d"})


def test_nested_search_has_one_study_per_outer_fold_inside_its_training_patients() -> None:
    context = _context(2)
    sweep = load_sweep(TINY_SWEEP, [SPACE, "search.scheme=nested", "cv.run_folds=[0,1]"])
    searches = search_folds(sweep, context)
    assert [outer for outer, _ in searches] == [0, 1]
    for outer, inner in searches:
        training = set(context.folds[outer].train)
        seen = {key for fold in inner for key in (*fold.train, *fold.test)}
        assert seen <= training and not seen & set(context.folds[outer].test)


def test_the_once_scheme_is_one_study_over_every_folds_validation_split() -> None:
    context = _context(2)
    sweep = load_sweep(TINY_SWEEP, [SPACE, "search.scheme=once", "cv.run_folds=[0,1]"])
    ((outer, inner),) = search_folds(sweep, context)
    assert outer is None and sorted(fold.index for fold in inner) == [0, 1]
