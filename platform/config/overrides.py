"""Command-line overrides of a sweep file: ``train.iterations=200 cv.folds=2``.

Why here and not in the CLI: an override is validated exactly like the file, and the
order in which sources win is part of the configuration contract (STYLE.md; the
precedence tests of pydantic-settings). The order, lowest first:

1. the defaults of the schema (the paper's values);
2. ``base`` in the sweep file;
3. each variant's own sections in the sweep file;
4. command-line overrides, left to right (a later one wins over an earlier one).

Paths:

- ``cv.folds=2``, ``base.train.iterations=200``: a key of the file, as written there.
- ``train.iterations=200`` (a trial section first): shorthand for *every trial*; it sets
  the knob in ``base`` and in every variant, so a variant's own value is overridden too.
- ``variants[1].model.se=false`` or ``variants.se.model.se_ratio=8``: one variant, by
  index or by name.
- ``search.space["model.se_ratio"].choice=[4,8]``: a key holding dots, in brackets.

Values are parsed with ``yaml.safe_load`` (``2`` is an int, ``1.0e-4`` a float, ``[0, 1]``
a list, ``null`` None; an empty value is None).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from data_pipeline.parts.fields import switch_part
from platform.config.errors import ConfigError, Problem, did_you_mean, format_path
from platform.config.trial import TRIAL_SECTIONS, part_at

__all__ = ["Origin", "Override", "apply_overrides", "parse_override", "parse_path"]

KeyPath = tuple[str | int, ...]

_TOKEN = re.compile(r"""\.?([A-Za-z_][\w-]*)|\[(\d+)\]|\[("[^"]*"|'[^']*')\]""")


@dataclass(frozen=True)
class Override:
    """One ``path=value`` from the command line, parsed."""

    text: str
    path: KeyPath
    value: Any


@dataclass(frozen=True)
class Origin:
    """Where a validation error below ``target`` comes from: the override ``text``.

    ``path`` is the override's path as the user wrote it, shown in place of ``target``.
    """

    target: KeyPath
    path: KeyPath
    text: str


def parse_path(text: str) -> KeyPath:
    """Split ``variants[2].model.se_ratio`` into ``("variants", 2, "model", "se_ratio")``.

    Raises:
        ValueError: When the text is not a dotted path with optional ``[index]`` parts.
    """
    parts: list[str | int] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or (position == 0 and text.startswith(".")):
            raise ValueError(f"cannot read the path at {text[position:]!r}")
        name, index, quoted = match.groups()
        parts.append(name if name is not None else int(index) if index else quoted[1:-1])
        position = match.end()
    if not parts:
        raise ValueError("empty path")
    return tuple(parts)


def parse_override(text: str) -> Override:
    """Parse ``path=value``; the value is YAML (``cv.folds=2`` gives the int 2).

    Raises:
        ValueError: When ``=`` is missing, the path is malformed or the value is not YAML.
    """
    path_text, equals, value_text = text.partition("=")
    if not equals:
        raise ValueError("expected path=value, such as train.iterations=200")
    path = parse_path(path_text.strip())
    try:
        value = yaml.safe_load(value_text) if value_text.strip() else None
    except yaml.YAMLError as err:
        raise ValueError(f"the value is not valid YAML ({err.__class__.__name__})") from err
    return Override(text, path, value)


