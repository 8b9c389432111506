"""Parts from other packages: the ``stroke_platform.plugins`` entry-point group.

Why entry points: a lab adds its own loss or norm layer from its own package, without
editing this repository; installing the package makes the part available to every sweep
(``models/__init__.py`` calls :func:`load_plugins` once). Declare, in the lab package's
``pyproject.toml``::

    [project.entry-points."stroke_platform.plugins"]
    mylab = "mylab.parts"            # a module that registers on import, or "mylab.parts:register"
"""

from __future__ import annotations

import importlib.metadata
import logging

__all__ = ["PLUGIN_GROUP", "PluginError", "load_plugins"]

logger = logging.getLogger(__name__)

PLUGIN_GROUP = "stroke_platform.plugins"
"""Entry-point group whose members :func:`load_plugins` imports (and calls, if callable)."""


class PluginError(ImportError):
    """A plugin entry point that failed to import or to register its parts."""


_loaded_plugins: set[str] = set()


def load_plugins() -> list[str]:
    """Import every :data:`PLUGIN_GROUP` entry point not imported yet; return their names.

    An entry point names a module whose import registers parts (``mylab.parts``) or a
    function called with no arguments (``mylab.parts:register``). Idempotent.

    Raises:
        PluginError: A plugin failed; names the entry point and its distribution. A
            broken plugin stops the import instead of silently dropping parts a sweep names.
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
                f"uninstall {dist}.") from err
        _loaded_plugins.add(key)
        loaded.append(point.name)
        logger.info("loaded plugin %r from %s", point.name, dist)
    return loaded
