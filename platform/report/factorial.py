"""Main effects and two-way interactions of a factorial ablation, per patient.

A full factorial design over ``k`` on/off components (``ablation.design: factorial``)
scores every patient under all ``2**k`` subsets. For a term ``T`` (one component, or a
pair), each patient's contrast is Yates' ``(2 / 2**k) * sum_S (prod_{c in T} s_c(S))
y(S)``, with ``s_c(S) = +1`` when ``c`` is on in subset ``S`` and ``-1`` when off: for one
component, the mean over subsets with it on minus the mean with it off (its main
effect); for a pair, half the difference between one component's effect with the other
on and with it off (their interaction). The contrasts are paired per patient, so they are
summarised like any paired effect (:mod:`platform.report.effects`: mean, bootstrap
interval, Wilcoxon against zero) and adjusted together. Only patients scored under every
subset count.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import replace

from platform.config.evidence import EvidenceConfig
from platform.report.effects import PairedEffect, adjust_p_values, paired_effect

__all__ = ["INTERACTION", "MAIN_EFFECT", "factorial_effects", "terms"]

MAIN_EFFECT = "main effect"
INTERACTION = "interaction"


def terms(components: Sequence[str]) -> list[tuple[str, ...]]:
    """Every main effect, then every two-way interaction, in component order."""
    return [(c,) for c in components] + list(itertools.combinations(components, 2))


def factorial_effects(values: Mapping[str, Mapping[str, float]],
                      cells: Mapping[str, Sequence[str]], settings: EvidenceConfig, *,
                      metric: str) -> tuple[PairedEffect, ...]:
    """The main effects and interactions of ``metric``, adjusted together.

    Args:
        values: ``{variant: {case: value}}`` (each patient's mean over seeds).
        cells: ``{variant: components on}``, one variant per subset of the components.

    Returns:
        One effect per term (``variant`` the term, ``a x b`` for a pair; ``versus``
        ``main effect`` or ``interaction``), empty when a subset has no variant.
    """
    components = list(dict.fromkeys(c for on in cells.values() for c in on))
    k = len(components)
    by_subset = {frozenset(on): variant for variant, on in cells.items()}
    if k == 0 or len(by_subset) != 2 ** k:
        return ()
    cases = set.intersection(*(
        {c for c, v in values.get(variant, {}).items() if math.isfinite(v)}
        for variant in by_subset.values()))
    effects = []
    for term in terms(components):
        contrast = {case: 2.0 / 2 ** k * math.fsum(
            math.prod(1 if c in subset else -1 for c in term) * values[variant][case]
            for subset, variant in by_subset.items()) for case in sorted(cases)}
        effects.append(paired_effect(
            contrast, dict.fromkeys(contrast, 0.0), metric=metric, variant=" x ".join(term),
            versus=MAIN_EFFECT if len(term) == 1 else INTERACTION, settings=settings))
    tested = [i for i, e in enumerate(effects) if e.p_value is not None]
    adjusted = adjust_p_values([effects[i].p_value for i in tested],  # type: ignore[misc]  # the effects tested have a p value
                               settings.correction)
    for index, p_adjusted in zip(tested, adjusted, strict=True):
        effects[index] = replace(effects[index], p_adjusted=p_adjusted)
    return tuple(effects)
