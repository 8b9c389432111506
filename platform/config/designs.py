"""Ablation designs: variants generated from a list of components instead of written by hand.

An ``ablation:`` section names the components of the full model (``base``) and, for
each, the knobs that switch it off (``without: {model.se: false}``, dotted paths as in
overrides; not ``off``, which YAML reads as ``false``). A design turns them into ordinary
variants, validated, keyed and reused like written ones (``--dry-run`` lists them):

- ``cumulative`` (the paper's Table 1): ``baseline`` with every component off, then one
  row per component switching it on after the ones before it; each row is compared with
  the row above. Answers "what did adding it, in this order, give".
- ``leave_one_out``: ``full`` (every component on), then ``no_<component>`` for each,
  compared with ``full``. Answers "what does the final model lose without it", whatever
  the order.
- ``factorial``: every subset of the components (``2**k`` variants, so k <= 5), named by
  the components on (``baseline`` and ``full`` at the ends), each compared with
  ``baseline``; each component's main effect and the two-way interactions are estimated
  from the per-patient results (:mod:`platform.report.factorial`).

When several components that are off set the same knob (two of them edit
``preprocessing.steps``), the one listed first wins: list components from the most basic
(its ``without`` removes the most) to the most specific. Definitions:
``../shared/EVIDENCE_NOTES.md``.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, model_validator

from data_pipeline.parts import as_tuple
from platform.config.trial import TRIAL_SECTIONS
from platform.config.types import Failure, Name, Section, fail, one_of

__all__ = ["DESIGNS", "AblationConfig", "ComponentConfig", "GeneratedVariant"]

DESIGNS = ("cumulative", "leave_one_out", "factorial")
MAX_FACTORIAL = 5
"""Most components of a factorial design (2**5 = 32 variants per fold)."""

GeneratedVariant = dict[str, Any]
"""A variant as YAML would write it: ``name``, ``description``, ``compare_to``, sections."""


class ComponentConfig(Section):
    """One part of the full model and the knobs that switch it off."""

    name: Name
    """The component's name (part of generated variant names)."""
    description: str = ""
    """Free text shown in reports."""
    without: dict[str, Any] = Field(min_length=1)
    """Dotted knob paths and their values without this component, e.g.
    ``{model.se: false}`` or ``{sampler.name: uniform}``."""


class AblationConfig(Section):
    """Variants generated from the full model's components (see the module doc)."""

    design: Annotated[str, one_of(*DESIGNS)]
    """``cumulative`` (the paper's order), ``leave_one_out`` or ``factorial``."""
    components: Annotated[tuple[ComponentConfig, ...], BeforeValidator(as_tuple),
                          Field(min_length=1)]
    """The components, most basic first (the paper's order for ``cumulative``)."""

    @model_validator(mode="after")
    def _sizes(self) -> AblationConfig:
        problems: list[Failure] = []
        names = [c.name for c in self.components]
        if len(set(names)) != len(names):
            problems.append((("components",), "a component name is listed twice", names, {}))
        for index, component in enumerate(self.components):
            problems += [(("components", index, "without", path), "not a knob path such as "
                          "'model.se'", path, {"allowed": TRIAL_SECTIONS})
                         for path in component.without
                         if len(str(path).split(".")) < 2
                         or str(path).split(".")[0] not in TRIAL_SECTIONS]
        if self.design == "factorial" and len(names) > MAX_FACTORIAL:
            problems.append((("components",), f"a factorial design of {len(names)} components "
                             f"has {2 ** len(names)} variants per fold; at most "
                             f"{MAX_FACTORIAL} components", names, {}))
        fail("AblationConfig", problems)
        return self

    def variants(self) -> list[GeneratedVariant]:
        """The design's variants, as YAML variants (merged over ``base`` like any)."""
        names = [c.name for c in self.components]
        rows: list[tuple[str, tuple[str, ...], str | None, str]]
        said = {c.name: f"{c.name}: {c.description}" if c.description else c.name
                for c in self.components}
        if self.design == "cumulative":
            rows = [("baseline", (), None, "every component off")] + [
                (name, tuple(names[:i + 1]), None, f"+ {said[name]}")
                for i, name in enumerate(names)]
        elif self.design == "leave_one_out":
            rows = [("full", tuple(names), None, "every component on")] + [
                (f"no_{name}", tuple(n for n in names if n != name), "full",
                 f"the full model without {said[name]}") for name in names]
        else:
            rows = [(_subset_name(on, names), on, None if not on else "baseline",
                     f"components on: {', '.join(on) or 'none'}")
                    for size in range(len(names) + 1)
                    for on in itertools.combinations(names, size)]
        return [self._variant(*row) for row in rows]

    def factorial_cells(self) -> dict[str, tuple[str, ...]]:
        """``{variant: components on}`` of a factorial design (empty for the others)."""
        if self.design != "factorial":
            return {}
        return {v["name"]: tuple(v["components_on"]) for v in self.variants()}

    def _variant(self, name: str, on: Sequence[str], compare_to: str | None,
                 description: str) -> GeneratedVariant:
        off = [c for c in self.components if c.name not in on]
        sections: dict[str, Any] = {}
        for component in reversed(off):  # the first component listed wins a shared knob
            _merge(sections, _nested(component.without))
        return {"name": name, "description": f"{self.design}: {description}",
                "compare_to": compare_to, "components_on": list(on), **sections}


def _subset_name(on: Sequence[str], names: Sequence[str]) -> str:
    if not on:
        return "baseline"
    if len(on) == len(names):
        return "full"
    return "-".join(on)


def _nested(dotted: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path, value in dotted.items():
        keys = str(path).split(".")
        node = out
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value
    return out


def _merge(into: dict[str, Any], patch: Mapping[str, Any]) -> None:
    for key, value in patch.items():
        below = into.get(key)
        if isinstance(below, dict) and isinstance(value, Mapping):
            _merge(below, value)
        else:
            into[key] = value
