"""platform/report/factorial.py: main effects and interactions of a factorial ablation on
known per-patient data (issue 27)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from platform.config.evidence import EvidenceConfig
from platform.report.evidence import EvidencePlan
from platform.report.factorial import factorial_effects, terms
from platform.report.table1 import build_table1
from platform.tracking import TrialResult

CASES = [f"case-{i}" for i in range(8)]
BASE = dict(zip(CASES, np.random.default_rng(4).uniform(0.3, 0.6, 8), strict=True))
CELLS = {"baseline": (), "a": ("a",), "b": ("b",), "full": ("a", "b")}
SETTINGS = EvidenceConfig(resamples=500)


def _dice(on: tuple[str, ...], case: str) -> float:
    """a adds 0.1, b adds 0.05, both together 0.02 more: main effects 0.11 and 0.06 (each
    averaged over the other's two states), interaction (2/4)(0.02) = 0.01."""
    return BASE[case] + 0.1 * ("a" in on) + 0.05 * ("b" in on) + 0.02 * ("a" in on and "b" in on)


def test_main_effects_and_the_interaction_on_known_data() -> None:
    values = {v: {c: _dice(on, c) for c in CASES} for v, on in CELLS.items()}
    effects = {e.variant: e for e in factorial_effects(values, CELLS, SETTINGS, metric="dice")}
    assert list(effects) == ["a", "b", "a x b"]
    for term, expected in (("a", 0.11), ("b", 0.06), ("a x b", 0.01)):
        effect = effects[term]
        assert effect.mean == pytest.approx(expected, abs=1e-12)
        assert (effect.low, effect.high) == pytest.approx((expected, expected), abs=1e-12)
        assert effect.n_pairs == 8 and effect.p_value == pytest.approx(2 / 2**8)
    assert effects["a"].versus == "main effect" and effects["a x b"].versus == "interaction"
    assert [e.p_adjusted for e in effects.values()] == pytest.approx([3 * 2 / 2**8] * 3)


def test_no_effect_and_incomplete_designs() -> None:
    flat = {v: dict(BASE) for v in CELLS}
    for effect in factorial_effects(flat, CELLS, SETTINGS, metric="dice"):
        assert (effect.mean, effect.p_value) == (0.0, None)
    missing = {v: c for v, c in CELLS.items() if v != "full"}
    assert factorial_effects(flat, missing, SETTINGS, metric="dice") == ()
    assert terms(["a", "b", "c"]) == [("a",), ("b",), ("c",), ("a", "b"), ("a", "c"),
                                      ("b", "c")]


def test_table1_of_a_factorial_sweep_says_the_effects_in_words() -> None:
    results = []
    for (variant, on), fold in itertools.product(CELLS.items(), (0, 1)):
        rows = [{"case": c, **dict.fromkeys(("dice", "sensitivity", "specificity",
                                             "specificity_brain", "precision"), _dice(on, c))}
                for c in CASES[fold::2]]
        results.append(TrialResult(run_id=f"{variant}{fold}", trial_id=variant, variant=variant,
                                   fold=fold, status="FINISHED",
                                   metrics={k: v for k, v in rows[0].items() if k != "case"},
                                   per_patient=rows, failure_reason=None))
    table = build_table1(results, variants=list(CELLS), folds=[0, 1], evidence=EvidencePlan(
        SETTINGS, {v: "baseline" for v in CELLS if v != "baseline"}, CELLS))
    words = table.evidence.words()
    start = next(i for i, w in enumerate(words) if w.startswith("Factorial design"))
    assert words[start + 1].startswith("a (main effect): +0.110 [+0.110, +0.110] dice (n=8), "
                                       "significant after Holm")
    assert words[start + 3].startswith("a x b (interaction): +0.010 [+0.010, +0.010] dice")
