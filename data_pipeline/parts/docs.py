"""Parameter tables of registered parts, made from their params models (so they cannot drift).

Why generated: a default written in a table by hand drifts from the code. Each part's
parameters, types, defaults and field docstrings are read from its params model; the
same rendering feeds ``python -m models list`` and ``docs/parameters.md``
(``python -m platform.parameters``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

from data_pipeline.parts.fields import PartOf
from data_pipeline.parts.registry import Registry, value_text

__all__ = ["ParamDoc", "describe", "render_markdown", "render_text", "type_text"]


@dataclass(frozen=True)
class ParamDoc:
    """One parameter of a part, as the generated docs show it."""

    name: str
    type: str
    default: str
    description: str


def describe(parts: Registry[Any], name: str) -> list[ParamDoc]:
    """Every parameter of part ``name`` with its type, default and docstring."""
    defaults = parts.defaults(name)
    return [ParamDoc(key, type_text(info.annotation, info.metadata),
                     value_text(getattr(defaults, key)), " ".join((info.description or "").split()))
            for key, info in type(defaults).model_fields.items()]

def type_text(annotation: Any, metadata: Iterable[Any] = ()) -> str:
    """A field's type as a reader writes it: ``float > 0.0``, ``list of int``, ``norm part``."""
    bounds = []
    for item in [*metadata, *getattr(annotation, "__metadata__", ())]:
        if isinstance(item, PartOf):
            return f"{item.kind} part"
        for bound in getattr(item, "metadata", [item]):
            for attribute, sign in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
                value = getattr(bound, attribute, None)
                if value is not None:
                    bounds.append(f"{sign} {value}")
    base = getattr(annotation, "__origin__", None) if hasattr(annotation, "__metadata__") \
        else None
    inner = annotation.__origin__ if base is not None else annotation
    origin, args = get_origin(inner), get_args(inner)
    if origin in (Union, UnionType):
        text = " or ".join(type_text(a) for a in args).replace("NoneType", "null")
    elif origin is tuple:
        item = type_text(args[0]) if args else "any"
        text = f"list of {item}" if len(args) != 2 or args[1] is Ellipsis else \
            f"list of {len(args)}"
        if args and args[-1] is not Ellipsis:
            text = f"{len(args)} x {item}"
            if len(set(args)) > 1:  # a pair of different things: [str, mapping ...]
                text = "[" + ", ".join(type_text(a) for a in args) + "]"
    elif origin is dict:
        text = f"mapping {type_text(args[0])} -> {type_text(args[1])}"
    elif origin is Literal:
        text = " or ".join(repr(a) for a in args)
    else:
        text = getattr(inner, "__name__", str(inner)).replace("NoneType", "null")
    return " ".join([text, *bounds])


def render_text(registries: Iterable[Registry[Any]]) -> str:
    """Every part of each registry with its parameters, for a terminal."""
    lines: list[str] = []
    for parts in registries:
        lines.append(f"{parts.kind}:  {parts.contract}")
        for name in parts.names():
            lines.append(f"  {name}  {parts.entry(name).summary}")
            lines += [f"      {d.name} = {d.default}  ({d.type}) {d.description}"
                      for d in describe(parts, name)]
    return "\n".join(lines)


def render_markdown(registries: Iterable[Registry[Any]]) -> str:
    """One Markdown section per kind, one table per part (parameter, type, default, meaning)."""
    out: list[str] = []
    for parts in registries:
        out += [f"## {parts.kind}", "", f"Contract: `{parts.contract}`", ""]
        for name in parts.names():
            out += [f"### `{name}`", "", parts.entry(name).summary, ""]
            docs = describe(parts, name)
            if not docs:
                out += ["No parameters.", ""]
                continue
            out += ["| parameter | type | default | meaning |", "|---|---|---|---|"]
            out += [f"| `{d.name}` | {d.type} | `{d.default}` | "
                    f"{d.description.replace('|', '/')} |" for d in docs]
            out.append("")
    return "\n".join(out)
