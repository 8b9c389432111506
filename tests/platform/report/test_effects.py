"""platform/report/effects.py: paired effects, bootstrap intervals, Wilcoxon and Holm on
known answers (issue 27; the cases of ../shared/EVIDENCE_NOTES.md)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import wilcoxon

from platform.config.evidence import EvidenceConfig
from platform.report.effects import (
    adjust_p_values,
    bootstrap_interval,
    holm,
    paired_effect,
    signed,
    wilcoxon_p,
)

CASES = [f"case-{i:02d}" for i in range(12)]
RNG = np.random.default_rng(27)
REFERENCE = dict(zip(CASES, RNG.uniform(0.2, 0.8, len(CASES)), strict=True))
SETTINGS = EvidenceConfig(resamples=2000)


def _effect(current: dict[str, float], settings: EvidenceConfig = SETTINGS,
            reference: dict[str, float] | None = None) -> object:
    return paired_effect(current, REFERENCE if reference is None else reference,
                         metric="dice", variant="b", versus="a", settings=settings)


def test_no_effect_gives_zero_a_zero_interval_and_no_test() -> None:
    effect = _effect(dict(REFERENCE))
    assert (effect.mean, effect.low, effect.high, effect.n_pairs) == (0.0, 0.0, 0.0, 12)
    assert effect.p_value is None and "all paired differences are zero" in effect.note
    assert effect.cell() == "+0.000 [+0.000, +0.000]"


@pytest.mark.parametrize("shift", [0.05, -0.125])
def test_a_constant_shift_is_the_effect_and_its_own_interval(shift: float) -> None:
    effect = _effect({c: v + shift for c, v in REFERENCE.items()})
    assert effect.mean == pytest.approx(shift, abs=1e-12)
    assert effect.low == effect.high == pytest.approx(shift, abs=1e-12)
    # Twelve differences of one sign: the exact two-sided p is 2 / 2**12.
    assert effect.p_value == pytest.approx(2 / 2**12, rel=1e-12)


def test_the_interval_is_scipy_bootstrap_reproducible_and_seeded() -> None:
    current = {c: v + RNG.normal(0.03, 0.05) for c, v in REFERENCE.items()}
    d = np.array([current[c] - REFERENCE[c] for c in CASES])
    first, again = _effect(current), _effect(current)
    assert (first.low, first.high) == (again.low, again.high)
    other = _effect(current, SETTINGS.model_copy(update={"seed": 1}))
    assert (other.low, other.high) != (first.low, first.high)
    assert first.mean == pytest.approx(d.mean(), rel=1e-12)
    # A reference computation: the percentile bootstrap of the mean, written out.
    draws = np.random.default_rng(5).integers(0, d.size, (20_000, d.size))
    means = d[draws].mean(axis=1)
    assert first.low == pytest.approx(np.percentile(means, 2.5), abs=0.004)
    assert first.high == pytest.approx(np.percentile(means, 97.5), abs=0.004)
    assert first.low < d.mean() < first.high


def test_bca_differs_from_percentile_on_skewed_differences() -> None:
    d = np.array([0.0, 0.01, 0.01, 0.02, 0.02, 0.03, 0.05, 0.4])
    percentile = bootstrap_interval(d, SETTINGS)
    bca = bootstrap_interval(d, SETTINGS.model_copy(update={"interval": "bca"}))
    assert percentile != bca and bca[1] > percentile[1]  # BCa follows the long right tail


def test_wilcoxon_with_ties_and_zeros_is_scipys_for_each_zero_method() -> None:
    x = np.array([0.5, 0.6, 0.6, 0.7, 0.4, 0.55, 0.65, 0.5])
    y = np.array([0.5, 0.5, 0.5, 0.6, 0.5, 0.45, 0.55, 0.4])  # a zero, ties of 0.1
    for method in ("wilcox", "pratt", "zsplit"):
        p_value, why = wilcoxon_p(x - y, method)
        assert why == "" and p_value == pytest.approx(
            wilcoxon(x, y, zero_method=method).pvalue, rel=1e-12)
    assert wilcoxon_p(np.zeros(6), "pratt")[0] is None


def test_fewer_than_min_pairs_give_no_interval_and_say_why() -> None:
    four = {c: REFERENCE[c] + 0.1 for c in CASES[:4]}
    effect = _effect(four)
    assert effect.n_pairs == 4 and effect.mean == pytest.approx(0.1)
    assert effect.low is None and effect.p_value is None
    assert effect.note == "4 paired patient(s), need >= 5 for an interval and a test"
    assert effect.cell() == "+0.100 (n=4, no CI)"
    assert _effect(four, SETTINGS.model_copy(update={"min_pairs": 4})).low is not None


def test_undefined_values_are_dropped_pairwise() -> None:
    current = {c: REFERENCE[c] + 0.02 for c in CASES}
    current[CASES[0]] = float("nan")
    reference = {c: v for c, v in REFERENCE.items() if c != CASES[1]}
    effect = _effect(current, reference=reference)
    assert effect.n_pairs == 10 and effect.mean == pytest.approx(0.02)


HAND = [0.01, 0.04, 0.03, 0.005]
"""Sorted 0.005, 0.01, 0.03, 0.04 (k = 4): Holm 4 x 0.005 = 0.02, 3 x 0.01 = 0.03,
2 x 0.03 = 0.06, max(0.06, 1 x 0.04) = 0.06; Benjamini-Hochberg 0.02, 0.02, 0.04, 0.04."""


def test_holm_and_benjamini_hochberg_on_a_hand_made_list() -> None:
    assert holm(HAND) == pytest.approx([0.03, 0.06, 0.06, 0.02], rel=1e-12)
    assert adjust_p_values(HAND, "holm") == holm(HAND)
    assert adjust_p_values(HAND, "fdr_bh") == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert adjust_p_values(HAND, "bonferroni") == pytest.approx([0.04, 0.16, 0.12, 0.02])
    assert adjust_p_values(HAND, "none") == HAND
    assert holm([0.5, 0.6]) == [1.0, 1.0] and adjust_p_values([], "holm") == []
    with pytest.raises(KeyError, match="unknown correction"):
        adjust_p_values(HAND, "sidak")


@pytest.mark.parametrize("method", ["holm", "fdr_bh", "bonferroni"])
def test_corrections_equal_statsmodels_multipletests(method: str) -> None:
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    p_values = [float(p) for p in np.random.default_rng(3).uniform(0, 0.2, 9)] + [0.001, 0.001]
    expected = multitest.multipletests(p_values, method=method)[1]
    assert adjust_p_values(p_values, method) == pytest.approx(list(expected), rel=1e-12)


def test_signed_numbers_show_their_sign() -> None:
    assert [signed(v) for v in (0.0314, -0.01, -0.0001, 0.0)] == [
        "+0.031", "-0.010", "+0.000", "+0.000"]
