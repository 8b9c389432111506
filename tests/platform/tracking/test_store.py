"""platform.tracking.store: which MLflow store a run goes to (precedence is tested here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from platform.tracking.store import artifact_location, resolve_tracking_uri, sqlite_file

SERVER = "http://127.0.0.1:5000"
OTHER = "http://127.0.0.2:5000"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)


@pytest.mark.parametrize(
    ("configured", "env", "expected"),
    [
        (SERVER, OTHER, SERVER),  # the config wins over the environment
        (None, OTHER, OTHER),  # the environment wins over the default
        ("", OTHER, OTHER),  # an empty config value counts as unset
        ("  ", None, "default"),
        (None, None, "default"),
        (None, "", "default"),
    ],
)
def test_precedence_config_then_env_then_sqlite(configured: str | None, env: str | None,
                                                expected: str, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    if env is not None:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", env)
    root = tmp_path / "runs" / "nested"
    uri = resolve_tracking_uri(configured, default_root=root)
    if expected == "default":
        assert uri == f"sqlite:///{root.resolve() / 'mlflow.db'}"
        assert root.is_dir()
    else:
        assert uri == expected
        assert not root.exists()


def test_configured_sqlite_folder_is_created(tmp_path: Path) -> None:
    uri = resolve_tracking_uri(f"sqlite:///{tmp_path}/a/b/mlflow.db", default_root=tmp_path)
    assert (tmp_path / "a" / "b").is_dir()
    assert sqlite_file(uri) == tmp_path / "a" / "b" / "mlflow.db"


@pytest.mark.parametrize("uri", ["file:///tmp/mlruns", "./mlruns", "/srv/mlruns", "mlruns"])
def test_plain_file_store_is_refused_unless_allowed(uri: str, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="MLflow 3 refuses.*sqlite:///"):
        resolve_tracking_uri(uri, default_root=tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    with pytest.raises(ValueError, match="plain file store"):
        resolve_tracking_uri(None, default_root=tmp_path)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    assert resolve_tracking_uri(None, default_root=tmp_path) == uri


def test_sqlite_artifacts_go_beside_the_database(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/store/mlflow.db"
    assert artifact_location(uri, "my ablation/v2") == (
        tmp_path / "store" / "mlartifacts" / "my_ablation_v2").as_uri()
    assert artifact_location(SERVER, "x") is None
    assert artifact_location("sqlite:///:memory:", "x") is None
