"""The deployment files in infra/ stay valid: manifests are well-formed, GPU workers ask
for GPUs, no secret is written in any of them, every sweep command they hold is a valid
sweep invocation of today's schema, and the compose file and ``ray up`` config keep each
credential where it belongs.

The MLflow server script runs for real in ``tests/platform/test_cluster.py``, the Slurm
script in ``test_slurm.py``; the scripts' syntax and shellcheck are in ``test_scripts.py``,
the image in ``test_dockerfile.py``, KubeRay's CRDs in ``test_kuberay.py``.
"""

from __future__ import annotations

import configparser
import copy
import re
import shlex
from pathlib import Path

import pytest
import yaml

from platform.config import load_sweep

REPO_ROOT = Path(__file__).resolve().parents[2]
INFRA = REPO_ROOT / "infra"
MANIFESTS = sorted(INFRA.glob("**/*.yaml"))
# A secret written out: a KEY=value or KEY: value line with a real value (not ${...}).
_WRITTEN_SECRET = re.compile(
    r"^[\s-]*[A-Z0-9_]*(PASSWORD|SECRET_ACCESS_KEY|SECRET_KEY|TOKEN)\s*[:=]"
    r"\s*(?![\s\"']*(\$\{|\$|$|\.\.\.))", re.MULTILINE)


@pytest.mark.parametrize("manifest", MANIFESTS, ids=lambda p: str(p.relative_to(INFRA)))
def test_manifests_are_yaml_with_no_secret_in_them(manifest: Path) -> None:
    assert all(document is not None for document in yaml.safe_load_all(manifest.read_text()))
    assert _WRITTEN_SECRET.findall(manifest.read_text()) == []


def _workers(spec: dict) -> list[dict]:
    return [container for group in spec["workerGroupSpecs"]
            for container in group["template"]["spec"]["containers"]]


