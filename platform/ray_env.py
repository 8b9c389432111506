"""How Ray processes find this project: environment for drivers, nodes and workers.

Why: a Ray worker imports the standard ``platform`` module before our code arrives, so a
function defined in ``platform.trial`` fails there with "'platform' is not a package"
unless the worker starts with the repository first on ``PYTHONPATH`` (then the project's
package, which re-exports the standard module, is what the worker imports), or Ray ships
the repository as the job's ``working_dir`` (a cluster whose nodes lack the code). Token
authentication must also be configured alike in every Ray process (STACK_NOTES.md: a
mismatch fails with InvalidAuthToken).

A worker on another node also needs what the driver's environment says about MLflow and
S3 (the tracking server's user and password, the object store's keys and endpoint):
only ``runtime_env["env_vars"]`` reaches it. :data:`FORWARDED` names those variables;
their values travel in the job's runtime environment (held by Ray's control store, not
written to Ray Tune's results, MLflow or our logs) and are never logged here. This
module builds those settings; it does not import Ray, so a CLI can use it before
deciding to start Ray.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["FORWARDED", "REPO_ROOT", "SHIP_EXCLUDES", "ray_process_env", "worker_runtime_env"]

REPO_ROOT = Path(__file__).resolve().parent.parent

# Applied to every Ray process we start; a user may set RAY_AUTH_MODE to "token" for a
# real cluster, and then it is passed on unchanged.
_RAY_DEFAULTS = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}

FORWARDED = (
    # MLflow: the server and its basic-auth user (or token), TLS settings.
    "MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_INSECURE_TLS", "MLFLOW_TRACKING_SERVER_CERT_PATH",
    "MLFLOW_S3_ENDPOINT_URL",
    # S3 or an S3-compatible store (Ray Tune's storage; MLflow artifacts if not proxied).
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION",
    "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_CA_BUNDLE",
    "AWS_EC2_METADATA_DISABLED",
)
"""Driver variables every trial gets, when set: MLflow's and S3's URIs and credentials."""

SHIP_EXCLUDES = (".venv", ".git", "runs", "data", "*.db", "mlartifacts", "__pycache__",
                 ".pytest_cache", ".ruff_cache", "*.egg-info")
"""What ``ray.ship_code`` leaves behind (Ray refuses a working_dir over 500 MiB)."""


def ray_process_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for a ``ray start`` process or a driver: project on PYTHONPATH, auth alike."""
    env = dict(os.environ if base is None else base)
    for key, value in _RAY_DEFAULTS.items():
        env.setdefault(key, value)
    paths = [str(REPO_ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return env


def worker_runtime_env(*, ship_code: bool = False,
                       environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``runtime_env`` for ``ray.init``: workers import the project's ``platform`` and see
    the driver's MLflow and S3 settings (:data:`FORWARDED`).

    Args:
        ship_code: upload the repository as Ray's ``working_dir`` (for clusters whose nodes
            do not have it); otherwise workers use the repository at this path.
        environ: the driver's environment (default ``os.environ``).
    """
    source = os.environ if environ is None else environ
    env_vars = {key: source.get(key, value) for key, value in _RAY_DEFAULTS.items()}
    env_vars.update({key: source[key] for key in FORWARDED if source.get(key)})
    if ship_code:
        return {"working_dir": str(REPO_ROOT), "excludes": list(SHIP_EXCLUDES),
                "env_vars": env_vars}
    env_vars["PYTHONPATH"] = ray_process_env(source)["PYTHONPATH"]
    return {"env_vars": env_vars}
