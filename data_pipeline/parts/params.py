"""The base of every part's parameters, and the validators its fields share.

Why apart from the registry: a part's module (a loss, a norm layer, a preprocessing
step) needs only this to declare what it takes; the registry that looks parts up by
name is a separate concern. Strict, frozen and closed to unknown keys, so a sweep file
cannot pass a value the part would silently ignore.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = ["NoParams", "Params", "as_tuple", "int_keys"]


def as_tuple(value: Any) -> Any:
    """Turn a YAML list into the tuple a strict, frozen field expects (a ``BeforeValidator``)."""
    return tuple(value) if isinstance(value, list) else value


def int_keys(value: Any) -> Any:
    """Accept ``{"0": ...}`` as ``{0: ...}``: a JSON dump (Ray, MLflow) writes keys as text."""
    if isinstance(value, dict):
        return {int(k) if isinstance(k, str) and k.isdigit() else k: v for k, v in value.items()}
    return value


class Params(BaseModel):
    """Base of every part's parameters: strict types, unknown keys refused, frozen.

    A field's docstring (the string literal under it) is its documentation: the
    parameter tables of ``docs/parameters.md`` and ``python -m models list`` are made
    from it, so they cannot drift from the code.
    """

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True,
                              use_attribute_docstrings=True)


class NoParams(Params):
    """A part without parameters."""