def test_kuberay_workers_ask_for_gpus_and_take_credentials_from_a_secret() -> None:
    cluster = yaml.safe_load((INFRA / "kuberay" / "raycluster.yaml").read_text())
    job = yaml.safe_load((INFRA / "kuberay" / "rayjob.yaml").read_text())
    assert (cluster["kind"], job["kind"]) == ("RayCluster", "RayJob")
    for spec in (cluster["spec"], job["spec"]["rayClusterSpec"]):
        for container in _workers(spec):
            assert container["resources"]["limits"]["nvidia.com/gpu"] >= 1
            assert container["envFrom"] == [{"secretRef": {"name": "stroke-credentials"}}]
        assert spec["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"


def _overrides(command: str) -> list[str]:
    words = shlex.split(command)
    return [w for w in words[words.index("platform.sweep") + 2:] if "=" in w]


def test_the_rayjob_runs_a_valid_sweep_on_shared_storage() -> None:
    job = yaml.safe_load((INFRA / "kuberay" / "rayjob.yaml").read_text())
    overrides = _overrides(job["spec"]["entrypoint"])
    sweep = load_sweep(REPO_ROOT / "sweeps" / "ablation.yaml", overrides)
    assert sweep.ray.address == "auto" and sweep.ray.storage_path.startswith("s3://")
    assert sweep.tracking.uri is not None and sweep.tracking.uri.startswith("http://")
    assert sweep.resources.gpus_per_trial == 1


def test_the_slurm_script_passes_valid_overrides() -> None:
    text = (INFRA / "slurm" / "ray-sweep.sbatch").read_text()
    assert "ray stop" not in text.replace("no `ray stop`", "")
    values = {"$head_ip": "127.0.0.2", "$port": "6379", "$mlflow_uri": "http://127.0.0.1:5000",
              "$cache": "/tmp/stroke-cache", "$storage": "s3://ray-sweeps/slurm",
              "$endpoint": "http://127.0.0.4:9000"}
    overrides = re.findall(r'"((?:ray|tracking|data)\.[a-z_]+=[^"]+)"', text)
    overrides += re.findall(r" (ray\.[a-z_]+=null)", text)
    assert {o.split("=")[0] for o in overrides} >= {
        "ray.address", "ray.node_ip_address", "ray.num_cpus", "tracking.uri",
        "data.cache_root", "ray.storage_path", "ray.storage_endpoint", "ray.storage_shared"}
    resolved = []
    for override in overrides:
        for name, value in sorted(values.items(), key=lambda item: -len(item[0])):
            override = override.replace(name, value)
        resolved.append(override)
    shared = [o for o in resolved if not o.startswith("ray.storage_shared")]
    load_sweep(REPO_ROOT / "sweeps" / "ablation.yaml", shared)


def _compose() -> dict:
    return yaml.safe_load((INFRA / "mlflow" / "compose.yaml").read_text())


def test_the_compose_file_runs_mlflow_on_postgres_with_auth_and_no_password_in_a_uri() -> None:
    compose = _compose()
    assert {"postgres", "minio", "mlflow"} <= set(compose["services"])
    command = compose["services"]["mlflow"]["command"]
    assert "--app-name=basic-auth" in command
    backend = next(arg for arg in command if arg.startswith("--backend-store-uri="))
    assert backend.startswith("--backend-store-uri=postgresql+psycopg2://mlflow@postgres")
    assert not any("PASSWORD" in arg for arg in command)


def test_the_compose_file_allows_the_hostnames_clients_use() -> None:
    environment = _compose()["services"]["mlflow"]["environment"]
    assert environment["MLFLOW_SERVER_ALLOWED_HOSTS"].startswith(
        "${MLFLOW_SERVER_ALLOWED_HOSTS:?")
    example = (INFRA / "mlflow" / ".env.example").read_text()
    assert re.search(r"^MLFLOW_SERVER_ALLOWED_HOSTS=.*mlflow\.stroke-mlflow\.svc:\*", example,
                     re.MULTILINE), "the name the KubeRay manifests use"


def test_mlflow_and_the_users_get_their_own_s3_keys_not_minios_admin() -> None:
    """The MinIO administrator's keys stay with the `buckets` service; MLflow's key and the
    users' key each reach one bucket, so artifacts stay behind MLflow's login."""
    services = _compose()["services"]
    admin = {"${S3_ROOT_USER}", "${S3_ROOT_PASSWORD}"}
    mlflow = services["mlflow"]["environment"]
    assert mlflow["AWS_ACCESS_KEY_ID"] == "${MLFLOW_S3_ACCESS_KEY}"
    assert mlflow["AWS_SECRET_ACCESS_KEY"] == "${MLFLOW_S3_SECRET_KEY}"
    users = [name for name, service in services.items()
             if admin & set(map(str, (service.get("environment") or {}).values()))]
    assert users == ["buckets"]
    script = services["buckets"]["command"][0]
    for policy, user in (("mlflow-artifacts-rw", "MLFLOW_S3_ACCESS_KEY"),
                         ("ray-sweeps-rw", "SWEEPS_S3_ACCESS_KEY")):
        assert f"mc admin policy attach lab {policy} --user \"$${user}\"" in script
        statement = (INFRA / "mlflow" / "minio" / f"{policy}.json").read_text()
        bucket = policy.removesuffix("-rw")
        assert set(re.findall(r"arn:aws:s3:::([a-z-]+)", statement)) == {bucket}


def test_the_auth_config_caches_checks_and_holds_no_password() -> None:
    config = configparser.ConfigParser()
    config.read(INFRA / "mlflow" / "basic_auth.ini")
    assert config["mlflow"].getint("auth_cache_ttl_seconds") > 0
    assert "admin_password" not in config["mlflow"]
    assert config["mlflow"]["database_uri"].startswith("postgresql+psycopg2://")


def _ray_up() -> dict:
    return yaml.safe_load((INFRA / "ray-up" / "cluster.yaml").read_text())


def test_the_ray_up_config_is_what_ray_accepts_for_the_labs_own_servers() -> None:
    from ray.autoscaler._private.util import (  # Ray's own checks; heavy, this test only
        prepare_config,
        validate_config,
    )

    config = _ray_up()
    validate_config(prepare_config(copy.deepcopy(config)))
    assert config["provider"]["type"] == "local"
    assert len(config["provider"]["worker_ips"]) == config["min_workers"]
    assert any("ray start --head" in c for c in config["head_start_ray_commands"])


def test_ray_up_keeps_secrets_home_and_uses_the_head_gpus() -> None:
    config = _ray_up()
    # What .gitignore ignores (infra/cluster.env, infra/mlflow/.env) is not synced.
    assert ".gitignore" in config["rsync_filter"]
    assert not any("--num-gpus=0" in c for c in config["head_start_ray_commands"])
    assert any('".[cluster]"' in c for c in config["setup_commands"])
    header = (INFRA / "ray-up" / "cluster.yaml").read_text().split("cluster_name:")[0]
    command = header[header.index("ray exec"):header.index("ray down")]
    assert "credentials.env" in command, "`ray exec` runs a fresh shell: source them"
