"""How much of a variant's spread is training noise: the variance between folds and seeds.

Retraining the same (variant, fold) with another seed changes its Dice too; by how much
is itself a result. With ``s`` seeds per fold, the fold means ``m[f][s]`` of a metric
follow a one-way random-effects model with folds as groups (a two-level ANOVA):

- within folds (between seeds): the pooled sample variance of each fold's seeds,
  ``sum_f (n_f - 1) var_f / sum_f (n_f - 1)``;
- between folds: the variance of the folds' seed means less the share of the seed
  variance it carries, ``max(0, var_f(mean_s m) - within / n)`` with ``n`` the harmonic
  mean of the seeds per fold (the usual method-of-moments estimator).

Both are reported as sds. Folds with one finished seed count towards the fold means only.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["VarianceSplit", "variance_split"]


@dataclass(frozen=True)
class VarianceSplit:
    """A variant's metric: sd between folds and sd between seeds within a fold."""

    variant: str
    metric: str
    n_folds: int
    n_seeds: int
    """The most seeds any fold finished."""
    sd_between_folds: float
    sd_between_seeds: float

    def words(self) -> str:
        """``"final (3 seeds x 5 folds): dice sd between folds 0.031, between seeds within
        a fold 0.012"``."""
        return (f"{self.variant} ({self.n_seeds} seeds x {self.n_folds} folds): {self.metric} "
                f"sd between folds {_sd(self.sd_between_folds)}, between seeds within a fold "
                f"{_sd(self.sd_between_seeds)}")


def _sd(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.3g}"


def variance_split(variant: str, metric: str,
                   fold_values: Mapping[int, Mapping[int, float]]) -> VarianceSplit | None:
    """The split of ``{fold: {seed: fold mean}}``; None unless some fold has two seeds.

    The between-folds sd is nan with fewer than two folds.
    """
    folds = {f: [v for v in seeds.values() if math.isfinite(v)]
             for f, seeds in fold_values.items()}
    folds = {f: values for f, values in folds.items() if values}
    replicated = [values for values in folds.values() if len(values) >= 2]
    if not replicated:
        return None
    within = math.fsum((len(v) - 1) * statistics.variance(v) for v in replicated) / \
        sum(len(v) - 1 for v in replicated)
    between = math.nan
    if len(folds) >= 2:
        means = [statistics.fmean(v) for v in folds.values()]
        per_fold = statistics.harmonic_mean([len(v) for v in folds.values()])
        between = max(0.0, statistics.variance(means) - within / per_fold)
    return VarianceSplit(variant=variant, metric=metric, n_folds=len(folds),
                         n_seeds=max(len(v) for v in folds.values()),
                         sd_between_folds=math.sqrt(between), sd_between_seeds=math.sqrt(within))
