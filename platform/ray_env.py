"""How Ray processes find this project: environment for drivers, nodes and workers.

Why: a Ray worker imports the standard ``platform`` module before our code arrives, so a
function defined in ``platform.trial`` fails there with "'platform' is not a package"
unless the worker starts with the repository first on ``PYTHONPATH`` (then the project's
package, which re-exports the standard module, is what the worker imports). Token
authentication must also be configured alike in every Ray process (STACK_NOTES.md: a
mismatch fails with InvalidAuthToken). This module builds those settings; it does not
import Ray, so a CLI can use it before deciding to start Ray.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

__all__ = ["REPO_ROOT", "ray_process_env", "worker_runtime_env"]

REPO_ROOT = Path(__file__).resolve().parent.parent

# Applied to every Ray process we start; a user may set RAY_AUTH_MODE to "token" for a
# real cluster, and then it is passed on unchanged.
_RAY_DEFAULTS = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}


def ray_process_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for a ``ray start`` process or a driver: project on PYTHONPATH, auth alike."""
    env = dict(os.environ if base is None else base)
    for key, value in _RAY_DEFAULTS.items():
        env.setdefault(key, value)
    paths = [str(REPO_ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return env


def worker_runtime_env(*, ship_code: bool = False) -> dict[str, Any]:
    """``runtime_env`` for ``ray.init`` so that workers import the project's ``platform``.

    Args:
        ship_code: upload the repository as Ray's ``working_dir`` (for clusters whose nodes
            do not share this path). Otherwise workers use the repository in place.
    """
    env_vars = {key: os.environ.get(key, value) for key, value in _RAY_DEFAULTS.items()}
    if ship_code:
        excludes = [".venv", ".git", "runs", "data", "*.db", "mlartifacts", "__pycache__"]
        return {"working_dir": str(REPO_ROOT), "excludes": excludes, "env_vars": env_vars}
    env_vars["PYTHONPATH"] = ray_process_env()["PYTHONPATH"]
    return {"env_vars": env_vars}
