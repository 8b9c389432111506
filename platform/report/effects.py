"""Paired per-patient effects: mean difference, bootstrap interval, Wilcoxon p, adjusted p.

Every variant is scored on the same patients (cross-validation holds each patient out
once), so a variant is compared with its reference per patient: ``d_i = metric(variant,
i) - metric(reference, i)``. Pairing removes the between-patient spread, usually the
largest part of Table 1's sd over folds. The effect is ``mean(d)``; its interval is a
bootstrap over patients (``scipy.stats.bootstrap`` of the one-sample mean of ``d``,
percentile or BCa, seeded); its test the Wilcoxon signed-rank test of ``d``
(``scipy.stats.wilcoxon``); the p-values of a table's comparisons are adjusted together
(Holm 1979 by default; Bonferroni, Benjamini-Hochberg). Definitions and the known-answer
cases the tests check: ``../shared/EVIDENCE_NOTES.md``.

Patients whose metric is undefined in either variant are dropped pairwise, and the
effect says how many pairs it used. Below ``min_pairs`` pairs there is no interval and
no test, and the effect says why.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy.stats import bootstrap, false_discovery_control, wilcoxon

from platform.config.evidence import EvidenceConfig

__all__ = ["PairedEffect", "adjust_p_values", "bootstrap_interval", "holm", "paired_effect",
           "paired_differences", "signed", "wilcoxon_p"]

_SCIPY_INTERVAL = {"percentile": "percentile", "bca": "BCa"}
EQUAL = 1e-12
"""Differences closer than this (in the metric's units) are one value."""


def _equal(values: np.ndarray) -> bool:
    return bool(np.ptp(values) <= EQUAL)


@dataclass(frozen=True)
class PairedEffect:
    """One comparison: ``variant`` minus ``versus`` in ``metric``, paired by patient.

    ``low``/``high`` are ``None`` when no interval is shown, ``p_value`` when no test is
    computed; ``note`` then says why. ``p_adjusted`` is set by the table's correction.
    """

    metric: str
    variant: str
    versus: str
    n_pairs: int
    mean: float
    low: float | None
    high: float | None
    p_value: float | None
    note: str = ""
    p_adjusted: float | None = None

    @property
    def has_interval(self) -> bool:
        """Whether an interval was computed (enough pairs)."""
        return self.low is not None and self.high is not None

    def excludes_zero(self) -> bool:
        """Whether the interval lies wholly above or below zero."""
        return self.has_interval and (self.low > 0 or self.high < 0)  # type: ignore[operator]  # has_interval: low and high are set

    def significant(self, alpha: float) -> bool:
        """Whether the adjusted p is at most ``alpha``."""
        return self.p_adjusted is not None and self.p_adjusted <= alpha

    def cell(self) -> str:
        """``"+0.031 [-0.010, +0.072]"``; ``"+0.031 (n=4, no CI)"``; ``"n/a"``."""
        if self.n_pairs == 0 or math.isnan(self.mean):
            return "n/a"
        if not self.has_interval:
            return f"{signed(self.mean)} (n={self.n_pairs}, no CI)"
        return f"{signed(self.mean)} [{signed(self.low)}, {signed(self.high)}]"  # type: ignore[arg-type]  # has_interval: low and high are set


def signed(value: float, decimals: int = 3) -> str:
    """``+0.031`` / ``-0.010`` / ``+0.000``: the sign always shown, zero as ``+0``."""
    text = f"{value:+.{decimals}f}"
    return "+" + text[1:] if text.startswith("-") and float(text) == 0 else text


def paired_differences(current: Mapping[str, float],
                       reference: Mapping[str, float]) -> tuple[list[str], np.ndarray]:
    """The cases both hold a finite value for (sorted) and ``current - reference`` there."""
    cases = sorted(c for c in set(current) & set(reference)
                   if math.isfinite(current[c]) and math.isfinite(reference[c]))
    return cases, np.array([current[c] - reference[c] for c in cases], dtype=np.float64)


def bootstrap_interval(differences: np.ndarray, settings: EvidenceConfig) -> tuple[float, float]:
    """The bootstrap interval of ``mean(differences)`` over resampled patients.

    Equal differences (a constant shift, or none; equal to within :data:`EQUAL`, the
    rounding of ``a + c - a``) give ``[mean, mean]``: every resample has the same
    mean, so there is nothing to estimate (scipy's BCa would be undefined there).
    Otherwise ``scipy.stats.bootstrap`` with ``settings.resamples``
    resamples from a generator seeded with ``settings.seed``: the same input and
    settings give the same interval.
    """
    values = np.asarray(differences, dtype=np.float64)
    if values.size == 0:
        raise ValueError("no differences to bootstrap")
    if _equal(values):
        return float(np.mean(values)), float(np.mean(values))
    result = bootstrap((values,), np.mean, n_resamples=settings.resamples,
                       confidence_level=settings.confidence,
                       method=_SCIPY_INTERVAL[settings.interval],
                       random_state=np.random.default_rng(settings.seed), vectorized=True)
    low, high = result.confidence_interval
    return float(low), float(high)


def wilcoxon_p(differences: np.ndarray, zero_method: str) -> tuple[float | None, str]:
    """The two-sided Wilcoxon signed-rank p of ``differences`` (None and why if undefined).

    All differences zero: the test has nothing to rank (scipy would return p = 1 or
    nan depending on ``zero_method``), so no p is given.
    """
    values = np.asarray(differences, dtype=np.float64)
    if values.size == 0 or not np.any(values != 0):
        return None, "all paired differences are zero: the Wilcoxon test is undefined"
    p_value = float(wilcoxon(values, zero_method=zero_method).pvalue)
    if math.isnan(p_value):
        return None, f"the Wilcoxon test is undefined ({zero_method}: too few non-zero pairs)"
    return p_value, ""


def paired_effect(current: Mapping[str, float], reference: Mapping[str, float], *,
                  metric: str, variant: str, versus: str,
                  settings: EvidenceConfig) -> PairedEffect:
    """The effect of ``variant`` against ``versus`` in ``metric`` (``{case: value}`` each)."""
    cases, d = paired_differences(current, reference)
    base = PairedEffect(metric=metric, variant=variant, versus=versus, n_pairs=len(cases),
                        mean=float(np.mean(d)) if d.size else math.nan, low=None, high=None,
                        p_value=None)
    if len(cases) < settings.min_pairs:
        return replace(base, note=f"{len(cases)} paired patient(s), need >= "
                                  f"{settings.min_pairs} for an interval and a test")
    low, high = bootstrap_interval(d, settings)
    p_value, why = wilcoxon_p(d, settings.zero_method)
    return replace(base, low=low, high=high, p_value=p_value, note=why)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's (1979) step-down adjusted p-values, in the input order.

    Sorted ``p(1) <= ... <= p(k)``: ``adjusted p(j) = max over i <= j of min(1, (k - i + 1)
    p(i))``. Rejecting where the adjusted p is at most alpha controls the family-wise
    error at alpha; never less powerful than Bonferroni.
    """
    k = len(p_values)
    order = sorted(range(k), key=lambda i: p_values[i])
    adjusted = [0.0] * k
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (k - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


def adjust_p_values(p_values: Sequence[float], method: str) -> list[float]:
    """``p_values`` adjusted by ``method`` (:data:`platform.config.evidence.CORRECTIONS`).

    Raises:
        KeyError: an unknown method.
    """
    if not p_values:
        return []
    if method == "holm":
        return holm(p_values)
    if method == "bonferroni":
        return [min(1.0, len(p_values) * p) for p in p_values]
    if method == "fdr_bh":
        return [float(p) for p in false_discovery_control(np.asarray(p_values), method="bh")]
    if method == "none":
        return [float(p) for p in p_values]
    raise KeyError(f"unknown correction {method!r}; allowed: holm, bonferroni, fdr_bh, none")
