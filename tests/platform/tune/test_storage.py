"""Tests of platform/tune/storage.py: Ray Tune's storage (a folder or S3) and the cluster checks.

S3 is a real S3 HTTP API on loopback (moto's server, :func:`tests.conftest.s3_server`);
the refusal of node-local storage is run through the command line, which must exit 2
before Ray is even imported.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from platform.config.runtime import RayConfig
from platform.tune.env import REPO_ROOT, ray_process_env
from platform.tune.storage import RayStorage, cluster_problems
from tests.conftest import S3Server

TINY = REPO_ROOT / "sweeps" / "tiny.yaml"


def test_restart_sets_the_earlier_state_aside_without_deleting_it(tmp_path: Path) -> None:
    storage = RayStorage(str(tmp_path))
    assert storage.set_aside("quickstart-abc") is None  # nothing to move
    state = Path(storage.experiment("quickstart-abc"))
    (state / "trial").mkdir(parents=True)
    (state / "trial" / "result.json").write_text("{}")
    kept = storage.set_aside("quickstart-abc")
    assert kept is not None and not state.exists()
    assert Path(kept).name.startswith("quickstart-abc.replaced-")
    assert (Path(kept) / "trial" / "result.json").read_text() == "{}"


def test_s3_storage_keeps_the_uri_and_reaches_the_endpoint(
    s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in s3_server.environ().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL")  # the config names it here
    bucket = s3_server.bucket("storage-test")
    config = RayConfig(storage_path=f"{bucket}/sweeps/", storage_endpoint=s3_server.endpoint)
    storage = RayStorage.of(config)
    assert config.storage_path == "s3://storage-test/sweeps"  # not made a local path
    assert (storage.tune_path(), storage.experiment("tiny-1")) == (
        "storage-test/sweeps", "storage-test/sweeps/tiny-1")
    filesystem = storage.filesystem()
    assert filesystem is not None
    # Keys come from the environment in each process: none travel with the filesystem.
    assert s3_server.secret_key not in repr(filesystem.__reduce__())
    with filesystem.open_output_stream("storage-test/sweeps/tiny-1/trial/result.json") as out:
        out.write(b"{}")
    kept = storage.set_aside("tiny-1")
    assert kept is not None and kept.startswith("s3://storage-test/sweeps/tiny-1.replaced-")
    files = [key for key in s3_server.objects("storage-test") if not key.endswith("/")]
    assert files == [kept.removeprefix("s3://storage-test/") + "/trial/result.json"]
    assert storage.set_aside("tiny-1") is None


def test_the_endpoint_comes_from_the_environment_when_not_configured(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.4:9/")
    assert RayStorage("s3://b").endpoint_url() == "http://127.0.0.4:9"
    assert RayStorage("s3://b", endpoint="http://127.0.0.5:9").endpoint_url() == (
        "http://127.0.0.5:9")


@pytest.mark.parametrize(("ray", "uri", "keys"), [
    ({"address": "local"}, "sqlite:///x/mlflow.db", []),
    ({"address": "127.0.0.2:6379"}, "sqlite:///x/mlflow.db", ["ray.storage_path", "tracking.uri"]),
    ({"address": "auto", "storage_path": "s3://b/p"}, "http://127.0.0.1:5000", []),
    ({"address": "auto", "storage_shared": True}, "http://127.0.0.1:5000", []),
    ({"address": "auto", "storage_path": "s3://b/p"}, "file:///x/mlruns", ["tracking.uri"]),
    ({"address": "auto", "storage_path": "s3://b/p"}, "/x/mlruns", ["tracking.uri"]),
])
def test_a_cluster_needs_shared_storage_and_a_remote_mlflow(
    ray: dict, uri: str, keys: list[str]
) -> None:
    assert [key for key, _ in cluster_problems(RayConfig(**ray), uri)] == keys


_MAIN = ("import sys; from platform.sweep.__main__ import main; code = main(sys.argv[1:]); "
         "print('ray imported:', 'ray' in sys.modules); sys.exit(code)")


def test_local_storage_or_sqlite_with_a_remote_ray_is_refused_before_ray_starts(
    tmp_path: Path
) -> None:
    # Nothing listens at 127.0.0.2:9: the refusal must come before any connection attempt.
    env = {k: v for k, v in ray_process_env().items() if k != "MLFLOW_TRACKING_URI"}
    command = [sys.executable, "-c", _MAIN, str(TINY), "ray.address=127.0.0.2:9",
               "ray.num_cpus=null", f"ray.storage_path={tmp_path / 'ray'}",
               f"data.cache_root={tmp_path / 'cache'}"]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2, done.stderr
    assert "ray imported: False" in done.stdout
    lines = done.stderr.strip().splitlines()
    assert [line.split(": ")[1] for line in lines] == ["ray.storage_path", "tracking.uri"]
    assert lines[0].startswith(f"{TINY}: ray.storage_path: {tmp_path / 'ray'} is a folder on "
                               "this node, but ray.address='127.0.0.2:9' joins a cluster")
    assert "set ray.storage_path to s3://BUCKET/PREFIX" in lines[0]
    assert "ray.storage_shared=true" in lines[0]
    assert f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}" in lines[1]
    assert "set tracking.uri (or MLFLOW_TRACKING_URI) to the lab's MLflow server" in lines[1]
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing created
