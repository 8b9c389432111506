"""Named preprocessing steps: registration, lookup and validation of a step sequence.

Why a registry: a sweep switches steps on and off by name (Table 1 of Dobshik et al.
2023, arXiv:2301.06793), so a step is a ``(name, params)`` pair resolved here, never a
branch in the pipeline. Each step module registers itself with :func:`register_step`
next to its code, and ``preprocess/__init__.py`` imports every step module explicitly.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

if TYPE_CHECKING:
    from data_pipeline.preprocess.volume import Volume

__all__ = [
    "StepParams",
    "StepSpec",
    "UnknownStepError",
    "canonical_steps",
    "list_steps",
    "register_step",
    "resolve_steps",
    "validate_step",
    "validate_steps",
]

REQUIRED_STEPS = ("minmax",)
"""Steps every sequence needs: the network and the samplers expect images in [0, 1]."""


class StepParams(BaseModel, extra="forbid", frozen=True):
    """Base of every step's parameter model: unknown keys are errors, values are frozen."""


@dataclass(frozen=True)
class StepSpec:
    """One preprocessing step as a sweep names it: a registered name and its parameters.

    Args:
        name: a name from :func:`list_steps`, e.g. ``"remove_skull"``.
        params: keyword parameters of that step; missing keys take the step's defaults.
    """

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)


class UnknownStepError(KeyError):
    """A step name that is not registered; the message lists close matches and all names."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


StepFunction = Callable[["Volume", Any], "Volume"]


@dataclass(frozen=True)
class _Entry:
    name: str
    params: type[StepParams]
    apply: StepFunction
    after: tuple[str, ...]
    requires: tuple[str, ...]


_REGISTRY: dict[str, _Entry] = {}


def register_step(
    name: str,
    *,
    params: type[StepParams],
    after: Sequence[str] = (),
    requires: Sequence[str] = (),
) -> Callable[[StepFunction], StepFunction]:
    """Register ``fn(volume, params) -> volume`` under ``name``.

    Args:
        name: the name sweeps use; a duplicate raises instead of replacing a step silently.
        params: the pydantic model that validates and fills in the step's parameters.
        after: steps that, when present, must run before this one (e.g. min-max after
            standardization, or the result would leave [0, 1]).
        requires: steps that must be present and run before this one (e.g. standardization
            needs the brain mask of ``remove_skull``).
    """

    def decorator(fn: StepFunction) -> StepFunction:
        if name in _REGISTRY:
            raise ValueError(f"preprocessing step {name!r} is registered twice; rename one")
        _REGISTRY[name] = _Entry(name, params, fn, tuple(after), tuple(requires))
        return fn

    return decorator


def list_steps() -> list[str]:
    """Names of all registered preprocessing steps, sorted."""
    return sorted(_REGISTRY)


def _entry(name: str) -> _Entry:
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=3, cutoff=0.5)
        hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise UnknownStepError(
            f"unknown preprocessing step {name!r}.{hint} Registered steps: {list_steps()}"
        ) from None


def validate_step(spec: StepSpec) -> StepParams:
    """Check one step's name and parameters; return its parameters with defaults filled in.

    Raises:
        UnknownStepError: the name is not registered (a ``KeyError``, with a did-you-mean).
        ValueError: a parameter is unknown, of the wrong type or out of range.
    """
    entry = _entry(spec.name)
    try:
        return entry.params.model_validate(dict(spec.params))
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'params'}: {e['msg']}" for e in err.errors()
        )
        allowed = sorted(entry.params.model_fields)
        raise ValueError(
            f"bad params for preprocessing step {spec.name!r}: {problems} "
            f"(allowed params: {allowed or 'none'}; got {dict(spec.params)})"
        ) from err


def validate_steps(steps: Sequence[StepSpec]) -> list[StepParams]:
    """Check a whole step sequence: each step, then the order rules between steps.

    Rules: every name at most once; each step's ``after`` and ``requires`` steps come
    earlier; ``minmax`` is present (the output is promised in [0, 1]). Use
    :func:`validate_step` to check one step on its own.

    Returns:
        The parameters of each step with defaults filled in, in order.

    Raises:
        UnknownStepError: an unknown name.
        ValueError: bad params, a repeated step, a wrong order or a missing required step.
    """
    params = [validate_step(spec) for spec in steps]
    names = [spec.name for spec in steps]
    for index, name in enumerate(names):
        if name in names[:index]:
            raise ValueError(f"preprocessing step {name!r} appears twice in {names}; keep one")
        entry = _REGISTRY[name]
        for before in entry.requires:
            if before not in names[:index]:
                raise ValueError(
                    f"preprocessing step {name!r} needs {before!r} earlier in the list, got "
                    f"{names}; add {before!r} before {name!r}"
                )
        for before in entry.after:
            if before in names[index + 1 :]:
                raise ValueError(
                    f"preprocessing step {before!r} must come before {name!r}, got {names}"
                )
    for name in REQUIRED_STEPS:
        if name not in names:
            raise ValueError(
                f"preprocessing steps {names} lack {name!r}; every sequence needs it "
                f"(the output is promised in [0, 1])"
            )
    return params


def resolve_steps(steps: Sequence[StepSpec]) -> list[tuple[StepFunction, StepParams]]:
    """Validate ``steps`` and return each step's function with its parameters."""
    params = validate_steps(steps)
    return [(_REGISTRY[s.name].apply, p) for s, p in zip(steps, params, strict=True)]


def canonical_steps(steps: Sequence[StepSpec]) -> str:
    """A canonical JSON text of ``steps`` with defaults filled in: the cache key's input.

    ``StepSpec("hu_window")`` and ``StepSpec("hu_window", {"low": 0, "high": 80})`` give
    the same text, so equal configurations share cache entries.
    """
    params = validate_steps(steps)
    doc = [
        {"name": s.name, "params": p.model_dump(mode="json")}
        for s, p in zip(steps, params, strict=True)
    ]
    return json.dumps(doc, sort_keys=True, separators=(",", ":"))
