"""Trial functions for ``test_trainable.py``, in a module of their own: a Ray worker
imports the module of the function it runs, and this one imports nothing heavy (no
torch, no MLflow), so each worker starts in seconds."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ray import tune

from platform.trial.stops import NonFiniteLossError, TrainingStopped
from platform.tune.display import FAILURE_REASON
from tests.test_errors_travel import sample_error

__all__ = ["raise_in_task", "raise_in_trial", "sample_like_the_trainable",
           "stop_like_the_trainable"]


def raise_in_task(name: str) -> None:
    """A Ray task body: raise the project exception ``name`` built from its sample."""
    raise sample_error(name)


def raise_in_trial(config: dict[str, Any]) -> None:
    """A Ray Tune trial that raises the project exception ``config["name"]``."""
    raise sample_error(config["name"])


def stop_like_the_trainable(config: dict[str, Any]) -> None:
    """What :func:`platform.tune.trainable.trainable` does with a stopped training (its
    last result names the reason); counts its attempts in a file (a retry adds one)."""
    with Path(config["attempts"]).open("a") as attempts:
        attempts.write("attempt\n")
    try:
        raise NonFiniteLossError(2, math.nan, 1.44)
    except TrainingStopped as err:
        tune.report({FAILURE_REASON: err.reason})


def sample_like_the_trainable(config: dict[str, Any]) -> None:
    """A search sample as :func:`platform.tune.trainable.trainable` ends it: a learning
    rate above 1 stops its training (its last result: the reason and the worst
    ``val_dice``, as ``stopped_result`` gives), any other scores one fold."""
    try:
        if config["lr"] > 1.0:
            raise NonFiniteLossError(2, math.nan, 1.44)
        tune.report({"val_dice": 1.0 / (1.0 + config["lr"]), "folds_done": 1.0})
    except TrainingStopped as err:
        tune.report({FAILURE_REASON: err.reason, "val_dice": float("-inf")})
