"""Sweep-configuration errors: one line per problem, naming the YAML path and a fix.

Why a module of its own: pydantic reports a location as a tuple such as
``("variants", 2, "config", "model", "se_ratio")`` and a message written for Python
programmers ("Input should be a valid integer"). A person editing a sweep file needs
the path as they would write it (``variants[2].model.se_ratio``), the value that came
in, the values that are allowed and the closest one to what they typed. This module
does that translation once, for the sweep loader, the command-line overrides and the
search samples alike (pydantic-settings ``sources/providers/yaml.py`` names the
file and key in the same spirit).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from data_pipeline.parts import did_you_mean

__all__ = [
    "ConfigError",
    "NO_VALUE",
    "Problem",
    "did_you_mean",
    "format_path",
    "problems_from_validation",
]

NO_VALUE: Any = object()
"""Marks a :class:`Problem` without a value to show (a missing or an unknown key)."""

_NUMBER_TEXT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_MAX_VALUE_CHARS = 80
_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/@\s'\"]+@")


class ConfigError(ValueError):
    """A sweep file, an override or a search sample is invalid.

    The message lists every problem found, one per line, as
    ``<source>: <yaml path>: <problem>; got <value>; allowed: <...>; did you mean '<x>'?``
    so that all mistakes are fixed in one edit, before Ray starts.

    Attributes:
        problems: The individual problems, in the order found.
    """

    def __init__(self, problems: Sequence[Problem | str]) -> None:
        self.problems = tuple(str(p) for p in problems)
        super().__init__("\n".join(self.problems))

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle and copy with the problems (a trial's error crosses the Ray boundary)."""
        return type(self), (self.problems,)


@dataclass(frozen=True)
class Problem:
    """One mistake: where (source and path), what, the value, and what would be right."""

    source: str
    path: tuple[str | int, ...]
    problem: str
    got: Any = NO_VALUE
    allowed: tuple[str, ...] = ()
    suggestion: str | None = None
    allowed_label: str = "allowed"

    def __str__(self) -> str:
        parts = [f"{self.source}: {format_path(self.path)}: {self.problem}" if self.path
                 else f"{self.source}: {self.problem}"]
        if self.got is not NO_VALUE:
            parts.append(f"got {_short_repr(self.got)}")
        if self.allowed:
            parts.append(f"{self.allowed_label}: {', '.join(self.allowed)}")
        if self.suggestion is not None:
            parts.append(f"did you mean {self.suggestion!r}?")
        # A URI written with user:password@ is refused; its password is not printed.
        return _USERINFO.sub(r"\1***@", "; ".join(parts))


def format_path(loc: Iterable[str | int]) -> str:
    """Write a location as a YAML path: ``variants[2].model.se_ratio``.

    Integers are list indices; keys that are not plain names (``model.se_ratio`` as a
    search-space key) are quoted in brackets: ``search.space["model.se_ratio"].choice``.
    """
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _IDENTIFIER.match(part):
            text += f".{part}" if text else part
        else:
            text += f"[{part!r}]".replace("'", '"')
    return text


def problems_from_validation(
    error: ValidationError, source: str, root: type[BaseModel]
) -> list[Problem]:
    """Translate a pydantic error into :class:`Problem` lines.

    Args:
        error: What ``root.model_validate`` raised.
        source: The file (or override) the data came from, put first on every line.
        root: The model that was validated, used to list the keys allowed next to an
            unknown key.

    Returns:
        One problem per pydantic error, duplicates removed, in pydantic's order. A
        custom error may carry ``allowed``, ``got`` and ``suggestion`` in its context.
    """
    problems: list[Problem] = []
    for item in error.errors(include_url=False):
        problem = _problem(item, source, root)
        if problem not in problems:
            problems.append(problem)
    return problems


def _problem(item: Mapping[str, Any], source: str, root: type[BaseModel]) -> Problem:
    loc = tuple(p for p in item["loc"] if p != "[key]")
    kind, ctx, value = item["type"], item.get("ctx") or {}, item.get("input")
    if kind == "extra_forbidden":
        allowed = keys_at(root, loc[:-1])
        return Problem(source, loc, f"unknown key {loc[-1]!r}", allowed=allowed,
                       suggestion=did_you_mean(loc[-1], allowed))
    if kind == "missing":
        return Problem(source, loc, "missing required key")
    message = item["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    message = message[:1].lower() + message[1:]
    if isinstance(value, str) and _NUMBER_TEXT.match(value) \
            and ctx.get("cause", kind).endswith("_type"):
        message += " (YAML reads numbers such as 1e-4 as text: write 1.0e-4)"
    if "allowed" in ctx:
        allowed = tuple(str(a) for a in ctx["allowed"])
        suggestion = ctx["suggestion"] if "suggestion" in ctx else did_you_mean(value, allowed)
        return Problem(source, loc, message, got=ctx.get("got", value), allowed=allowed,
                       suggestion=suggestion, allowed_label=ctx.get("allowed_label", "allowed"))
    got = ctx.get("got", NO_VALUE if isinstance(value, Mapping) else value)
    return Problem(source, loc, message, got=got)


def keys_at(root: type[BaseModel], loc: Sequence[str | int]) -> tuple[str, ...]:
    """The keys a YAML mapping may hold at ``loc`` below ``root`` (empty if unknown).

    A model can list its keys in a ``yaml_keys`` class variable when the YAML form
    differs from its fields (a variant's sections are written at its top level).
    """
    annotation: Any = root
    for part in loc:
        model = _model_in(annotation)
        if model is not None and isinstance(part, str):
            field = model.model_fields.get(part)
            annotation = field.annotation if field is not None else None
        else:
            annotation = _item_type(annotation)
    model = _model_in(annotation)
    if model is None:
        return ()
    return tuple(getattr(model, "yaml_keys", None) or model.model_fields)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (Union, type(int | None)) or _is_annotated(annotation):
        for arg in get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None


def _item_type(annotation: Any) -> Any:
    if _is_annotated(annotation) or get_origin(annotation) in (Union, type(int | None)):
        for arg in get_args(annotation):
            if get_origin(arg) in (tuple, list, dict) or _is_annotated(arg):
                return _item_type(arg)
        return None
    args = get_args(annotation)
    if not args:
        return None
    return args[-1] if get_origin(annotation) is dict else args[0]


def _is_annotated(annotation: Any) -> bool:
    return hasattr(annotation, "__metadata__")


def _short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_VALUE_CHARS else text[: _MAX_VALUE_CHARS - 3] + "..."
