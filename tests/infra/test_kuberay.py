"""infra/kuberay/ (issue 22) as the KubeRay operator takes it.

The RayCluster and RayJob are validated against the ray.io/v1 CRD schemas of KubeRay
v1.7.0 (vendored in ``kuberay_v1.7.0_crds.json``, which says where from), strictly: a
field the CRD does not define is an error, as ``kubectl apply --validate=strict`` makes
it (Kubernetes would otherwise drop it silently). Then what the schema cannot see: the
image has what KubeRay's probes for this ``rayVersion`` need, the RayJob gives up,
the head mounts what its driver reads, and every volume and Service the manifests name
is created by prerequisites.yaml.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

REPO_ROOT = Path(__file__).resolve().parents[2]
KUBERAY = REPO_ROOT / "infra" / "kuberay"
CRDS = json.loads((Path(__file__).parent / "kuberay_v1.7.0_crds.json").read_text())
MANIFESTS = {"RayCluster": KUBERAY / "raycluster.yaml", "RayJob": KUBERAY / "rayjob.yaml"}


def _strict(schema: Any) -> Any:
    """``schema`` with ``additionalProperties: false`` wherever an object lists its
    properties and does not say otherwise (Kubernetes' structural-schema pruning)."""
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    strict = {key: _strict(value) for key, value in schema.items()}
    if ("properties" in strict and "additionalProperties" not in strict
            and not strict.get("x-kubernetes-preserve-unknown-fields")):
        strict["additionalProperties"] = False
    return strict


def _validator(kind: str) -> Draft202012Validator:
    return Draft202012Validator({"$defs": _strict(CRDS["$defs"]), **_strict(CRDS[kind])})


def _errors(kind: str, manifest: dict) -> list[str]:
    return [f"{'.'.join(map(str, error.absolute_path))}: {error.message}"
            for error in _validator(kind).iter_errors(manifest)]


def _load(kind: str) -> dict:
    return yaml.safe_load(MANIFESTS[kind].read_text())


def _cluster_spec(kind: str) -> dict:
    manifest = _load(kind)
    return manifest["spec"]["rayClusterSpec"] if kind == "RayJob" else manifest["spec"]


def _head(kind: str) -> dict:
    return _cluster_spec(kind)["headGroupSpec"]["template"]["spec"]["containers"][0]


@pytest.mark.parametrize("kind", sorted(MANIFESTS))
def test_the_manifest_is_what_the_kuberay_crd_accepts(kind: str) -> None:
    manifest = _load(kind)
    assert (manifest["apiVersion"], manifest["kind"]) == ("ray.io/v1", kind)
    assert _errors(kind, manifest) == []


def test_the_strict_schema_refuses_a_misspelt_or_missing_field() -> None:
    """The check above has teeth: a typo and a missing required field are errors."""
    job = _load("RayJob")
    job["spec"]["activeDeadlineSecond"] = job["spec"].pop("activeDeadlineSeconds")
    del job["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]["groupName"]
    errors = "\n".join(_errors("RayJob", job))
    assert "'activeDeadlineSecond' was unexpected" in errors
    assert "'groupName' is a required property" in errors


def _dockerfile_arg(name: str) -> str:
    found = re.search(rf"^ARG {name}=(\S+)$", (REPO_ROOT / "infra" / "Dockerfile").read_text(),
                      re.MULTILINE)
    assert found is not None, f"infra/Dockerfile has no ARG {name}=..."
    return found.group(1)


@pytest.mark.parametrize("kind", sorted(MANIFESTS))
def test_the_image_has_what_kuberay_probes_for_this_ray_version(kind: str) -> None:
    """KubeRay >= 1.6 probes :52365/api/healthz when rayVersion >= 2.53: the dashboard
    agent of ``ray[default]``; older KubeRay runs ``wget``. The RayJob's submitter waits
    for the head's dashboard (:8265). A pod that fails them never becomes Ready."""
    version = _cluster_spec(kind)["rayVersion"]
    assert version == _dockerfile_arg("RAY_VERSION")
    dockerfile = (REPO_ROOT / "infra" / "Dockerfile").read_text()
    assert tuple(map(int, version.split("."))) >= (2, 53)
    assert re.search(r'"ray\[[a-z,]*default[a-z,]*\]==\$\{RAY_VERSION\}"', dockerfile)
    assert re.search(r"apt-get install [^\n]*\bwget\b", dockerfile)
    head = _cluster_spec(kind)["headGroupSpec"]["rayStartParams"]
    assert head.get("include-dashboard", "true") != "false"
    assert head["dashboard-host"] == "0.0.0.0"


def test_the_rayjob_gives_its_gpus_back_when_it_cannot_start_or_hangs() -> None:
    spec = _load("RayJob")["spec"]
    assert 0 < spec["preRunningDeadlineSeconds"] < spec["activeDeadlineSeconds"]
    assert spec["shutdownAfterJobFinishes"] is True


def _mounts(container: dict) -> dict[str, str]:
    return {mount["mountPath"]: mount["name"] for mount in container.get("volumeMounts", [])}


@pytest.mark.parametrize("kind", sorted(MANIFESTS))
def test_the_head_mounts_the_cohort_and_cache_its_driver_uses(kind: str) -> None:
    head = _head(kind)
    assert _mounts(head) == {"/data": "cohort", "/cache": "cache"}
    assert head["workingDir"] == "/opt/stroke-platform"
    volumes = _cluster_spec(kind)["headGroupSpec"]["template"]["spec"]["volumes"]
    claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in volumes
              if "persistentVolumeClaim" in v}
    assert claims == {"cohort": "stroke-cohort"}


def _prerequisites() -> dict[tuple[str, str], dict]:
    documents = yaml.safe_load_all((KUBERAY / "prerequisites.yaml").read_text())
    return {(d["kind"], d["metadata"]["name"]): d for d in documents if d}


def test_prerequisites_create_every_volume_and_service_the_manifests_name() -> None:
    made = _prerequisites()
    claim = made[("PersistentVolumeClaim", "stroke-cohort")]
    # Pods on several nodes mount the cohort at once: ReadWriteOnce would not do.
    assert set(claim["spec"]["accessModes"]) <= {"ReadOnlyMany", "ReadWriteMany"}
    assert made[("PersistentVolume", claim["spec"]["volumeName"])]
    text = "\n".join(path.read_text() for path in MANIFESTS.values())
    for host in set(re.findall(r"http://([a-z0-9-]+)\.([a-z0-9-]+)\.svc:\d+", text)):
        name, namespace = host
        assert made[("Service", name)]["metadata"]["namespace"] == namespace
        assert made[("Namespace", namespace)]
    assert not any(kind == "Secret" for kind, _ in made), "a Secret holds passwords: kubectl"