def apply_overrides(
    raw: dict[str, Any], texts: Sequence[str], top_keys: Collection[str]
) -> tuple[dict[str, Any], list[Origin]]:
    """Apply overrides to a copy of the file's mapping.

    Args:
        raw: The sweep file as loaded by ``yaml.safe_load`` (not modified).
        texts: The overrides, as typed, applied left to right.
        top_keys: The keys a sweep file may hold at its top level.

    Returns:
        The new mapping, and the origin of every path it changed, so that validation
        errors there are reported against the override rather than the file.

    Raises:
        ConfigError: Listing every override that is malformed or names no known section,
            variant or list position.
    """
    data = copy.deepcopy(raw)
    origins: list[Origin] = []
    problems: list[Problem] = []
    for text in texts:
        source = f"override {text!r}"
        try:
            override = parse_override(text)
            for target in _targets(data, override.path, top_keys):
                if not _switched_part(data, target, override.value):
                    _set(data, target, copy.deepcopy(override.value))
                origins.append(Origin(target, override.path, text))
        except _PathError as err:
            problems.append(Problem(source, err.path, err.problem, allowed=err.allowed,
                                    suggestion=err.suggestion))
        except ValueError as err:
            problems.append(Problem(source, (), str(err)))
    if problems:
        raise ConfigError(problems)
    return data, origins


class _PathError(ValueError):
    def __init__(self, path: KeyPath, problem: str, allowed: Sequence[str] = ()) -> None:
        super().__init__(f"{format_path(path)}: {problem}")
        self.path, self.problem, self.allowed = path, problem, tuple(allowed)
        self.suggestion = did_you_mean(path[-1], self.allowed) if self.allowed else None

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.path, self.problem, self.allowed)


def _targets(data: dict[str, Any], path: KeyPath, top_keys: Collection[str]) -> list[KeyPath]:
    head = path[0]
    if head in TRIAL_SECTIONS:
        variants = data.get("variants")
        count = len(variants) if isinstance(variants, list) else 0
        return [("base", *path)] + [("variants", i, *path) for i in range(count)]
    if head == "variants" and len(path) > 1:
        return [("variants", _variant_index(data.get("variants"), path[1]), *path[2:])]
    if head in top_keys:
        return [path]
    raise _PathError((head,), f"unknown key {head!r}", sorted({*top_keys, *TRIAL_SECTIONS}))


def _variant_index(variants: Any, key: str | int) -> int:
    entries = variants if isinstance(variants, list) else []
    names = [str(v.get("name")) for v in entries if isinstance(v, dict)]
    if isinstance(key, int):
        if not 0 <= key < len(entries):
            raise _PathError(("variants", key), f"no variant at index {key} "
                             f"(the file has {len(entries)})")
        return key
    if key not in names:
        raise _PathError(("variants", key), f"no variant named {key!r}", names)
    return names.index(key)


def _switched_part(data: dict[str, Any], target: KeyPath, value: Any) -> bool:
    """Set ``...loss.name=focal`` by switching the part: parameters the new part does not
    take are dropped (they belonged to the part it replaces), as a variant naming another
    part does. Returns False when ``target`` is not a part's name (nothing was set)."""
    if target[-1] != "name" or not isinstance(value, str) or len(target) < 3:
        return False
    root_length = 1 if target[0] == "base" else 2 if target[0] == "variants" else 0
    section: Any = data
    for key in target[:-2]:
        section = section.get(key) if isinstance(section, dict) else \
            section[key] if isinstance(section, list) and isinstance(key, int) else None
    if not root_length or not isinstance(section, dict):
        return False
    root: Any = data
    for key in target[:root_length]:
        root = root[key]
    marker = part_at(tuple(str(k) for k in target[root_length:-1]), root)
    if marker is None:
        return False
    section[target[-2]] = switch_part(section.get(target[-2]), value, marker.default,
                                      marker.registry())
    return True


def _set(data: dict[str, Any], path: KeyPath, value: Any) -> None:
    target: Any = data
    for depth, part in enumerate(path[:-1]):
        child = _child(target, part, path[: depth + 1])
        if child is None:
            child = {}
            target[part] = child
        target = child
    _child(target, path[-1], path)
    target[path[-1]] = value


def _child(container: Any, part: str | int, where: KeyPath) -> Any:
    if isinstance(container, dict):
        return container.get(part)
    if isinstance(container, list) and isinstance(part, int) and 0 <= part < len(container):
        return container[part]
    kind = "list" if isinstance(container, list) else type(container).__name__
    raise _PathError(where, f"cannot set {part!r} inside a {kind}")
