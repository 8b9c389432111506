"""How Table 1's evidence is computed: paired effects, intervals, corrected tests, strata.

Why a section of its own: none of these settings changes a training or an evaluation, so
they stay out of every work key and trial id (:mod:`platform.sweep.keys`); changing them
and running ``python -m platform.report`` recomputes the statistics of a finished sweep
from MLflow without retraining. Definitions: ``../shared/EVIDENCE_NOTES.md`` and
:mod:`platform.report.effects`.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from platform.config.types import Section, one_of

__all__ = ["CORRECTIONS", "INTERVALS", "ZERO_METHODS", "EvidenceConfig"]

CORRECTIONS = ("holm", "bonferroni", "fdr_bh", "none")
"""Multiple-comparison adjustments (statsmodels' ``multipletests`` names)."""
INTERVALS = ("percentile", "bca")
"""Bootstrap confidence intervals (``scipy.stats.bootstrap`` methods)."""
ZERO_METHODS = ("wilcox", "pratt", "zsplit")
"""How the Wilcoxon signed-rank test treats zero differences (``scipy.stats.wilcoxon``)."""


class EvidenceConfig(Section):
    """Paired per-patient effects beside Table 1: intervals, corrected tests, ranks, strata.

    Each variant is compared with its reference row per patient (the previous row, the
    full model of a leave-one-out design, or the variant's ``compare_to``); the paper
    reported mean +- sd over folds only, which stays in the table.
    """

    confidence: Annotated[float, Field(gt=0.5, lt=1.0)] = 0.95
    """Confidence level of each effect's bootstrap interval (ours: the usual 95 %)."""
    resamples: Annotated[int, Field(ge=100)] = 10_000
    """Bootstrap resamples of the patients (ours: cheap for vectors of ~100 patients)."""
    seed: int = 0
    """Seed of the bootstrap (ours): the same store gives the same intervals and ranks."""
    interval: Annotated[str, one_of(*INTERVALS)] = "percentile"
    """``percentile`` or ``bca`` (bias-corrected and accelerated; ours: percentile, which
    stays defined on the few, tied differences of a small cohort)."""
    correction: Annotated[str, one_of(*CORRECTIONS)] = "holm"
    """How the p-values of the table's comparisons are adjusted: ``holm`` (Holm 1979,
    family-wise error; ours), ``bonferroni``, ``fdr_bh`` (Benjamini-Hochberg, false
    discovery rate) or ``none``."""
    family: Annotated[str, one_of("table", "metric")] = "table"
    """Which comparisons are adjusted together: every (row, metric) of the table (ours),
    or each metric's rows on their own."""
    alpha: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.05
    """Level below which an adjusted p counts as significant in the words under the
    table (ours: the usual 0.05)."""
    zero_method: Annotated[str, one_of(*ZERO_METHODS)] = "wilcox"
    """Zero differences in the Wilcoxon test: ``wilcox`` drops them (scipy's default),
    ``pratt`` ranks then drops them, ``zsplit`` splits their ranks (ours: wilcox)."""
    min_pairs: Annotated[int, Field(ge=2)] = 5
    """Fewest paired patients for an interval and a test (ours: below it the table says
    why instead of showing a number)."""
    size_strata: Annotated[int, Field(ge=1, le=10)] = 3
    """Lesion-size strata of the second table: quantile groups of the reference lesion
    volume (ours: tertiles; 1 leaves the table out)."""
