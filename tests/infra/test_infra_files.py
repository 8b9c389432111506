"""The deployment files in infra/ stay valid: scripts parse, manifests are well-formed, GPU
workers ask for GPUs, no secret is written in any of them, and every sweep command they
hold is a valid sweep invocation of today's schema.

The MLflow server script runs for real in ``tests/platform/test_cluster.py``; Slurm,
Kubernetes and ``ray up`` are not on this machine, so their files are checked here.
"""

from __future__ import annotations

import configparser
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from platform.config import load_sweep
from platform.tune.env import REPO_ROOT

INFRA = REPO_ROOT / "infra"
SCRIPTS = sorted([*INFRA.glob("*.sh"), *INFRA.glob("*/*.sbatch")])
MANIFESTS = sorted(INFRA.glob("**/*.yaml"))
# A secret written out: a KEY=value or KEY: value line with a real value (not ${...}).
_WRITTEN_SECRET = re.compile(
    r"^[\s-]*[A-Z0-9_]*(PASSWORD|SECRET_ACCESS_KEY|SECRET_KEY|TOKEN)\s*[:=]"
    r"\s*(?![\s\"']*(\$\{|\$|$|\.\.\.))", re.MULTILINE)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_scripts_parse_and_are_executable(script: Path) -> None:
    done = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert os.access(script, os.X_OK), f"chmod +x {script}"


@pytest.mark.parametrize("manifest", MANIFESTS, ids=lambda p: str(p.relative_to(INFRA)))
def test_manifests_are_yaml_with_no_secret_in_them(manifest: Path) -> None:
    assert yaml.safe_load(manifest.read_text()) is not None
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
    values = {"$head_ip": "127.0.0.2", "$PORT": "6379", "$MLFLOW_URI": "http://127.0.0.1:5000",
              "$CACHE": "/tmp/stroke-cache", "$STORAGE": "s3://ray-sweeps/1",
              "$STORAGE_ENDPOINT": "http://127.0.0.4:9000"}
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


def test_the_compose_file_runs_mlflow_on_postgres_with_auth_and_no_password_in_a_uri() -> None:
    compose = yaml.safe_load((INFRA / "mlflow" / "compose.yaml").read_text())
    assert {"postgres", "minio", "mlflow"} <= set(compose["services"])
    command = compose["services"]["mlflow"]["command"]
    assert "--app-name=basic-auth" in command
    backend = next(arg for arg in command if arg.startswith("--backend-store-uri="))
    assert backend.startswith("--backend-store-uri=postgresql+psycopg2://mlflow@postgres")
    assert not any("PASSWORD" in arg for arg in command)


def test_the_auth_config_caches_checks_and_holds_no_password() -> None:
    config = configparser.ConfigParser()
    config.read(INFRA / "mlflow" / "basic_auth.ini")
    assert config["mlflow"].getint("auth_cache_ttl_seconds") > 0
    assert "admin_password" not in config["mlflow"]
    assert config["mlflow"]["database_uri"].startswith("postgresql+psycopg2://")


def test_the_image_refuses_a_cpu_build_of_torch() -> None:
    text = (INFRA / "Dockerfile").read_text()
    assert "torch.version.cuda" in text and "ARG TORCH_SPEC" in text


def test_the_ray_up_config_is_for_the_labs_own_servers() -> None:
    config = yaml.safe_load((INFRA / "ray-up" / "cluster.yaml").read_text())
    assert config["provider"]["type"] == "local"
    assert len(config["provider"]["worker_ips"]) == config["min_workers"]
    assert any("ray start --head" in c for c in config["head_start_ray_commands"])
