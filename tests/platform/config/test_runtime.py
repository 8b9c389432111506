"""Tests of platform/config/runtime.py: where trials run is checked before Ray starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from platform.config.runtime import FailureConfig, RayConfig, ResourcesConfig, TrackingConfig


def test_defaults_start_a_small_local_ray(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    ray = RayConfig()
    assert (ray.address, ray.num_cpus, ray.object_store_mb, ray.include_dashboard) == (
        "local", None, 200, False)
    assert ray.storage_path == str(tmp_path / "runs" / "ray")
    assert (ray.storage_endpoint, ray.storage_shared, ray.ship_code) == (None, False, False)
    assert ResourcesConfig().cpus_per_trial == 1.0 and FailureConfig().max_failures == 2
    assert ResourcesConfig().gpus_per_trial is None  # one GPU per trial where there are GPUs
    assert TrackingConfig().uri is None


@pytest.mark.parametrize("address", ["local", "auto", "127.0.0.2:6379", "ray://head:10001"])
def test_ray_addresses(address: str) -> None:
    assert RayConfig(address=address).address == address


@pytest.mark.parametrize("address", ["", "head", "http://head:8265", "local:"])
def test_bad_ray_address_lists_the_forms(address: str) -> None:
    with pytest.raises(ValidationError) as caught:
        RayConfig(address=address)
    assert caught.value.errors()[0]["ctx"]["allowed"] == (
        "local", "auto", "HOST:PORT", "ray://HOST:PORT")


def test_cluster_resources_belong_to_the_cluster() -> None:
    with pytest.raises(ValidationError) as caught:
        RayConfig(address="auto", num_cpus=2, num_gpus=1)
    assert [e["loc"] for e in caught.value.errors()] == [("num_cpus",), ("num_gpus",)]
    assert RayConfig(address="auto").num_cpus is None


def test_object_store_has_rays_minimum() -> None:
    with pytest.raises(ValidationError, match="greater than or equal to 75"):
        RayConfig(object_store_mb=10)


@pytest.mark.parametrize(("given", "kept"), [
    ("s3://bucket", "s3://bucket"), ("s3://bucket/a/b/", "s3://bucket/a/b"),
    ("S3://bucket/x", "s3://bucket/x"),
])
def test_s3_storage_stays_a_uri(given: str, kept: str) -> None:
    # Issue 12: os.path.abspath("s3://bucket/x") used to make it a local path.
    assert RayConfig(storage_path=given).storage_path == kept


@pytest.mark.parametrize(("given", "problem"), [
    ("s3://KEY:hunter2@bucket/x", "credentials do not belong in the URI"),
    ("s3:///x", "no bucket given"),
    ("gs://bucket/x", "unsupported storage scheme 'gs'"),
])
def test_bad_storage_uris_say_what_to_write(given: str, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem) as caught:
        RayConfig(storage_path=given)
    assert "hunter2" not in caught.value.errors()[0]["msg"]


def test_an_endpoint_needs_s3_storage_and_a_url() -> None:
    config = RayConfig(storage_path="s3://b", storage_endpoint="http://minio:9000/")
    assert config.storage_endpoint == "http://minio:9000"
    with pytest.raises(ValidationError, match="applies to an s3:// storage_path only"):
        RayConfig(storage_endpoint="http://minio:9000")
    with pytest.raises(ValidationError, match="not an S3 endpoint URL"):
        RayConfig(storage_path="s3://b", storage_endpoint="minio:9000")


def test_tracking_uri_must_not_carry_a_password() -> None:
    with pytest.raises(ValidationError, match="MLFLOW_TRACKING_PASSWORD"):
        TrackingConfig(uri="http://admin:hunter2@mlflow:5000")
    assert TrackingConfig(uri="http://mlflow:5000").uri == "http://mlflow:5000"


@pytest.mark.parametrize("gpus", [0.0, 0.25, 0.5, 1.0, 2.0])
def test_fractional_gpus_below_one_whole_gpus_above(gpus: float) -> None:
    assert ResourcesConfig(gpus_per_trial=gpus).gpus_per_trial == gpus


def test_a_fraction_above_one_gpu_is_refused() -> None:
    with pytest.raises(ValidationError, match="fractions below 1"):
        ResourcesConfig(gpus_per_trial=1.5)
