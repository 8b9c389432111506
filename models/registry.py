"""Name -> builder registries for every swappable part of the network and its training.

Why a registry: every ablation knob of Dobshik et al. (2023, arXiv:2301.06793) is a
name in a sweep YAML, never an ``if`` chain. A builder is registered next to its
definition with a decorator; a *named variant* is the same builder plus default
keyword arguments, and the caller's keyword arguments win over those defaults
(the ``resnet*`` entrypoints of timm ``_registry.py``, made stricter):

- a duplicate name raises :class:`DuplicateNameError` instead of silently replacing;
- an unknown name raises :class:`UnknownNameError` listing the known names and the
  closest matches (MONAI ``look_up_option``);
- the project registers its parts through explicit imports in ``models/__init__.py``,
  never by scanning folders; a lab registers its own parts from its own package,
  either by importing :func:`get_registry` and decorating, or through an entry point
  in the group :data:`PLUGIN_GROUP` that :func:`load_plugins` imports.

Example:
    >>> from models.registry import Registry
    >>> acts = Registry("activation")
    >>> @acts.register("scaled", defaults={"scale": 2.0})
    ... def scaled(scale: float = 1.0) -> float:
    ...     return scale
    >>> acts.build("scaled"), acts.build("scaled", scale=3.0)
    (2.0, 3.0)
"""

from __future__ import annotations

import difflib
import importlib.metadata
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

__all__ = [
    "KINDS",
    "PLUGIN_GROUP",
    "DuplicateNameError",
    "Entry",
    "PluginError",
    "Registry",
    "UnknownNameError",
    "get_registry",
    "list_names",
    "load_plugins",
]

logger = logging.getLogger(__name__)

PLUGIN_GROUP = "stroke_platform.plugins"
"""Entry-point group whose members :func:`load_plugins` imports (and calls, if callable)."""

KINDS: tuple[str, ...] = (
    "model",
    "block",
    "norm",
    "activation",
    "upsample",
    "loss",
    "optimizer",
    "schedule",
)
"""The kinds of parts the project knows, one registry each."""

BuilderT = TypeVar("BuilderT", bound=Callable[..., Any])


def _close_matches(name: str, known: list[str]) -> list[str]:
    return difflib.get_close_matches(name, known, n=3, cutoff=0.5)


class UnknownNameError(KeyError):
    """A name that no registry entry (or no registry kind) answers to.

    The message lists every known name and the closest matches, so a typo in a sweep
    file is fixed from the error alone. ``__str__`` is overridden because ``KeyError``
    would otherwise print the message inside quotes with escaped newlines.

    Attributes:
        kind: The registry kind searched (``"kind"`` when the kind itself was unknown).
        name: The name that was asked for.
        known: The names that were available, sorted.
        suggestions: Close matches from ``difflib``, best first (may be empty).
    """

    def __init__(self, kind: str, name: str, known: list[str]) -> None:
        self.kind = kind
        self.name = name
        self.known = sorted(known)
        self.suggestions = _close_matches(name, self.known)
        hint = f" Did you mean {' or '.join(repr(s) for s in self.suggestions)}?"
        message = (
            f"Unknown {kind} name {name!r}."
            f"{hint if self.suggestions else ''}"
            f" Known {kind} names: {', '.join(self.known) or '(none registered)'}."
        )
        if kind != "kind":
            message += (
                f" To add one, decorate a builder with "
                f"@models.registry.get_registry({kind!r}).register('your_name') or ship it "
                f"as a {PLUGIN_GROUP!r} entry point."
            )
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class DuplicateNameError(ValueError):
    """A second builder registered under a name that is already taken."""


class PluginError(ImportError):
    """A plugin entry point that failed to import or to register its parts."""


@dataclass(frozen=True)
class Entry:
    """One registered builder.

    Attributes:
        name: The registered name.
        builder: The callable that builds the part.
        defaults: Keyword arguments applied before the caller's (a named variant).
    """

    name: str
    builder: Callable[..., Any]
    defaults: Mapping[str, Any] = field(default_factory=dict)


