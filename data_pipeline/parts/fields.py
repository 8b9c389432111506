"""Config fields that hold a part: ``loss: {name: focal, gamma: 1.5}`` in pydantic models.

Why apart from the registry: this is the pydantic side of parts (parsing the YAML
spellings, locating a bad parameter at ``base.loss.gamma``, serializing back to
``{name, **params}``), used by every params model that holds a part (a U-Net's norm,
a sampler's augmentations) and by the sweep's config sections.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError, core_schema

from data_pipeline.parts.errors import ParamsError, did_you_mean
from data_pipeline.parts.registry import PartSpec, Registry, has_registry, registry

__all__ = ["Part", "PartOf", "part_mapping", "switch_part"]


def part_mapping(value: Any, default: str | None,
                 parts: Registry[Any]) -> tuple[Any, dict[str, Any]]:
    """Read a part as written in YAML -> ``(name, params)``.

    Spellings: ``name``; ``{name: x, **params}``; ``{x: {params}}`` (a one-key mapping
    whose key is a name of ``parts``, or no parameter of the ``default`` part); or a
    mapping of the ``default`` part's parameters, without a name.

    Raises:
        PydanticCustomError: Neither a name nor a mapping.
    """
    if isinstance(value, str):
        return value, {}
    if not isinstance(value, Mapping):
        raise PydanticCustomError("part_type", "write a part as a name or a mapping "
                                  "{name: ..., param: value}")
    if set(value) == {"name", "params"} and isinstance(value["params"], Mapping):
        return value["name"], dict(value["params"])  # the older {name, params} spelling
    if "name" in value:
        rest = dict(value)
        return rest.pop("name"), rest
    if len(value) == 1:
        ((key, params),) = value.items()
        own = (parts.entry(default).params.model_fields
               if default is not None and default in parts else {})
        if (isinstance(params, Mapping) or params is None) and (key in parts or key not in own):
            return key, dict(params or {})
    return default, dict(value)


def switch_part(value: Any, name: str, default: str | None, parts: Registry[Any]) -> Any:
    """``value`` (a part as written) switched to part ``name``.

    Parameters the new part also takes, declared alike (same type), are kept, except
    those its name fixes (a named variant's defaults: ``unet3d`` means ``residual:
    false``); the others belonged to the old part and are dropped. A parameter of the
    same name but another type means something else: the U-Net's ``norm`` is one of our
    norm parts, SegResNet's a MONAI layer spec, and keeping it would silently replace
    MONAI's default. A value that is not a part comes back as it was, for validation to
    report where it was written.
    """
    try:
        old, params = part_mapping({} if value is None else value, default, parts)
    except ValueError:
        return {"name": name}
    if old == name:
        return {"name": name, **params}
    if name not in parts:
        return {"name": name}
    entry = parts.entry(name)
    fields = entry.params.model_fields
    before = parts.entry(old).params.model_fields if old in parts else fields
    kept = {k: v for k, v in params.items()
            if k in fields and k not in entry.defaults and (
                k not in before or _declared(before[k]) == _declared(fields[k]))}
    return {"name": name, **kept}


def _declared(field: Any) -> tuple[Any, list[Any]]:
    """A pydantic field's type as declared: annotation and constraints."""
    return field.annotation, field.metadata


@dataclass(frozen=True)
class PartOf:
    """Pydantic annotation for a config field holding one part of ``kind``.

    Accepts ``"name"``, ``{name: x, param: value}``, ``{x: {param: value}}`` or a
    :class:`PartSpec`; a mapping without ``name`` means the ``default`` part. Validates
    the parameters against the part's params model, with errors located below the
    field (``base.loss.gamma``), and serializes back to ``{name, **params}``.

    Example: ``loss: Annotated[PartSpec, PartOf("loss", "bce_dice", home="models")]``.
    """

    kind: str
    default: str | None = None
    home: str | None = None
    """Module whose import registers ``kind``, imported on first use (the network's
    registries import torch, which a config check does not otherwise need)."""

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            self.validate,
            serialization=core_schema.plain_serializer_function_ser_schema(
                _dump_part, when_used="always"))

    def registry(self) -> Registry[Any]:
        """The registry of :attr:`kind`, importing :attr:`home` first if needed."""
        return _import_kind(self.kind, self.home)

    def validate(self, value: Any) -> PartSpec:
        """Turn YAML into a :class:`PartSpec`; raise pydantic errors located per parameter."""
        if isinstance(value, PartSpec):
            if value.kind != self.kind:
                raise PydanticCustomError("part_kind", f"expected a {self.kind}, got a "
                                          f"{value.kind}")
            return value
        parts = self.registry()
        name, values = part_mapping(value, self.default, parts)
        if not isinstance(name, str) or name not in parts:
            shown = parts.names()
            raise PydanticCustomError(
                "unknown_name", f"unknown {self.kind} name",
                {"allowed": tuple(shown), "got": name, "suggestion": did_you_mean(name, shown)})
        try:
            return parts.spec(name, values)
        except ParamsError as err:
            raise _located(err) from err


def Part(kind: str, default: str, *, home: str | None = None) -> Any:  # noqa: N802 -- a type
    """The annotation of a params or config field holding one part of ``kind``.

    Example: ``norm: Part("norm", "instance")``: written ``group`` or ``{name: group,
    num_groups: 4}``, or left out for the ``instance`` part with its defaults.

    Args:
        kind: The registry kind.
        default: The part used when the field is left out, or written as a mapping of
            parameters without ``name``.
        home: See :attr:`PartOf.home`.
    """
    return Annotated[PartSpec, PartOf(kind, default, home),
                     Field(default_factory=lambda: _import_kind(kind, home).spec(default))]


def _dump_part(value: Any) -> Any:
    return value.dump() if isinstance(value, PartSpec) else value


def _located(err: ParamsError) -> ValidationError:
    """A :class:`ParamsError` as pydantic line errors, one per parameter, each carrying
    the part's parameters with their defaults for the config's error lines (or, for an
    error of a part nested in this one, that part's own listing)."""
    part = f"{err.kind} {err.name!r}"
    details = []
    for (loc, message, value, suggestion), cause, nested in zip(
            err.problems, err.causes, err.nested, strict=True):
        context: dict[str, Any] = nested or {
            "allowed": err.accepted, "suggestion": suggestion,
            "allowed_label": f"{part} parameters"}
        context["cause"] = cause
        text = message if nested else \
            f"{message} ({part}{'' if err.accepted else ' takes no parameters'})"
        details.append(InitErrorDetails(type=PydanticCustomError("bad_param", text, context),
                                        loc=loc, input=value))
    return ValidationError.from_exception_data(part, details)


@functools.cache
def _import_kind(kind: str, home: str | None) -> Registry[Any]:
    if not has_registry(kind) and home is not None:
        importlib.import_module(home)
    return registry(kind)
