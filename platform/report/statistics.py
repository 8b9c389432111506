"""The numbers behind Table 1's cells: mean +- sd over folds and paired per-patient tests.

The fold value of a metric is the mean over the fold's held-out patients; its summary is
mean and sample sd (``ddof=1``) over folds. Paired tests take per-patient values keyed by
the pseudonymous case key, over every patient both variants evaluated.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from numbers import Real

from scipy.stats import wilcoxon

from platform.evaluation.metrics import DICE, summarize
from platform.tracking import TrialResult

__all__ = ["NOT_AVAILABLE", "MetricSummary", "PairedTest", "fold_summary", "paired_test",
           "per_patient", "seed_mean", "seed_mean_per_patient"]

NOT_AVAILABLE = "n/a"
"""A cell whose number cannot be computed (its note says why)."""


@dataclass(frozen=True)
class MetricSummary:
    """One metric of one variant over its finished folds (``nan`` where undefined)."""

    mean: float
    sd: float
    n: int

    def cell(self) -> str:
        """``"0.508 +- 0.037"``, ``"0.9975 +- 0.0014"``: like the paper, mean and sd share
        the decimals that show the sd to two significant digits (at least 3)."""
        if self.n == 0:
            return NOT_AVAILABLE
        if math.isnan(self.mean):
            return "nan (undefined in a fold)"
        if math.isnan(self.sd):
            return f"{self.mean:.3f} +- {NOT_AVAILABLE}"
        decimals = 3 if self.sd == 0 else min(6, max(3, 1 - math.floor(math.log10(self.sd))))
        return f"{self.mean:.{decimals}f} +- {self.sd:.{decimals}f}"


@dataclass(frozen=True)
class PairedTest:
    """Wilcoxon signed-rank test of ``metric`` per patient against the variant ``versus``.

    ``p_value`` is ``None`` when the test cannot be computed; ``note`` then says why.
    """

    metric: str
    versus: str
    n_pairs: int
    p_value: float | None
    note: str

    def cell(self) -> str:
        """``"0.0312 (n=24)"``, or ``"n/a: <why>"``."""
        if self.p_value is None:
            return f"{NOT_AVAILABLE}: {self.note}"
        return f"{self.p_value:.3g} (n={self.n_pairs})"


def fold_summary(values: Sequence[float]) -> MetricSummary:
    """Mean and sample sd over folds; a fold whose value is undefined makes both nan."""
    if any(math.isnan(v) for v in values):
        return MetricSummary(math.nan, math.nan, len(values))
    mean, sd = summarize(values)
    return MetricSummary(mean, sd, len(values))


def per_patient(variant: str, runs: Iterable[TrialResult], metric: str) -> dict[str, float]:
    """``case key -> metric`` over a variant's finished folds (nan values left out)."""
    values: dict[str, float] = {}
    seen: set[str] = set()
    for run in runs:
        for row in run.per_patient:
            case, value = str(row["case"]), row.get(metric)
            if case in seen:
                raise ValueError(f"variant {variant!r}: case {case} was evaluated in two folds; "
                                 "the folds' test sets must be disjoint")
            seen.add(case)
            if isinstance(value, Real) and not math.isnan(value):
                values[case] = float(value)
    return values


def seed_mean(values: Sequence[float]) -> float:
    """The mean over a fold's seeds; nan when any seed's value is nan (undefined)."""
    return math.nan if not values or any(math.isnan(v) for v in values) \
        else math.fsum(values) / len(values)


def seed_mean_per_patient(variant: str, folds: Iterable[Mapping[int, TrialResult]],
                          metric: str) -> dict[str, float]:
    """``case key -> metric`` over a variant's finished folds, each patient's value the
    mean over the seeds that scored it (nan values left out before averaging).

    With one seed per fold this is :func:`per_patient`. Averaging over seeds before
    pairing keeps one value per patient: the paired tests stay per patient.

    Raises:
        ValueError: a case evaluated in two folds (test sets must be disjoint).
    """
    values: dict[str, float] = {}
    cases: set[str] = set()
    for by_seed in folds:
        seen: dict[str, list[float]] = {}
        for run in by_seed.values():
            for row in run.per_patient:
                case, value = str(row["case"]), row.get(metric)
                finite = isinstance(value, Real) and not math.isnan(value)
                seen.setdefault(case, []).extend([float(value)] if finite else [])  # type: ignore[arg-type]  # finite: a real number
        twice = sorted(set(seen) & cases)
        if twice:
            raise ValueError(f"variant {variant!r}: case {twice[0]} was evaluated in two "
                             "folds; the folds' test sets must be disjoint")
        cases |= set(seen)
        values.update({case: math.fsum(v) / len(v) for case, v in seen.items() if v})
    return values


def paired_test(current: Mapping[str, float], previous: Mapping[str, float],
                 versus: str) -> PairedTest:
    common = sorted(set(current) & set(previous))
    if len(common) < 2:
        return PairedTest(DICE, versus, len(common), None,
                          f"{len(common)} common patient(s) with {DICE}, need >= 2")
    x = [current[c] for c in common]
    y = [previous[c] for c in common]
    if all(a == b for a, b in zip(x, y, strict=True)):
        return PairedTest(DICE, versus, len(common), None, "all paired differences are zero")
    return PairedTest(DICE, versus, len(common), float(wilcoxon(x, y).pvalue), "")