class Registry:
    """Names -> builders for one kind of part (``"model"``, ``"loss"``, ...).

    Args:
        kind: What the registry holds; used in error messages and the CLI listing.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def register(
        self, name: str, *, defaults: dict[str, Any] | None = None
    ) -> Callable[[BuilderT], BuilderT]:
        """Decorator that registers a builder under ``name``.

        Stack the decorator to register named variants of one builder, each with its
        own ``defaults``.

        Args:
            name: The public name (snake_case, as written in a sweep YAML).
            defaults: Keyword arguments the variant fixes; caller keyword arguments win.

        Returns:
            The decorator, which returns the builder unchanged.

        Raises:
            DuplicateNameError: When ``name`` is already registered in this kind.
            TypeError: When ``name`` is not a non-empty string.
        """
        if not isinstance(name, str) or not name:
            raise TypeError(f"A {self.kind} name must be a non-empty str, got {name!r}.")

        def decorator(builder: BuilderT) -> BuilderT:
            if name in self._entries:
                existing = self._entries[name].builder
                raise DuplicateNameError(
                    f"The {self.kind} name {name!r} is already registered by "
                    f"{existing.__module__}.{existing.__qualname__}; "
                    f"{builder.__module__}.{builder.__qualname__} cannot take it. "
                    f"Choose another name (a lab prefix such as 'mylab_{name}' avoids clashes)."
                )
            self._entries[name] = Entry(name, builder, dict(defaults or {}))
            logger.debug("registered %s %r -> %s", self.kind, name, builder.__qualname__)
            return builder

        return decorator

    def unregister(self, name: str) -> None:
        """Remove ``name``; for a plugin being reloaded or a test that registered a part.

        Raises:
            UnknownNameError: When ``name`` is not registered.
        """
        self.entry(name)
        del self._entries[name]

    def entry(self, name: str) -> Entry:
        """The :class:`Entry` behind ``name`` (builder plus variant defaults).

        Raises:
            UnknownNameError: When ``name`` is not registered, with the known names.
        """
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self.kind, str(name), self.names()) from None

    def get(self, name: str) -> Callable[..., Any]:
        """The builder behind ``name`` (without the variant defaults).

        Raises:
            UnknownNameError: When ``name`` is not registered, with the known names.
        """
        return self.entry(name).builder

    def build(self, name: str, **kwargs: Any) -> Any:
        """Build the part ``name``: variant defaults first, then ``kwargs`` win.

        Raises:
            UnknownNameError: When ``name`` is not registered, with the known names.
        """
        entry = self.entry(name)
        return entry.builder(**{**entry.defaults, **kwargs})

    def names(self) -> list[str]:
        """All registered names, sorted."""
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, names={self.names()})"


_REGISTRIES: dict[str, Registry] = {kind: Registry(kind) for kind in KINDS}


def get_registry(kind: str) -> Registry:
    """The project-wide registry of one kind.

    Raises:
        UnknownNameError: When ``kind`` is not one of :data:`KINDS`.
    """
    try:
        return _REGISTRIES[kind]
    except KeyError:
        raise UnknownNameError("kind", str(kind), list(KINDS)) from None


def list_names(kind: str) -> list[str]:
    """The registered names of one kind, sorted (for CLIs, sweep validation and tests)."""
    return get_registry(kind).names()


_loaded_plugins: set[str] = set()


def load_plugins() -> list[str]:
    """Import every ``stroke_platform.plugins`` entry point not imported yet.

    An entry point names either a module whose import registers parts with the
    decorators above (``mylab.parts``) or a function called with no arguments
    (``mylab.parts:register``). Loading is idempotent: a plugin already loaded in this
    process is skipped, so calling this again after installing a package is cheap.

    Returns:
        The names of the entry points loaded by this call.

    Raises:
        PluginError: When a plugin fails to import or to register; the message names the
            entry point, what it points to and its distribution. A broken plugin stops
            the import instead of silently dropping the parts a sweep may name.
    """
    loaded: list[str] = []
    for point in importlib.metadata.entry_points(group=PLUGIN_GROUP):
        key = f"{point.name}={point.value}"
        if key in _loaded_plugins:
            continue
        dist = point.dist.name if point.dist is not None else "unknown distribution"
        try:
            target = point.load()
            if callable(target):
                target()
        except Exception as err:  # noqa: BLE001 -- any plugin failure is re-raised with its name
            raise PluginError(
                f"Plugin {point.name!r} ({point.value}, from {dist}) in entry-point group "
                f"{PLUGIN_GROUP!r} failed: {type(err).__name__}: {err}. Fix the plugin or "
                f"uninstall {dist}."
            ) from err
        _loaded_plugins.add(key)
        loaded.append(point.name)
        logger.info("loaded plugin %r from %s", point.name, dist)
    return loaded
