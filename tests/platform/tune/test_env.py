"""Tests of platform/tune/env.py: what Ray workers get, and what never reaches a Ray log.

Why these matter: Ray logs every job's runtime environment in plain text on each node
(``runtime_env_agent.log``, ray-project/ray#28276) and Ray Tune copies the driver's AWS
keys into each trial's runtime environment. The end-to-end proof that no credential
lands in any file is ``tests/platform/test_cluster.py``; these pin down the pieces.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from platform.tune.env import (
    CREDENTIALS,
    REPO_ROOT,
    s3_keys_kept_from_ray,
    worker_credentials,
    worker_runtime_env,
)

DRIVER = {"MLFLOW_TRACKING_URI": "http://127.0.0.1:5000", "MLFLOW_TRACKING_USERNAME": "ann",
          "MLFLOW_TRACKING_PASSWORD": "pw-1", "AWS_ACCESS_KEY_ID": "AKIA1",
          "AWS_SECRET_ACCESS_KEY": "s3-secret", "AWS_ENDPOINT_URL": "http://127.0.0.4:9000",
          "AWS_DEFAULT_REGION": "eu-west-1", "HOME": "/root", "RAY_AUTH_MODE": "disabled"}


def test_settings_travel_as_environment_and_credentials_never_do() -> None:
    runtime_env = worker_runtime_env(environ=DRIVER)
    env_vars = runtime_env["env_vars"]
    assert {k: env_vars[k] for k in ("MLFLOW_TRACKING_URI", "AWS_ENDPOINT_URL",
                                     "AWS_DEFAULT_REGION")} == {
        k: DRIVER[k] for k in ("MLFLOW_TRACKING_URI", "AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION")}
    assert not set(CREDENTIALS) & set(env_vars) and "HOME" not in env_vars
    assert "pw-1" not in repr(runtime_env["env_vars"]) and "s3-secret" not in repr(env_vars)
    assert env_vars["PYTHONPATH"].split(os.pathsep)[0] == str(REPO_ROOT)


def test_the_setup_hook_puts_the_credentials_into_a_workers_environment(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = worker_runtime_env(environ=DRIVER)["worker_process_setup_hook"]
    for key in CREDENTIALS:
        monkeypatch.delenv(key, raising=False)
    hook()
    assert {key: os.environ.get(key) for key in worker_credentials(DRIVER)} == {
        "MLFLOW_TRACKING_USERNAME": "ann", "MLFLOW_TRACKING_PASSWORD": "pw-1",
        "AWS_ACCESS_KEY_ID": "AKIA1", "AWS_SECRET_ACCESS_KEY": "s3-secret"}
    # Without credentials in the driver there is no hook at all.
    assert "worker_process_setup_hook" not in worker_runtime_env(environ={"HOME": "/root"})


def test_shipping_the_code_uploads_the_repository_without_its_state() -> None:
    runtime_env = worker_runtime_env(ship_code=True, environ={"HOME": "/root"})
    assert runtime_env["working_dir"] == str(REPO_ROOT)
    assert {".venv", ".git", "runs", "data"} <= set(runtime_env["excludes"])
    assert "PYTHONPATH" not in runtime_env["env_vars"]  # Ray puts working_dir on the path


def test_s3_keys_move_to_a_private_file_while_ray_tune_creates_trials(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIA1")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3-secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "token-1")
    monkeypatch.delenv("AWS_SHARED_CREDENTIALS_FILE", raising=False)
    with s3_keys_kept_from_ray():
        assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"} & set(
            os.environ)
        path = Path(os.environ["AWS_SHARED_CREDENTIALS_FILE"])
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert path.read_text().splitlines() == [
            "[default]", "aws_access_key_id = AKIA1", "aws_secret_access_key = s3-secret",
            "aws_session_token = token-1"]
    assert not path.exists() and "AWS_SHARED_CREDENTIALS_FILE" not in os.environ
    assert (os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"]) == (
        "AKIA1", "s3-secret")
