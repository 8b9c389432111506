"""Re-export Python's standard ``platform`` module from this package.

Why this exists: the user's fixed layout names the orchestration package ``platform``,
which shadows the standard library module of the same name whenever the repository root
is on ``sys.path`` (``python -m platform.sweep``, ``python -m pytest``, Ray workers started
with ``PYTHONPATH=<repo>``). ``uuid``, torch, Ray, MLflow and NumPy call
``platform.system()``, ``platform.machine()`` and friends, so the package must behave
exactly like the standard module as well as hold our submodules.

How: the standard ``platform.py`` is executed from its file under the private name
``_stdlib_platform`` (registered in ``sys.modules`` so that it is loaded once), and every
public and private name except dunders is copied into the package namespace. Functions
and classes it defines are re-homed to ``__module__ = "platform"`` so that values such as
``platform.uname()`` pickle by reference and unpickle in another process, whichever of the
two ``platform`` modules that process imported.

Where the standard module is imported first (bare ``pytest``, a Ray worker without the
repository on ``PYTHONPATH``), ``platform.trial.run`` cannot be found ("'platform' is not a
package"): run tests as ``python -m pytest`` and give Ray workers the repository on
``PYTHONPATH`` (see ``platform.tune.env``), or use the ``stroke-sweep`` console script.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from types import ModuleType
from typing import Any

__all__ = ["STDLIB_MODULE_NAME", "load_stdlib_platform", "reexport_into", "stdlib_fingerprint"]

STDLIB_MODULE_NAME = "_stdlib_platform"


def load_stdlib_platform() -> ModuleType:
    """Return the standard library's ``platform`` module, loaded once under a private name."""
    cached = sys.modules.get(STDLIB_MODULE_NAME)
    if cached is not None:
        return cached
    path = os.path.join(os.path.dirname(os.__file__), "platform.py")
    spec = importlib.util.spec_from_file_location(STDLIB_MODULE_NAME, path)
    if spec is None or spec.loader is None:  # pragma: no cover - a broken Python install
        raise ImportError(f"cannot load the standard library's platform module from {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[STDLIB_MODULE_NAME] = module
    spec.loader.exec_module(module)
    return module


def reexport_into(namespace: dict[str, Any]) -> list[str]:
    """Copy the standard module's names (not dunders) into ``namespace``; return them."""
    stdlib = load_stdlib_platform()
    names = []
    for name, value in vars(stdlib).items():
        if name.startswith("__") and name.endswith("__"):
            continue
        if getattr(value, "__module__", None) == STDLIB_MODULE_NAME:
            value.__module__ = "platform"
        namespace[name] = value
        names.append(name)
    return names


def stdlib_fingerprint() -> dict[str, Any]:
    """Answers of ``platform``'s common calls in this process, for cross-process checks.

    Defined in a ``platform`` submodule on purpose: a Ray worker that can run it has found
    the project package (not the standard module) and gets the standard answers from it.
    """
    # The package itself, resolved in the calling process, as a plain ``ModuleType``: it
    # re-exports the standard names at runtime, where mypy does not see them.
    platform = importlib.import_module("platform")

    return {
        "is_project_package": hasattr(platform, "__path__"),
        "system": platform.system(),
        "machine": platform.machine(),
        "node": platform.node(),
        "release": platform.release(),
        "python_version": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "uname": tuple(platform.uname()),
        "architecture": platform.architecture(),
        "libc_ver": platform.libc_ver(),
    }
