"""Named parts that own their parameters: the one registry every kind of part uses.

Why one mechanism: every ablation knob of Dobshik et al. (2023, arXiv:2301.06793) is a
name in a sweep file (a preprocessing step, a sampler, a norm layer, a loss...). Each
part registers a frozen pydantic *params model* beside its builder, so a config section
``{name: focal, gamma: 1.5}`` is validated against exactly the parameters that part
takes, each default lives once (in that model), and the builder receives the validated
model instead of a keyword list relayed through other functions::

    YAML {name, **params} --spec()--> PartSpec(kind, name, Params) --create()--> the part
                               |                          builder(params, **structural)
                unknown name or parameter: an error listing the part's parameters
                with their defaults, and a did-you-mean

A *named variant* is a builder registered again with other defaults (timm's ``resnet*``
entrypoints): ``unet3d_residual`` is ``unet3d`` with ``residual=True``; values the caller
gives win. Unlike timm a duplicate name raises, and an unknown name lists the known ones
with close matches (MONAI ``look_up_option``). Each package registers its parts through
explicit imports; labs add theirs from their own package, by decorating with
:func:`registry` or through an entry point (:mod:`data_pipeline.parts.plugins`).

A part's parameters derive from :class:`~data_pipeline.parts.params.Params`; a wrong
name or parameter raises an error of :mod:`data_pipeline.parts.errors`.

Example:
    >>> from data_pipeline.parts import Params, Registry
    >>> class ScaleParams(Params):
    ...     factor: float = 1.0
    >>> things = Registry("thing", "builder(params) -> float")
    >>> @things.register("doubled", params=ScaleParams, defaults={"factor": 2.0})
    ... @things.register("scaled", params=ScaleParams)
    ... def scaled(params: ScaleParams) -> float:
    ...     return params.factor
    >>> things.create(things.spec("doubled")), things.create(things.spec("scaled", {"factor": 3}))
    (2.0, 3.0)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from data_pipeline.parts.errors import (
    DuplicateNameError,
    ParamsError,
    UnknownNameError,
    did_you_mean,
)
from data_pipeline.parts.params import Params

__all__ = [
    "Entry",
    "PartSpec",
    "Registry",
    "has_registry",
    "kinds",
    "registry",
    "value_text",
]

BuiltT = TypeVar("BuiltT")


@dataclass(frozen=True)
class PartSpec:
    """A chosen part: its kind, its registered name and its validated parameters.

    Build one with :meth:`Registry.spec` (or in a config, with :class:`PartOf`); build
    the part itself with :meth:`Registry.create`. :meth:`dump` writes the YAML form
    ``{name, **params}`` with every default filled in, which is also what trial ids,
    cache keys and MLflow params are computed from.
    """

    kind: str
    name: str
    params: Params

    def dump(self) -> dict[str, Any]:
        """``{"name": ..., **params}`` as plain JSON-able data, defaults included."""
        return {"name": self.name, **self.params.model_dump(mode="json")}

    def __str__(self) -> str:
        """``name`` or ``name(param=value,...)`` with the parameters that differ from
        the registered defaults (what a table of trials should show)."""
        plain = registry(self.kind).defaults(self.name).model_dump(mode="json")
        changed = {k: v for k, v in self.params.model_dump(mode="json").items() if plain[k] != v}
        inner = ",".join(f"{k}={json.dumps(v)}" for k, v in sorted(changed.items()))
        return f"{self.name}({inner})" if inner else self.name


@dataclass(frozen=True)
class Entry:
    """One registered part: builder, params model and the variant's defaults."""

    name: str
    builder: Callable[..., Any]
    params: type[Params]
    defaults: Mapping[str, Any] = field(default_factory=dict)

    @property
    def summary(self) -> str:
        """The first line of the builder's docstring."""
        return (self.builder.__doc__ or "").strip().split("\n")[0]


_REGISTRIES: dict[str, Registry[Any]] = {}


