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
    assert ray.storage_path == tmp_path / "runs" / "ray"
    assert ResourcesConfig().cpus_per_trial == 1.0 and FailureConfig().max_failures == 2
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
