"""Repeated seeds (issue 27): ``train.seeds`` expands each (variant, fold) into one training
per seed (platform/sweep/expand.py), each keyed like a sweep naming that seed alone
(platform/sweep/keys.py), so stored work is reused and an added seed trains only itself
(platform/sweep/plan.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from platform.config import ConfigError, load_sweep
from platform.sweep.expand import expand, sweep_id
from platform.sweep.keys import keyed
from platform.sweep.plan import plan_sweep
from platform.tracking.work import FinishedRun, FinishedWork
from tests.test_stored_work_survives_layout import PINNED, PINNED_IDS, _context

SWEEPS = Path(__file__).resolve().parents[3] / "sweeps"
TINY_PINNED = {(v, f): (t, e) for file, v, f, t, e in PINNED if file == "tiny.yaml"}


def _keys(*overrides: str) -> dict[tuple[str, int, int], tuple[str, str]]:
    sweep = load_sweep(SWEEPS / "tiny.yaml", list(overrides))
    return {(s.variant, s.fold, s.config.train.seed): (s.training_key, s.evaluation_key)
            for s in keyed(expand(sweep, every_fold=True), _context())}


@pytest.mark.parametrize("overrides", [(), ("train.seeds=[0]",)])
def test_no_seeds_or_one_seed_keep_the_keys_and_ids_of_before(overrides: tuple[str, ...]) -> None:
    keys = _keys(*overrides)
    assert {(v, f): k for (v, f, _), k in keys.items() if f in (0, 1)} == TINY_PINNED
    sweep = load_sweep(SWEEPS / "tiny.yaml", list(overrides))
    (final,) = [s for s in expand(sweep) if s.variant == "final"]
    assert (sweep_id(sweep), final.trial_id) == (PINNED_IDS["sweep"], PINNED_IDS["trial"])
    assert "seeds" not in final.config.model_dump(mode="json")["train"]


def test_a_second_seed_adds_trainings_only_for_that_seed() -> None:
    keys = _keys("train.seeds=[0, 1]")
    assert sorted(keys) == [(v, f, s) for v in ("final", "plain") for f in (0, 1)
                            for s in (0, 1)]
    for (variant, fold), pinned in TINY_PINNED.items():
        assert keys[(variant, fold, 0)] == pinned
        assert keys[(variant, fold, 1)][0] not in {k[0] for k in TINY_PINNED.values()}
    assert len({k[0] for k in keys.values()}) == len(keys)  # a training per seed
    # train.seeds=[1] alone is the same work as seed 1 of [0, 1], and as train.seed=1.
    assert _keys("train.seeds=[1]") == {k: v for k, v in keys.items() if k[2] == 1}
    assert _keys("train.seed=1") == _keys("train.seeds=[1]")


def test_the_plan_trains_only_the_seed_not_in_the_store() -> None:
    sweep = load_sweep(SWEEPS / "tiny.yaml", ["train.seeds=[0, 1]"])
    specs = keyed(expand(sweep, every_fold=True), _context())
    done = FinishedRun(run_id="r", end_time=0, training_key="", git_commit="")
    finished = FinishedWork(
        trainings={s.training_key: done for s in specs if s.config.train.seed == 0},
        evaluations={s.evaluation_key: done for s in specs if s.config.train.seed == 0})
    plan = plan_sweep(specs, run_folds=(0,), finished=finished)
    assert plan.line() == ("plan: 2 trainings to run, 2 reused; 2 evaluations to run, "
                           "4 reused")
    assert {s.config.train.seed for w in plan.work for s in w.evaluate} == {1}


def test_seeds_are_validated_per_variant() -> None:
    sweep = load_sweep(SWEEPS / "tiny.yaml", ["variants[1].train.seeds=[3, 4]"])
    assert [(s.variant, s.config.train.seed) for s in expand(sweep)] == [
        ("plain", 0), ("final", 3), ("final", 4)]
    with pytest.raises(ConfigError, match="a seed is listed twice"):
        load_sweep(SWEEPS / "tiny.yaml", ["train.seeds=[1, 1]"])
