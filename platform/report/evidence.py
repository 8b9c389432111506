"""The evidence beside Table 1: every row's paired effects, adjusted together, and in words.

Table 1 (Dobshik et al. 2023) shows mean +- sd over folds; its rows differ by less than
their spread, so a reader cannot tell a gain from fold noise. This module takes the
per-patient values of every variant and metric, compares each row with its reference
(:func:`references`), computes the paired effects (:mod:`platform.report.effects`),
adjusts their p-values over the table's family of comparisons and writes the lines
printed under the table: which effects stay significant after the correction and which
do not, so nobody reads noise as a gain.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from platform.config.evidence import EvidenceConfig
from platform.evaluation.metrics import DICE, TABLE1_METRICS
from platform.report.effects import PairedEffect, adjust_p_values, paired_effect
from platform.report.ranking import RankStability
from platform.report.seeds import VarianceSplit
from platform.report.strata import LesionStrata
from platform.report.tables import number

__all__ = ["CORRECTION_NAMES", "Evidence", "EvidencePlan", "PatientValues", "build_effects",
           "references"]

PatientValues = Mapping[str, Mapping[str, Mapping[str, float]]]
"""``{metric: {variant: {case key: value}}}`` (each patient's mean over seeds)."""

CORRECTION_NAMES = {"holm": "Holm", "bonferroni": "Bonferroni",
                    "fdr_bh": "Benjamini-Hochberg", "none": "no correction"}


@dataclass(frozen=True)
class EvidencePlan:
    """How a table's rows are compared: the settings and the references a sweep chose
    (``{variant: reference variant}``; a row not named is compared with the one above)."""

    settings: EvidenceConfig = field(default_factory=EvidenceConfig)
    compare_to: Mapping[str, str] = field(default_factory=dict)
    factorial: Mapping[str, Sequence[str]] = field(default_factory=dict)
    """``{variant: components on}`` of a factorial design (empty otherwise)."""


def references(variants: Sequence[str],
               chosen: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """Each variant's reference row: ``chosen[variant]``, else the previous row.

    The first row has no reference unless one is chosen for it.

    Raises:
        ValueError: a reference that is not a row of the table, or a row compared with
            itself.
    """
    out: dict[str, str] = {}
    for index, variant in enumerate(variants):
        picked = (chosen or {}).get(variant)
        if picked is None and index > 0:
            picked = variants[index - 1]
        if picked is None:
            continue
        if picked not in variants or picked == variant:
            raise ValueError(f"variant {variant!r} is compared with {picked!r}, which is not "
                             f"another row of the table ({', '.join(variants)})")
        out[variant] = picked
    return out


def build_effects(values: PatientValues, variants: Sequence[str], refs: Mapping[str, str],
                  settings: EvidenceConfig) -> tuple[PairedEffect, ...]:
    """Every (row, metric) effect in row then metric order, p-values adjusted together.

    The family is every test of the table (``settings.family == "table"``) or each
    metric's tests; an effect without a p (too few pairs, no difference) is not a test
    and does not count in the family.
    """
    effects = [paired_effect(values[metric].get(variant, {}), values[metric].get(ref, {}),
                             metric=metric, variant=variant, versus=ref, settings=settings)
               for variant in variants if (ref := refs.get(variant)) is not None
               for metric in values]
    families: dict[str, list[int]] = {}
    for index, effect in enumerate(effects):
        if effect.p_value is not None:
            key = "table" if settings.family == "table" else effect.metric
            families.setdefault(key, []).append(index)
    for members in families.values():
        adjusted = adjust_p_values([effects[i].p_value for i in members],  # type: ignore[misc]  # the members tested have a p value
                                   settings.correction)
        for index, p_adjusted in zip(members, adjusted, strict=True):
            effects[index] = replace(effects[index], p_adjusted=p_adjusted)
    return tuple(effects)


_COLUMNS = ("", "_low", "_high", "_n", "_p", "_p_adjusted", "_note")


@dataclass(frozen=True)
class Evidence:
    """The paired effects of a table and the settings they were computed with."""

    settings: EvidenceConfig
    effects: tuple[PairedEffect, ...]
    ranking: RankStability | None = None
    """How often each variant ranks first, ... in Dice over resampled patients."""
    strata: LesionStrata | None = None
    """Per-patient metrics by lesion-size stratum (None: no volumes in the rows)."""
    seeds: tuple[VarianceSplit, ...] = ()
    """Dice's sd between folds and between seeds, for each row trained with several seeds."""
    factorial: tuple[PairedEffect, ...] = ()
    """Main effects and two-way interactions of a factorial design (Dice)."""

    def effect(self, variant: str, metric: str = DICE) -> PairedEffect | None:
        """The effect of ``variant`` in ``metric`` (None: the row has no reference)."""
        return next((e for e in self.effects if e.variant == variant and e.metric == metric),
                    None)

    def family_size(self, metric: str = DICE) -> int:
        """How many tests ``metric``'s p-values were adjusted over."""
        return sum(e.p_value is not None and (self.settings.family == "table"
                                              or e.metric == metric) for e in self.effects)

    @property
    def correction(self) -> str:
        """The correction's name as the words say it (``Holm``)."""
        return CORRECTION_NAMES[self.settings.correction]

    def adjusted_text(self, variant: str, metric: str = DICE) -> str:
        """``"; Holm 0.187"`` after a raw p in a cell (empty without an adjusted p)."""
        effect = self.effect(variant, metric)
        if effect is None or effect.p_adjusted is None or self.settings.correction == "none":
            return ""
        return f"; {self.correction} {effect.p_adjusted:.3g}"

    def csv_header(self) -> list[str]:
        """The CSV columns of the effects: the reference row, then six per metric."""
        return ["effect_versus", *(f"effect_{m}{s}" for m in TABLE1_METRICS for s in _COLUMNS),
                "rank1_share", "rank_observed", f"sd_between_folds_{DICE}",
                f"sd_between_seeds_{DICE}"]

    def csv_cells(self, variant: str) -> list[object]:
        """``variant``'s cells under :meth:`csv_header` (empty where undefined)."""
        cells: list[object] = []
        versus = ""
        for metric in TABLE1_METRICS:
            effect = self.effect(variant, metric)
            if effect is None:
                cells += [""] * len(_COLUMNS)
                continue
            versus = effect.versus
            cells += [number(effect.mean), number(effect.low), number(effect.high),
                      effect.n_pairs, number(effect.p_value), number(effect.p_adjusted),
                      effect.note]
        split = self.split(variant)
        return [versus, *cells, *self._rank_cells(variant),
                *([number(split.sd_between_folds), number(split.sd_between_seeds)] if split
                  else ["", ""])]

    def split(self, variant: str) -> VarianceSplit | None:
        """``variant``'s seed variance split of Dice (None: one seed per fold)."""
        return next((s for s in self.seeds if s.variant == variant and s.metric == DICE), None)

    def _rank_cells(self, variant: str) -> list[object]:
        ranking = self.ranking
        if ranking is None or not ranking.shares:
            return ["", ""]
        return [number(ranking.first_share(variant)),
                ranking.observed[ranking.variants.index(variant)]]

    def metrics(self, variant: str) -> dict[str, float]:
        """MLflow metrics of ``variant``'s effects: ``effect_<m>``, ``effect_<m>_low`` /
        ``_high``, ``effect_<m>_n``, ``p_<m>`` and ``p_adjusted_<m>`` (defined ones only)."""
        out: dict[str, float | None] = {}
        for effect in (e for e in self.effects if e.variant == variant):
            m = effect.metric
            out |= {f"effect_{m}": effect.mean, f"effect_{m}_low": effect.low,
                    f"effect_{m}_high": effect.high, f"effect_{m}_n": float(effect.n_pairs),
                    f"p_{m}": effect.p_value, f"p_adjusted_{m}": effect.p_adjusted}
        if self.ranking is not None and variant in self.ranking.variants:
            out["rank1_share"] = self.ranking.first_share(variant)
        split = self.split(variant)
        if split is not None:
            out |= {f"sd_between_folds_{DICE}": split.sd_between_folds,
                    f"sd_between_seeds_{DICE}": split.sd_between_seeds}
        return {k: v for k, v in out.items() if v is not None and math.isfinite(v)}

    def verdict(self, effect: PairedEffect) -> str:
        """Whether ``effect`` holds after the correction, in words."""
        if effect.p_value is None:
            return f"no interval or test: {effect.note}" if not effect.has_interval \
                else f"no test: {effect.note}"
        after = "uncorrected" if self.settings.correction == "none" \
            else f"after {self.correction}"
        p_text = f"p={effect.p_adjusted:.3g}"
        if effect.significant(self.settings.alpha):
            tail = "" if effect.excludes_zero() else ", though the interval includes zero"
            return f"significant {after} ({p_text}){tail}"
        tail = " (the interval alone excludes zero)" if effect.excludes_zero() else ""
        return f"not significant {after} ({p_text}){tail}"

    def words(self, metric: str = DICE) -> list[str]:
        """The lines under the table: the method once, then one line per compared row."""
        shown = [e for e in self.effects if e.metric == metric]
        if not shown:
            return []
        s = self.settings
        family = "the table's" if s.family == "table" else f"the {metric}"
        head = (f"Paired {metric} effects (variant - reference), mean over patients "
                f"[{100 * s.confidence:g} % {s.interval} bootstrap CI, {s.resamples} resamples, "
                f"seed {s.seed}]; Wilcoxon ({s.zero_method}); {self.correction} over "
                f"{family} {self.family_size(metric)} tests, alpha {s.alpha:g}:")
        lines = [head]
        for effect in shown:
            size = f" (n={effect.n_pairs})" if effect.has_interval else ""
            lines.append(f"{effect.variant} vs {effect.versus}: {effect.cell()} {metric}{size}, "
                         f"{self.verdict(effect)}")
        if self.ranking is not None and self.ranking.metric == metric:
            lines.append(self.ranking.words())
        lines += [f"Seed variance, {split.words()}" for split in self.seeds
                  if split.metric == metric]
        return lines + self._factorial_words(metric)

    def _factorial_words(self, metric: str) -> list[str]:
        shown = [e for e in self.factorial if e.metric == metric]
        if not shown:
            return []
        tested = sum(e.p_value is not None for e in shown)
        lines = [f"Factorial design: main effects and two-way interactions on {metric} (Yates "
                 f"contrasts per patient over every subset of the components; "
                 f"{self.correction} over the {tested} terms):"]
        for effect in shown:
            size = f" (n={effect.n_pairs})" if effect.has_interval else ""
            lines.append(f"{effect.variant} ({effect.versus}): {effect.cell()} {metric}{size}, "
                         f"{self.verdict(effect)}")
        return lines
