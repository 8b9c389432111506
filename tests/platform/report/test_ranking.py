"""platform/report/ranking.py: ranking stability over resampled patients on known data
(issue 27; challengeR's idea, Wiesenfarth et al. 2021)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from platform.config.evidence import EvidenceConfig
from platform.report.ranking import rank_stability

CASES = [f"case-{i:02d}" for i in range(20)]
BASE = dict(zip(CASES, np.random.default_rng(0).uniform(0.2, 0.8, 20), strict=True))
SETTINGS = EvidenceConfig(resamples=2000)


def _shifted(shift: float, noise: float = 0.0, seed: int = 1) -> dict[str, float]:
    jitter = np.random.default_rng(seed).normal(0.0, noise, len(CASES)) if noise else \
        np.zeros(len(CASES))
    return {c: BASE[c] + shift + j for c, j in zip(CASES, jitter, strict=True)}


def test_a_variant_better_on_every_patient_ranks_first_in_every_resample() -> None:
    values = {"a": _shifted(0.0), "b": _shifted(0.1), "c": _shifted(-0.1)}
    ranking = rank_stability(values, ["a", "b", "c"], SETTINGS, metric="dice")
    assert ranking.shares == ((0.0, 1.0, 0.0), (1.0, 0.0, 0.0), (0.0, 0.0, 1.0))
    assert ranking.observed == (2, 1, 3) and ranking.n_patients == 20
    assert ranking.cell("b") == "100 %" and ranking.first_share("a") == 0.0
    assert ranking.words() == ("Ranking stability by dice (2000 bootstrap samples of the 20 "
                               "patients every variant scored): first place b 100 %")
    lower = rank_stability(values, ["a", "b", "c"], SETTINGS, metric="hd95",
                           higher_is_better=False)
    assert lower.observed == (2, 3, 1)


def test_identical_variants_share_first_place() -> None:
    ranking = rank_stability({"a": BASE, "b": dict(BASE)}, ["a", "b"], SETTINGS, metric="dice")
    assert ranking.shares == ((1.0, 0.0), (1.0, 0.0))


def test_a_noisy_tie_is_not_a_clear_winner_and_resampling_is_seeded() -> None:
    values = {"a": _shifted(0.0, 0.1, seed=1), "b": _shifted(0.0, 0.1, seed=2)}
    ranking = rank_stability(values, ["a", "b"], SETTINGS, metric="dice")
    assert 0.1 < ranking.first_share("a") < 0.9
    assert sum(row[0] for row in ranking.shares) == pytest.approx(1.0)  # no exact ties
    for row in ranking.shares:
        assert sum(row) == pytest.approx(1.0)
    assert rank_stability(values, ["a", "b"], SETTINGS, metric="dice") == ranking
    other = rank_stability(values, ["a", "b"], SETTINGS.model_copy(update={"seed": 9}),
                           metric="dice")
    assert other.shares != ranking.shares


def test_only_patients_every_variant_scored_count() -> None:
    partial = {c: v for c, v in _shifted(0.1).items() if c not in CASES[:3]}
    partial[CASES[3]] = math.nan
    ranking = rank_stability({"a": BASE, "b": partial}, ["a", "b"], SETTINGS, metric="dice")
    assert ranking.n_patients == 16
    few = rank_stability({"a": dict(list(BASE.items())[:4]), "b": BASE}, ["a", "b"],
                         SETTINGS, metric="dice")
    assert few.shares == () and few.cell("a") == "-"
    assert few.note == "4 patient(s) scored by every variant, need >= 5"
    assert "not computed (4 patient(s)" in few.words()
