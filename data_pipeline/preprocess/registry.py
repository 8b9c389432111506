"""Named preprocessing steps: registration, the order rules between steps, the cache text.

Why: a sweep switches steps on and off by name (Table 1 of Dobshik et al. 2023,
arXiv:2301.06793), so a step is a part of kind ``"preprocessing step"`` in the project's
one registry (:mod:`data_pipeline.parts.registry`): its params model is validated when the
step is named, and the pipeline receives the validated model. What is particular to
steps lives here: the order rules (``after``, ``requires``) checked on a whole list, and
the canonical text of a list that keys the cache.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from data_pipeline.parts import Params, PartSpec, Registry

if TYPE_CHECKING:
    from data_pipeline.preprocess.volume import Volume

__all__ = [
    "STEPS",
    "StepParams",
    "canonical_steps",
    "register_step",
    "resolve_steps",
    "step",
    "validate_steps",
]

REQUIRED_STEPS = ("minmax",)
"""Steps every sequence needs: the network and the samplers expect images in [0, 1]."""

StepParams = Params
"""Base of every step's parameter model (the registry's :class:`Params`)."""

StepFunction = Callable[["Volume", Any], "Volume"]

STEPS: Registry[StepFunction] = Registry("preprocessing step", "step(params) is "
                                         "fn(volume, params) -> volume, applied in order")
"""The preprocessing steps; a builder is the step function itself (see :func:`resolve_steps`)."""


@dataclass(frozen=True)
class _Order:
    after: tuple[str, ...]
    requires: tuple[str, ...]


_ORDER: dict[str, _Order] = {}


def register_step(
    name: str,
    *,
    params: type[Params],
    after: Sequence[str] = (),
    requires: Sequence[str] = (),
) -> Callable[[StepFunction], StepFunction]:
    """Register ``fn(volume, params) -> volume`` under ``name``.

    Args:
        name: the name sweeps use; a duplicate raises instead of replacing a step silently.
        params: the params model that validates and fills in the step's parameters.
        after: steps that, when present, must run before this one (e.g. min-max after
            standardization, or the result would leave [0, 1]).
        requires: steps that must be present and run before this one (e.g. standardization
            needs the brain mask of ``remove_skull``).
    """

    def decorator(fn: StepFunction) -> StepFunction:
        STEPS.register(name, params=params)(fn)
        _ORDER[name] = _Order(tuple(after), tuple(requires))
        return fn

    return decorator


def step(name: str, params: Mapping[str, Any] | None = None) -> PartSpec:
    """The validated step ``name`` with ``params`` (missing ones take their defaults).

    Raises:
        UnknownNameError: an unknown name (a ``KeyError`` with a did-you-mean).
        ParamsError: an unknown parameter or a refused value (a ``ValueError``).
    """
    return STEPS.spec(name, params)


def validate_steps(steps: Sequence[PartSpec]) -> None:
    """Check the order rules of a step list (each step's params are valid already).

    Rules: every name at most once; each step's ``after`` and ``requires`` steps come
    earlier; ``minmax`` is present (the output is promised in [0, 1]).

    Raises:
        ValueError: a repeated step, a wrong order or a missing required step.
    """
    names = [spec.name for spec in steps]
    for index, name in enumerate(names):
        if name in names[:index]:
            raise ValueError(f"preprocessing step {name!r} appears twice in {names}; keep one")
        order = _ORDER[name]
        for before in order.requires:
            if before not in names[:index]:
                raise ValueError(
                    f"preprocessing step {name!r} needs {before!r} earlier in the list, got "
                    f"{names}; add {before!r} before {name!r}")
        for before in order.after:
            if before in names[index + 1:]:
                raise ValueError(
                    f"preprocessing step {before!r} must come before {name!r}, got {names}")
    for name in REQUIRED_STEPS:
        if name not in names:
            raise ValueError(f"preprocessing steps {names} lack {name!r}; every sequence needs "
                             "it (the output is promised in [0, 1])")


def resolve_steps(steps: Sequence[PartSpec]) -> list[tuple[StepFunction, Params]]:
    """Check the order of ``steps`` and return each step's function with its parameters."""
    validate_steps(steps)
    return [(STEPS.entry(s.name).builder, s.params) for s in steps]


def canonical_steps(steps: Sequence[PartSpec]) -> str:
    """A canonical JSON text of ``steps`` with defaults filled in: the cache key's input.

    ``step("hu_window")`` and ``step("hu_window", {"low": 0, "high": 80})`` give the
    same text, so equal configurations share cache entries.
    """
    validate_steps(steps)
    doc = [{"name": s.name, "params": s.params.model_dump(mode="json")} for s in steps]
    return json.dumps(doc, sort_keys=True, separators=(",", ":"))
