"""Issue 28: errors cross the Ray boundary intact, and a stopped training is not retried.

Real parts: a local Ray (one CPU, loopback), Ray tasks and Ray Tune trials. Every project
exception raised in a Ray worker reaches the driver as itself (its type and fields); the
one of issue 28 (``NonFiniteLossError``) does so from a Ray Tune trial too, which copies
it on the way; and a trial whose training stops for good ends once with a
``failure_reason`` result however many retries ``max_failures`` allows.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import ray
from ray import tune

from platform.config.runtime import RayConfig
from platform.trial.stops import NonFiniteLossError
from platform.tune.display import FAILURE_REASON
from platform.tune.trainable import stopped_result
from platform.tune.tuner import shutdown_ray, start_ray
from tests.platform.tune.raising_trials import (
    raise_in_task,
    raise_in_trial,
    stop_like_the_trainable,
)
from tests.test_errors_travel import SAMPLES, sample_error


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    started = start_ray(RayConfig(address="local", num_cpus=1, object_store_mb=100), quiet=True)
    try:
        yield
    finally:
        if started:
            shutdown_ray()


def _same(error: BaseException, expected: BaseException) -> None:
    assert isinstance(error, type(expected)), repr(error)
    assert str(expected) in str(error)
    for field, value in vars(expected).items():
        assert repr(getattr(error, field)) == repr(value), field


def _tuner(trainable: Any, space: dict[str, Any], tmp_path: Path, retries: int) -> tune.Tuner:
    return tune.Tuner(
        tune.with_resources(trainable, {"cpu": 1}), param_space=space,
        run_config=tune.RunConfig(name="errors", storage_path=str(tmp_path / "ray"), verbose=0,
                                  failure_config=tune.FailureConfig(max_failures=retries)))


@pytest.mark.slow
def test_every_project_exception_raised_in_a_ray_worker_reaches_the_driver(
        local_ray: None) -> None:
    task = ray.remote(num_cpus=1, max_retries=0)(raise_in_task)
    for name in sorted(SAMPLES):
        with pytest.raises(Exception) as caught:  # noqa: B017 # the type is the assertion
            ray.get(task.remote(name), timeout=120)
        _same(caught.value, sample_error(name))


@pytest.mark.slow
def test_a_non_finite_loss_raised_in_a_tune_trial_reaches_the_driver(
        local_ray: None, tmp_path: Path) -> None:
    name = "platform.trial.stops.NonFiniteLossError"
    result, = _tuner(raise_in_trial, {"name": name}, tmp_path, retries=0).fit()
    assert isinstance(result.error, NonFiniteLossError)
    _same(result.error, sample_error(name))


@pytest.mark.slow
def test_a_stopped_training_ends_its_trial_once_with_its_reason(local_ray: None,
                                                                 tmp_path: Path) -> None:
    attempts = tmp_path / "attempts.txt"
    result, = _tuner(stop_like_the_trainable, {"attempts": str(attempts)}, tmp_path,
                     retries=3).fit()
    assert result.error is None
    assert result.metrics[FAILURE_REASON] == ("non-finite loss at iteration 2 (loss nan, last "
                                              "finite loss 1.44)")
    assert attempts.read_text().count("attempt") == 1  # never retried


def test_a_stopped_search_sample_reports_the_worst_value_of_its_metric() -> None:
    assert stopped_result("why", "val_dice", "max") == {FAILURE_REASON: "why",
                                                        "val_dice": float("-inf")}
    assert stopped_result("why", "val_hd95", "min")["val_hd95"] == float("inf")
    assert stopped_result("why", None, "max") == {FAILURE_REASON: "why"}
