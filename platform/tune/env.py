"""How Ray processes find this project: environment for drivers, nodes and workers.

Why: a Ray worker imports the standard ``platform`` module before our code arrives, so a
function defined in ``platform.trial.run`` fails there with "'platform' is not a package"
unless the worker starts with the repository first on ``PYTHONPATH`` (then the project's
package, which re-exports the standard module, is what the worker imports), or Ray ships
the repository as the job's ``working_dir`` (a cluster whose nodes lack the code). Token
authentication must also be configured alike in every Ray process (STACK_NOTES.md: a
mismatch fails with InvalidAuthToken).

A worker on another node also needs what the driver's environment says about MLflow and
S3. The settings (:data:`FORWARDED`: URIs, endpoint, region) travel in
``runtime_env["env_vars"]``. The credentials (:data:`CREDENTIALS`: MLflow's user and
password or token, the S3 keys) must not: Ray logs every runtime environment in plain
text in each node's ``runtime_env_agent.log`` and shows it on the dashboard
(https://github.com/ray-project/ray/issues/28276). They travel inside the job's
``worker_process_setup_hook`` instead: a function that Ray keeps in its control store
(the log shows only its key) and runs first in every worker process, which puts them
into that process's environment, before Ray Tune opens the S3 storage there (pyarrow's
S3 client takes its keys when it is built). Ray Tune itself copies the
driver's ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` into every trial's runtime
environment (``ray/tune/execution/class_cache.py``), so while trials are created the
driver keeps its S3 keys in a private credentials file instead
(:func:`s3_keys_kept_from_ray`). Nodes that already have the credentials in their
environment (a Kubernetes secret, a Slurm job's environment) need nothing.
This module builds those settings; it does not import Ray, so a CLI can use it before
deciding to start Ray.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from platform.tracking.provenance import REPO_ROOT

__all__ = ["CREDENTIALS", "FORWARDED", "REPO_ROOT", "SHIP_EXCLUDES", "ray_process_env",
           "s3_keys_kept_from_ray", "worker_credentials", "worker_runtime_env"]


# Applied to every Ray process we start; a user may set RAY_AUTH_MODE to "token" for a
# real cluster, and then it is passed on unchanged.
_RAY_DEFAULTS = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}

FORWARDED = (
    # MLflow: the server, TLS settings, an artifact store the client writes to itself.
    "MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_INSECURE_TLS", "MLFLOW_TRACKING_SERVER_CERT_PATH",
    "MLFLOW_S3_ENDPOINT_URL",
    # S3 or an S3-compatible store (Ray Tune's storage; MLflow artifacts if not proxied).
    "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
    "AWS_CA_BUNDLE", "AWS_EC2_METADATA_DISABLED",
)
"""Driver variables every trial gets in its runtime environment, when set (no secrets)."""

CREDENTIALS = (
    "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN",
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
)
"""Driver variables every trial gets through the object store, when set (never logged)."""

SHIP_EXCLUDES = (".venv", ".git", "runs", "data", "*.db", "mlartifacts", "__pycache__",
                 ".pytest_cache", ".ruff_cache", "*.egg-info", "/tests", "/docs",
                 "/benchmarks", "/infra")
"""What ``ray.ship_code`` leaves behind: state, and what no trial imports (Ray refuses a
working_dir over 500 MiB; the rest is about 1 MB)."""


def ray_process_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for a ``ray start`` process or a driver: project on PYTHONPATH, auth alike."""
    env = dict(os.environ if base is None else base)
    for key, value in _RAY_DEFAULTS.items():
        env.setdefault(key, value)
    paths = [str(REPO_ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return env


def worker_credentials(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The driver's :data:`CREDENTIALS` that are set (default ``os.environ``)."""
    source = os.environ if environ is None else environ
    return {key: source[key] for key in CREDENTIALS if source.get(key)}


def _credentials_hook(credentials: Mapping[str, str]) -> Callable[[], None]:
    """A worker setup hook that puts ``credentials`` into the worker's environment.

    A closure, so that Ray pickles it by value: a worker imports the standard
    ``platform`` before this package is importable (STACK_NOTES.md).
    """
    values = dict(credentials)

    def set_credentials() -> None:
        import os

        os.environ.update(values)

    return set_credentials


def worker_runtime_env(*, ship_code: bool = False,
                       environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``runtime_env`` for ``ray.init``: workers import the project's ``platform`` and see
    the driver's MLflow and S3 settings (:data:`FORWARDED`) and credentials
    (:data:`CREDENTIALS`, through the setup hook: never in a logged environment).

    Args:
        ship_code: upload the repository as Ray's ``working_dir`` (for clusters whose nodes
            do not have it); otherwise workers use the repository at this path.
        environ: the driver's environment (default ``os.environ``).
    """
    source = os.environ if environ is None else environ
    env_vars = {key: source.get(key, value) for key, value in _RAY_DEFAULTS.items()}
    env_vars.update({key: source[key] for key in FORWARDED if source.get(key)})
    runtime_env: dict[str, Any] = {"env_vars": env_vars}
    credentials = worker_credentials(source)
    if credentials:
        runtime_env["worker_process_setup_hook"] = _credentials_hook(credentials)
    if ship_code:
        runtime_env.update({"working_dir": str(REPO_ROOT), "excludes": list(SHIP_EXCLUDES)})
    else:
        env_vars["PYTHONPATH"] = ray_process_env(source)["PYTHONPATH"]
    return runtime_env


# What Ray Tune copies from the driver into each trial's (logged) runtime environment.
_TUNE_COPIES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                "AWS_SECURITY_TOKEN")


@contextmanager
def s3_keys_kept_from_ray() -> Iterator[None]:
    """While Ray Tune creates trials, the driver's S3 keys live in a private file, not in
    its environment (Ray Tune would copy them into each trial's logged runtime environment).

    The driver's own S3 client reads them from that file (``AWS_SHARED_CREDENTIALS_FILE``,
    mode 0600, deleted on exit); the environment is restored afterwards. Without keys in
    the environment this does nothing.
    """
    keys = {name: os.environ[name] for name in _TUNE_COPIES if name in os.environ}
    if not keys.get("AWS_ACCESS_KEY_ID") or not keys.get("AWS_SECRET_ACCESS_KEY"):
        yield
        return
    before = {name: os.environ.get(name) for name in ("AWS_SHARED_CREDENTIALS_FILE",
                                                       "AWS_PROFILE")}
    lines = ["[default]", f"aws_access_key_id = {keys['AWS_ACCESS_KEY_ID']}",
             f"aws_secret_access_key = {keys['AWS_SECRET_ACCESS_KEY']}"]
    token = keys.get("AWS_SESSION_TOKEN") or keys.get("AWS_SECURITY_TOKEN")
    if token:
        lines.append(f"aws_session_token = {token}")
    handle, path = tempfile.mkstemp(prefix="s3-keys-", suffix=".ini")  # mode 0600
    try:
        with os.fdopen(handle, "w") as sink:
            sink.write("\n".join(lines) + "\n")
        for name in keys:
            del os.environ[name]
        os.environ.update({"AWS_SHARED_CREDENTIALS_FILE": path, "AWS_PROFILE": "default"})
        yield
    finally:
        os.environ.update(keys)
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        Path(path).unlink(missing_ok=True)
