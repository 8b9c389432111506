"""Field types and validators shared by every section of a sweep file.

Why one module: every section is strict (no silent ``"5"`` -> 5), refuses unknown keys
and is immutable, and every refusal must carry what :mod:`platform.config.errors` needs
to write a helpful line (``allowed`` values, the value that came in). Parts (a loss, a
sampler...) are fields typed with :func:`data_pipeline.parts.registry.Part`; their parameters
belong to the parts, not to this module.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from data_pipeline.parts import as_tuple

__all__ = [
    "AbsPath",
    "Failure",
    "Fraction",
    "Name",
    "NonNegative",
    "Positive",
    "Section",
    "StoragePath",
    "VolumeShape",
    "absolute_path",
    "fail",
    "one_of",
    "storage_location",
]

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


def one_of(*values: Any) -> BeforeValidator:
    """Accept exactly these values (``True`` is not ``1``); the error lists them."""

    def check(value: Any) -> Any:
        if not any(type(value) is type(v) and value == v for v in values):
            shown = tuple(str(v).lower() if isinstance(v, bool) else str(v) for v in values)
            raise PydanticCustomError("not_allowed", "value not allowed", {"allowed": shown})
        return value

    return BeforeValidator(check)


def absolute_path(value: Any) -> Path:
    """Resolve a path against the working directory now, so Ray workers started in
    other folders (Tune changes a trial's working directory) see the same file."""
    if isinstance(value, str | Path) and str(value):
        return Path(os.path.abspath(os.path.expanduser(value)))
    raise PydanticCustomError("path_type", "expected a path (text)")


AbsPath = Annotated[Path, BeforeValidator(absolute_path)]
"""A path; a relative one resolves against the working directory at load time."""

_URI = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]+)://(?P<rest>.*)$")
STORAGE_SCHEMES = ("s3",)
"""URI schemes a storage location may have besides a plain path (shared storage)."""


def storage_location(value: Any) -> str:
    """A storage location: ``s3://bucket[/prefix]`` kept as it is, or an absolute path.

    Why not :data:`AbsPath`: ``os.path.abspath("s3://b/x")`` is a local path (issue 12).
    Credentials never belong in the URI (``s3://KEY:SECRET@bucket``): they would be
    written to the resolved sweep, MLflow and logs; the environment carries them.
    """
    if not isinstance(value, str | Path) or not str(value):
        raise PydanticCustomError("path_type", "expected a path or an s3:// URI (text)")
    found = _URI.match(str(value))
    if found is None:
        return str(absolute_path(value))
    scheme, rest = found["scheme"].lower(), found["rest"]
    if scheme not in STORAGE_SCHEMES:
        raise PydanticCustomError("bad_scheme", "unsupported storage scheme '{scheme}'",
                                  {"scheme": scheme,
                                   "allowed": ("/shared/path", "s3://bucket/prefix")})
    bucket = rest.split("/", 1)[0]
    if "@" in bucket:
        raise PydanticCustomError(
            "credentials_in_uri", "credentials do not belong in the URI: set "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment instead")
    if not bucket:
        raise PydanticCustomError("no_bucket", "expected s3://BUCKET/prefix (no bucket given)")
    return f"{scheme}://{rest.rstrip('/')}"


StoragePath = Annotated[str, BeforeValidator(storage_location)]
"""A folder (absolute once loaded; shared by every node on a cluster) or ``s3://...``."""

Positive = Annotated[int, Field(gt=0)]
NonNegative = Annotated[int, Field(ge=0)]


def _three(value: Any) -> Any:
    if isinstance(value, list | tuple) and len(value) != 3:
        raise ValueError("expected 3 sizes in voxels, (z, y, x) order")
    return as_tuple(value)


VolumeSide = Annotated[int, Field(ge=32, le=1024)]
VolumeShape = Annotated[tuple[VolumeSide, VolumeSide, VolumeSide], BeforeValidator(_three)]
"""A synthetic volume ``(z, y, x)``: at least 32 voxels a side (room for every tissue of
``data_pipeline.synthetic.phantom``), at most 1024."""

Fraction = Annotated[float, Field(ge=0.0, lt=1.0)]
Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]+$", max_length=80)]
"""A sweep, variant or study name: it becomes part of trial ids, folders and MLflow names."""


class Section(BaseModel):
    """Base of every config section: strict types, no unknown keys, immutable."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True,
                              use_attribute_docstrings=True)
