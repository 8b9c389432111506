"""The variants of a sweep: each one's sections merged over ``base``, and its reference numbers.

A variant is a name, a description, the paper's numbers (``reference``: ``'mean +- sd'``
per metric, printed beside ours) and any trial sections, deep-merged over the sweep's
``base`` one level down; a part section merges parameter by parameter, and a switch to
another part drops the base parameters the new part does not take.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

from data_pipeline.parts.fields import PartOf, part_mapping, switch_part
from platform.config.trial import PART_SECTIONS, TRIAL_SECTIONS, TrialConfig, part_at
from platform.config.types import Name, Section

__all__ = ["REFERENCE_METRICS", "VariantConfig", "parse_reference", "variant_with_config"]

REFERENCE_METRICS = ("dice", "sensitivity", "specificity", "precision", "seconds_per_patient")
_MEAN_SD = re.compile(r"^\s*(\d*\.?\d+)\s*(?:\+-\s*(\d*\.?\d+))?\s*$")


def _metric(key: str) -> str:
    if key not in REFERENCE_METRICS:
        raise PydanticCustomError("unknown_metric", "unknown reference metric",
                                  {"allowed": REFERENCE_METRICS})
    return key


def parse_reference(text: str) -> tuple[float, float | None]:
    """``"0.628 +- 0.033"`` -> ``(0.628, 0.033)``; ``"45"`` -> ``(45.0, None)``.

    Raises:
        ValueError: ``text`` is not ``mean`` or ``mean +- sd``.
    """
    found = _MEAN_SD.match(text)
    if found is None:
        raise ValueError(f"a reference value is 'mean +- sd', such as '0.628 +- 0.033'; got "
                         f"{text!r}")
    mean, sd = found.groups()
    return float(mean), float(sd) if sd is not None else None


def _reference_text(value: str) -> str:
    if not _MEAN_SD.match(value):
        raise ValueError("write a reference value as 'mean +- sd', such as '0.628 +- 0.033'")
    return value


class VariantConfig(Section):
    """One named variant: its own sections deep-merged over ``base``, resolved in ``config``.

    In YAML a variant holds ``name``, ``description``, ``reference`` (the paper's
    numbers, ``'mean +- sd'``) and any trial sections. Merging goes one level deep: a
    section's knobs are merged key by key, a knob's value (a list, a mapping such as
    ``label_probabilities``) replaces the base value whole.
    """

    name: Name
    """Unique name; part of trial ids and MLflow run names."""
    description: str = ""
    """Free text shown in reports."""
    reference: dict[Annotated[str, AfterValidator(_metric)],
                    Annotated[str, AfterValidator(_reference_text)]] | None = None
    """The paper's numbers as ``"mean +- sd"`` per metric, printed beside ours."""
    compare_to: Name | None = None
    """The row this variant's paired effects are taken against (another variant's name);
    null: the row above it (a cumulative ablation), or the design's reference (the full
    model of ``ablation.design: leave_one_out``)."""
    config: TrialConfig
    """Its resolved trial configuration: ``base`` with the variant's sections merged in."""

    yaml_keys: ClassVar[tuple[str, ...]] = ("name", "description", "reference", "compare_to",
                                           *TRIAL_SECTIONS)

    def reference_values(self) -> dict[str, tuple[float, float | None]]:
        """The paper's numbers as ``{metric: (mean, sd)}`` (sd None when not given)."""
        return {metric: parse_reference(text) for metric, text in (self.reference or {}).items()}


def variant_with_config(variant: Mapping[str, Any], base: Mapping[str, Any]) -> dict[str, Any]:
    """Split a YAML variant into its own sections and the config merged over ``base``."""
    raw = dict(variant)
    if "config" in raw:  # a model_dump() validated again: resolved already
        return raw
    sections = {name: raw.pop(name) for name in TRIAL_SECTIONS if name in raw}
    merged = dict(base)
    for name, value in (sections.items() if isinstance(sections, Mapping) else ()):
        below = base.get(name)
        if name in PART_SECTIONS:
            merged[name] = _merged_part(PART_SECTIONS[name], below, value)
        elif isinstance(below, Mapping) and isinstance(value, Mapping):
            merged[name] = _merged_section(name, below, value)
        else:
            merged[name] = value
    return {**raw, "config": merged}


def _merged_section(section: str, below: Mapping[str, Any],
                    value: Mapping[str, Any]) -> dict[str, Any]:
    """A variant's section over the base's, key by key; a part inside it (``eval.inference``)
    merges like a part section."""
    merged = dict(below)
    for key, item in value.items():
        marker = part_at((section, str(key)))
        merged[key] = _merged_part(marker, below.get(key), item) if marker else item
    return merged


def _merged_part(marker: PartOf, below: Any, value: Any) -> Any:
    """A variant's part over the base's: the same part merges parameter by parameter;
    another part keeps only the base parameters that part also takes and its name does
    not fix (the others belonged to the base's part), so ``sampler: {name: uniform}``
    keeps the base's ``patch_size`` and drops its ``label_probabilities``."""
    parts = marker.registry()
    try:
        base_name, base_params = part_mapping({} if below is None else below, marker.default,
                                              parts)
        name, params = part_mapping(value, base_name, parts)
    except ValueError:
        return value  # not a part: validation reports it where it was written
    if not isinstance(name, str):
        return value
    switched = switch_part({"name": base_name, **base_params}, name, marker.default, parts)
    return {**switched, **params}
