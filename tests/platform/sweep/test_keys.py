"""Issue 11: the work keys (:mod:`platform.sweep.keys`): what decides a training's weights and
an evaluation's numbers is in its key, where and how a sweep runs is not (pure: no Ray, no
store). Keys computed before the stage layout are pinned in
``tests/test_stored_work_survives_layout.py``."""

from __future__ import annotations

from pathlib import Path

import pytest

from platform.config import load_sweep
from platform.config.request import FoldKeys, SweepContext
from platform.sweep.expand import expand
from platform.sweep.keys import keyed

SWEEPS = Path(__file__).resolve().parents[3] / "sweeps"


def _context(folds: int, run_folds: tuple[int, ...], **extra: object) -> SweepContext:
    keys = [f"case{i:02d}" for i in range(2 * folds)]
    split = tuple(FoldKeys(index=k, train=tuple(c for i, c in enumerate(keys) if i % folds != k),
                           test=tuple(c for i, c in enumerate(keys) if i % folds == k))
                  for k in range(folds))
    values = {"cohort": "/c", "cache_root": "/cache", "folds": split, "run_folds": run_folds,
              "cv_seed": 0, "tracking_uri": "sqlite:////m.db", "experiment": "e",
              "sweep_id": "s", "cpus_per_trial": 1.0, "gpus_per_trial": 0.0,
              "data_fingerprint": "data", **extra}
    return SweepContext.model_validate(values)


def _specs(name: str, overrides: list[str], context: SweepContext):
    sweep = load_sweep(SWEEPS / name, overrides)
    return keyed(expand(sweep, every_fold=True), context)


@pytest.mark.parametrize("change", [
    "train.seed=1", "sampler.patches_per_patient=3", "preprocessing.steps=[hu_window, minmax]",
    "model.base_width=8", "optimizer.lr=1.0e-3", "train.iterations=3"])
def test_what_decides_the_weights_changes_the_training_key(change: str) -> None:
    context = _context(2, (0,))
    final = [s for s in _specs("tiny.yaml", [], context) if s.variant == "final"]
    changed = [s for s in _specs("tiny.yaml", [change], context) if s.variant == "final"]
    assert final[0].training_key != changed[0].training_key


def test_where_and_how_a_sweep_runs_changes_no_key() -> None:
    context = _context(2, (0,))
    keys = [(s.training_key, s.evaluation_key) for s in _specs("tiny.yaml", [], context)]
    for change in ("resources.cpus_per_trial=0.5", "failure.max_failures=3",
                   "eval.figure_patients=3", "cv.run_folds=[1]", "tracking.experiment=x"):
        assert [(s.training_key, s.evaluation_key)
                for s in _specs("tiny.yaml", [change], context)] == keys, change


def test_data_folds_and_code_version_are_in_the_keys() -> None:
    plain = _context(2, (0,))
    specs = _specs("tiny.yaml", [], plain)
    for other in (_context(2, (0,), data_fingerprint="other"),
                  _context(2, (0,), code_version="0123abc"), _context(3, (0,))):
        changed = _specs("tiny.yaml", [], other)
        assert specs[0].training_key != changed[0].training_key
        assert specs[0].evaluation_key != changed[0].evaluation_key
