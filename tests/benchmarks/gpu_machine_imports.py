"""Make this process import like the GPU machine: every third-party module outside an allowed
set is not found, as it would not be there.

The GPU machine's ``python3`` holds torch 2.11 and a few packages (``gpu_wheels.MACHINE_MODULES``)
and gets the rest from the wheel set of the check's part. ``test_gpu_check.py`` runs each part
of ``gpu_check.py --small`` with this module imported first, and its CUDA-test subprocess
(pytest) loads it as a plugin (``PYTEST_ADDOPTS=-p gpu_machine_imports``), so an import of
Ray, MLflow, TorchIO in the core part, or of any package that no set ships fails here instead
of on the GPU machine. Allowed: the standard library, the repository's own modules and the
comma-separated top-level names in ``GPU_MACHINE_MODULES``. Optional imports that a package
guards with ``try/except ImportError`` (MONAI's, torch's) see the module missing, as there.
Each refused name (installed here) is appended, with the file whose import asked for it, to
the file named by ``GPU_MACHINE_BLOCKED_LOG``.
"""

from __future__ import annotations

import importlib.machinery
import os
import sys
import sysconfig
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
OWN = (REPO, Path(sysconfig.get_paths(vars={"installed_base": sys.base_prefix})["stdlib"]),
       Path(os.__file__).parent)
"""Where allowed modules lie whatever their name: the repository, the standard library
(never an installed package: a path through ``site-packages``, e.g. a ``.venv`` inside the
repository, is not in these)."""


def _own(location: str) -> bool:
    path = Path(location).resolve()
    installed = {"site-packages", "dist-packages"} & set(path.parts)
    return not installed and any(path.is_relative_to(own.resolve()) for own in OWN)


class GpuMachineImports:
    """Which top-level modules this process may find: those the GPU machine would have."""

    def __init__(self, allowed: set[str], log: str | None) -> None:
        self.allowed = allowed | set(sys.stdlib_module_names) | set(sys.builtin_module_names)
        self.log = log

    def refuses(self, name: str, spec: importlib.machinery.ModuleSpec) -> bool:
        if "." in name or name in self.allowed:
            return False  # a submodule comes only after its (allowed) package
        locations = [spec.origin or "", *(spec.submodule_search_locations or ())]
        if any(_own(p) for p in locations if p):
            return False  # the repository's modules; the standard library's unlisted ones
        if self.log:
            with open(self.log, "a") as out:
                out.write(f"{name} {_importer()}\n")
        return True


def _importer() -> str:
    """The file whose import asked for the module (outside importlib and this file)."""
    frame = sys._getframe(1)
    while frame is not None:
        name = frame.f_code.co_filename
        if not name.startswith("<frozen") and name != __file__ and "importlib" not in name:
            return name
        frame = frame.f_back
    return "?"


class Refusing:
    """A ``sys.meta_path`` finder that does not find what the GPU machine lacks.

    Wrapping each finder (rather than raising from a first one) keeps the semantics of a
    module that is not installed: ``import`` raises ``ModuleNotFoundError`` and
    ``importlib.util.find_spec`` returns None, which torch's optional imports rely on.
    """

    def __init__(self, finder: Any, rule: GpuMachineImports) -> None:
        self.finder, self.rule = finder, rule

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        find = getattr(self.finder, "find_spec", None)
        spec = find(name, path, target) if find else None
        return None if spec is not None and self.rule.refuses(name, spec) else spec

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.finder, attr)  # invalidate_caches, find_distributions, ...


def install() -> None:
    """Wrap every finder on ``sys.meta_path`` (once) with the allowed names of the env."""
    if any(isinstance(f, Refusing) for f in sys.meta_path):
        return
    allowed = {n for n in os.environ.get("GPU_MACHINE_MODULES", "").split(",") if n}
    rule = GpuMachineImports(allowed, os.environ.get("GPU_MACHINE_BLOCKED_LOG"))
    sys.meta_path[:] = [Refusing(finder, rule) for finder in sys.meta_path]


install()
