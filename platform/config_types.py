"""Field types and validators shared by every section of a sweep file.

Why one module: every section is strict (no silent ``"5"`` -> 5), refuses unknown keys
and is immutable, and every refusal must carry what :mod:`platform.config_errors` needs
to write a helpful line (``allowed`` values, the value that came in). Registry names are
looked up lazily and once (:func:`registered_names`), because the registries import
torch and importing the config must stay cheap.
"""

from __future__ import annotations

import functools
import importlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

__all__ = [
    "AbsPath",
    "Failure",
    "Fraction",
    "MAX_PATCH",
    "Name",
    "NonNegative",
    "Positive",
    "Section",
    "Shape3",
    "VolumeShape",
    "absolute_path",
    "as_tuple",
    "fail",
    "int_keys",
    "one_of",
    "registered",
    "registered_names",
]

MAX_PATCH = 512
"""Largest patch edge in voxels: a whole 512-pixel slice; beyond it a typo is likely."""

_NAME_SOURCES: Mapping[str, tuple[str, str, tuple[str, ...]]] = {
    **{kind: ("models.registry", "list_names", (kind,)) for kind in (
        "model", "norm", "activation", "upsample", "loss", "optimizer", "schedule")},
    "preprocessing step": ("data_pipeline.preprocess", "list_steps", ()),
    "sampler": ("data_pipeline.samplers", "list_samplers", ()),
    "augmentation": ("data_pipeline.samplers", "list_augmentations", ()),
}


@functools.cache
def registered_names(kind: str) -> tuple[str, ...]:
    """The names a sweep may use for ``kind`` (``"norm"``, ``"sampler"``, ...), read once.

    The first call imports the registry (and with it torch); later calls are free.
    Names registered after the first call are not seen (restart the process).
    """
    module, function, args = _NAME_SOURCES[kind]
    return tuple(getattr(importlib.import_module(module), function)(*args))


Failure = tuple[tuple[str | int, ...], str, Any, Mapping[str, Any]]
"""``(loc, message, value, context)``; the context may hold ``allowed`` and ``suggestion``."""


def fail(title: str, problems: list[Failure]) -> None:
    """Raise one pydantic error holding several problems, each at its own location.

    Why: a model validator may find more than one cross-field problem and should name
    each knob's own path (``se_ratio``), not the enclosing section. Pydantic prefixes
    the locations with the path of the model being validated. No problems: no error.
    """
    if not problems:
        return
    details = [
        InitErrorDetails(type=PydanticCustomError("invalid", message, dict(ctx)), loc=loc,
                         input=value)
        for loc, message, value, ctx in problems
    ]
    raise ValidationError.from_exception_data(title, details)


def registered(kind: str) -> AfterValidator:
    """Accept only a name registered for ``kind``; the error lists the registered names."""

    def check(name: str) -> str:
        allowed = registered_names(kind)
        if name not in allowed:
            raise PydanticCustomError("unknown_name", f"unknown {kind} name", {"allowed": allowed})
        return name

    return AfterValidator(check)


def one_of(*values: Any) -> BeforeValidator:
    """Accept exactly these values (``True`` is not ``1``); the error lists them."""

    def check(value: Any) -> Any:
        if not any(type(value) is type(v) and value == v for v in values):
            shown = tuple(str(v).lower() if isinstance(v, bool) else str(v) for v in values)
            raise PydanticCustomError("not_allowed", "value not allowed", {"allowed": shown})
        return value

    return BeforeValidator(check)


def as_tuple(value: Any) -> Any:
    """Turn a YAML list into the tuple a strict, frozen field expects."""
    return tuple(value) if isinstance(value, list) else value


def int_keys(value: Any) -> Any:
    """Accept ``{"0": ...}`` as ``{0: ...}``: a JSON dump (Ray, MLflow) writes keys as text."""
    if isinstance(value, dict):
        return {int(k) if isinstance(k, str) and k.isdigit() else k: v for k, v in value.items()}
    return value


def absolute_path(value: Any) -> Path:
    """Resolve a path against the working directory now, so Ray workers started in
    other folders (Tune changes a trial's working directory) see the same file."""
    if isinstance(value, str | Path) and str(value):
        return Path(os.path.abspath(os.path.expanduser(value)))
    raise PydanticCustomError("path_type", "expected a path (text)")


AbsPath = Annotated[Path, BeforeValidator(absolute_path)]
"""A path; a relative one resolves against the working directory at load time."""

Positive = Annotated[int, Field(gt=0)]
NonNegative = Annotated[int, Field(ge=0)]
PatchEdge = Annotated[int, Field(gt=0, le=MAX_PATCH)]


def _three(value: Any) -> Any:
    if isinstance(value, list | tuple) and len(value) != 3:
        raise ValueError("expected 3 sizes in voxels, (z, y, x) order")
    return as_tuple(value)


Shape3 = Annotated[tuple[PatchEdge, PatchEdge, PatchEdge], BeforeValidator(_three)]
"""A patch size ``(z, y, x)`` in voxels, each in ``1 .. MAX_PATCH``."""

VolumeSide = Annotated[int, Field(ge=32, le=1024)]
VolumeShape = Annotated[tuple[VolumeSide, VolumeSide, VolumeSide], BeforeValidator(_three)]
"""A synthetic volume ``(z, y, x)``: at least 32 voxels a side (room for every tissue of
``data_pipeline.phantom``), at most 1024."""

Fraction = Annotated[float, Field(ge=0.0, lt=1.0)]
Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]+$", max_length=80)]
"""A sweep, variant or study name: it becomes part of trial ids, folders and MLflow names."""


class Section(BaseModel):
    """Base of every config section: strict types, no unknown keys, immutable."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)
