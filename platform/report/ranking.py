"""Ranking stability: how often each variant ranks first, second, ... over resampled patients.

challengeR's idea (Wiesenfarth et al., Sci. Rep. 2021, doi:10.1038/s41598-021-82017-6):
rank the variants by their mean metric on each bootstrap sample of the patients and count
how often each lands in each place. A winner that ranks first in 55 % of the resamples is
not a clear winner. Patients are those every variant scored (complete cases), so each
resample compares the variants on the same patients; tied means share the better rank.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy.stats import rankdata

from platform.config.evidence import EvidenceConfig

__all__ = ["RankStability", "rank_stability"]

_CHUNK = 1000
"""Resamples drawn at once (bounds memory to chunk x patients x variants floats)."""


@dataclass(frozen=True)
class RankStability:
    """Each variant's share of bootstrap resamples in each rank (1 = best).

    ``shares[i][r]`` is the share of resamples in which ``variants[i]`` ranked ``r + 1``;
    empty, with ``note`` saying why, when too few patients were scored by every variant.
    """

    metric: str
    variants: tuple[str, ...]
    n_patients: int
    resamples: int
    shares: tuple[tuple[float, ...], ...]
    observed: tuple[int, ...]
    """Each variant's rank on all the patients."""
    note: str = ""

    def first_share(self, variant: str) -> float:
        """The share of resamples in which ``variant`` ranked first (nan: not computed)."""
        if not self.shares:
            return math.nan
        return self.shares[self.variants.index(variant)][0]

    def cell(self, variant: str) -> str:
        """``"62 %"`` (``"-"`` when not computed)."""
        share = self.first_share(variant)
        return "-" if math.isnan(share) else f"{100 * share:.0f} %"

    def words(self) -> str:
        """One line for under the table."""
        if not self.shares:
            return f"Ranking stability by {self.metric}: not computed ({self.note})"
        order = sorted(range(len(self.variants)), key=lambda i: -self.shares[i][0])
        firsts = ", ".join(f"{self.variants[i]} {100 * self.shares[i][0]:.0f} %"
                           for i in order if self.shares[i][0] > 0)
        return (f"Ranking stability by {self.metric} ({self.resamples} bootstrap samples of "
                f"the {self.n_patients} patients every variant scored): first place {firsts}")


def rank_stability(values: Mapping[str, Mapping[str, float]], variants: Sequence[str],
                   settings: EvidenceConfig, *, metric: str,
                   higher_is_better: bool = True) -> RankStability:
    """How often each of ``variants`` ranks in each place over resampled patients.

    Args:
        values: ``{variant: {case key: value}}`` (each patient's mean over seeds).
        variants: the variants ranked.
        settings: ``resamples``, ``seed`` (the same seed, the same shares) and
            ``min_pairs`` (fewer complete patients: not computed).
        metric: the metric's name (for the words).
        higher_is_better: Dice: True; a distance: False.
    """
    names = tuple(variants)
    cases = sorted(set.intersection(*(set(_finite(values.get(v, {}))) for v in names))
                   if names else set())
    base = RankStability(metric, names, len(cases), settings.resamples, (), ())
    if len(names) < 2 or len(cases) < settings.min_pairs:
        why = "fewer than two variants" if len(names) < 2 else (
            f"{len(cases)} patient(s) scored by every variant, need >= {settings.min_pairs}")
        return replace(base, note=why)
    sign = -1.0 if higher_is_better else 1.0
    matrix = sign * np.array([[values[v][c] for v in names] for c in cases], dtype=np.float64)
    rng = np.random.default_rng(settings.seed)
    counts = np.zeros((len(names), len(names)), dtype=np.int64)
    for start in range(0, settings.resamples, _CHUNK):
        size = min(_CHUNK, settings.resamples - start)
        draws = rng.integers(0, len(cases), (size, len(cases)))
        ranks = rankdata(matrix[draws].mean(axis=1), axis=1, method="min").astype(int)
        for index in range(len(names)):
            counts[index] += np.bincount(ranks[:, index] - 1, minlength=len(names))
    observed = rankdata(matrix.mean(axis=0), method="min").astype(int)
    shares = tuple(tuple(float(c) / settings.resamples for c in row) for row in counts)
    return RankStability(metric, names, len(cases), settings.resamples, shares,
                         tuple(int(r) for r in observed))


def _finite(values: Mapping[str, float]) -> list[str]:
    return [case for case, value in values.items() if math.isfinite(value)]