class Registry(Generic[BuiltT]):
    """Names -> (params model, builder) for one kind of part.

    Args:
        kind: What it holds (``"loss"``); shown in errors, listings and docs.
        contract: How its builders are called, e.g. ``"builder(params, *, channels)"``:
            the structural arguments the caller supplies besides the parameters.

    Raises:
        DuplicateNameError: When another registry already has this kind.
    """

    def __init__(self, kind: str, contract: str) -> None:
        if kind in _REGISTRIES:
            raise DuplicateNameError(f"a registry of kind {kind!r} exists already")
        self.kind, self.contract = kind, contract
        self._entries: dict[str, Entry] = {}
        _REGISTRIES[kind] = self

    def register(self, name: str, *, params: type[Params],
                 defaults: Mapping[str, Any] | None = None) -> Callable[[Any], Any]:
        """Decorator that registers ``builder(params, **structural)`` under ``name``.

        Stack it to register named variants of one builder, each with its own
        ``defaults`` (validated now, so a bad variant fails at import, not in a sweep).

        Raises:
            DuplicateNameError: When ``name`` is taken in this kind.
            TypeError: When ``name`` is empty or ``params`` is not a :class:`Params`.
        """
        if not isinstance(name, str) or not name:
            raise TypeError(f"A {self.kind} name must be a non-empty str, got {name!r}.")
        if not (isinstance(params, type) and issubclass(params, Params)):
            raise TypeError(f"{self.kind} {name!r}: params must be a Params subclass, "
                            f"got {params!r}")
        params.model_validate(dict(defaults or {}))

        def decorator(builder: Any) -> Any:
            if name in self._entries:
                existing = self._entries[name].builder
                raise DuplicateNameError(
                    f"The {self.kind} name {name!r} is already registered by "
                    f"{existing.__module__}.{existing.__qualname__}; "
                    f"{builder.__module__}.{builder.__qualname__} cannot take it. Choose "
                    f"another name (a lab prefix such as 'mylab_{name}' avoids clashes).")
            self._entries[name] = Entry(name, builder, params, dict(defaults or {}))
            return builder

        return decorator

    def unregister(self, name: str) -> None:
        """Remove ``name`` (a plugin being reloaded, a test's own part)."""
        self.entry(name)
        del self._entries[name]

    def entry(self, name: str) -> Entry:
        """The :class:`Entry` behind ``name``.

        Raises:
            UnknownNameError: With the known names and close matches.
        """
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise UnknownNameError(self.kind, str(name), self._entries) from None

    def names(self) -> list[str]:
        """All registered names, sorted."""
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def spec(self, name: str, values: Mapping[str, Any] | None = None) -> PartSpec:
        """Validate ``values`` against part ``name``'s params model (variant defaults first).

        Raises:
            UnknownNameError: An unknown name.
            ParamsError: An unknown parameter or a refused value.
        """
        entry = self.entry(name)
        try:
            params = entry.params.model_validate({**entry.defaults, **dict(values or {})})
        except ValidationError as err:
            raise self._params_error(entry, err) from err
        return PartSpec(self.kind, name, params)

    def create(self, spec: PartSpec, **structural: Any) -> BuiltT:
        """Build the part ``spec`` names; ``structural`` per the registry's contract.

        Raises:
            ValueError: When ``spec`` belongs to another kind.
        """
        if spec.kind != self.kind:
            raise ValueError(f"a {spec.kind} spec ({spec.name!r}) cannot build a {self.kind}")
        built: BuiltT = self.entry(spec.name).builder(spec.params, **structural)
        return built

    def accepted(self, name: str) -> tuple[str, ...]:
        """``"param=default"`` for each parameter of ``name`` (variant defaults applied)."""
        defaults = self.defaults(name)
        return tuple(f"{key}={value_text(getattr(defaults, key))}"
                     for key in type(defaults).model_fields)

    def defaults(self, name: str) -> Params:
        """The parameters of ``name`` when none are given (its variant's defaults applied)."""
        entry = self.entry(name)
        return entry.params.model_validate(dict(entry.defaults))

    def _params_error(self, entry: Entry, err: ValidationError) -> ParamsError:
        known = tuple(entry.params.model_fields)
        problems = []
        nested: list[dict[str, Any] | None] = []
        for item in err.errors(include_url=False):
            loc = tuple(item["loc"])
            context = item.get("ctx") or {}
            if item["type"] == "extra_forbidden":
                problems.append((loc, f"unknown parameter {loc[-1]!r}", item["input"],
                                 did_you_mean(loc[-1], known)))
            else:
                message = item["msg"].removeprefix("Value error, ")
                problems.append((loc, message[:1].lower() + message[1:], item.get("input"),
                                 context.get("suggestion")))
            # A nested part's own error (a U-Net's norm) keeps its own listing.
            nested.append(dict(context) if "allowed" in context else None)
        causes = [item["type"] for item in err.errors(include_url=False)]
        return ParamsError(self.kind, entry.name, problems, self.accepted(entry.name), causes,
                           nested)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, names={self.names()})"


def registry(kind: str) -> Registry[Any]:
    """The registry of ``kind``; its package must have been imported (it registers on import).

    Raises:
        UnknownNameError: When no registry has that kind.
    """
    try:
        return _REGISTRIES[kind]
    except KeyError:
        raise UnknownNameError("kind", str(kind), _REGISTRIES) from None


def has_registry(kind: str) -> bool:
    """Whether a registry of ``kind`` exists (its package has been imported)."""
    return kind in _REGISTRIES


def kinds() -> list[str]:
    """Every kind that has a registry in this process, sorted."""
    return sorted(_REGISTRIES)


def value_text(value: Any) -> str:
    """A parameter value as docs and error messages show it (JSON, parts by name)."""
    if isinstance(value, PartSpec):
        return str(value)
    if isinstance(value, tuple) and value and all(isinstance(v, PartSpec) for v in value):
        return "[" + ", ".join(map(str, value)) + "]"
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    return json.dumps(value, default=str) if not isinstance(value, str) else value
