"""What the MONAI part tests share: the signature check and one train-and-predict run.

Why a module: the convolutional and the transformer parts are tested alike, each
network through the trial's own entries (``platform.trial.parts`` builds the network,
loss, optimizer, schedule and sampler from a :class:`TrialConfig`;
``platform.trial.training.train`` runs the loop; ``platform.inference.segment`` runs the
evaluation's preprocessing, tiled inference and threshold).
"""

from __future__ import annotations

import inspect
from collections.abc import Collection
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np
import torch

from data_pipeline.preprocess import PreprocessedCase
from data_pipeline.samplers import lesion_class_counts
from platform.config.trial import TrialConfig
from platform.inference.segment import segment_volume
from platform.trial.parts import patch_batches, training_parts
from platform.trial.training import Progress, train

__all__ = ["signature_mismatches", "train_and_segment"]


def _plain(value: Any) -> Any:
    """A default as data: enums by value, lists as tuples (MONAI writes both)."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list | tuple):
        return tuple(_plain(v) for v in value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def signature_mismatches(network: type, params: type, not_parameters: Collection[str]
                         ) -> list[str]:
    """Where a params model and MONAI's constructor disagree (empty: they match).

    Every constructor argument is either a parameter of the part (same name, same default;
    where MONAI has no default, ours is null: derived from the patch) or one of
    ``not_parameters`` (fixed by the platform or left at MONAI's default), and every
    parameter of the part is a constructor argument.
    """
    signature = {name: p for name, p in inspect.signature(network.__init__).parameters.items()
                 if name != "self"}
    ours = params.model_fields
    problems = [f"{name}: MONAI's, neither a parameter nor listed as fixed"
                for name in signature if name not in ours and name not in not_parameters]
    problems += [f"{name}: listed as fixed but MONAI has no such argument"
                 for name in not_parameters if name not in signature]
    for name, field in ours.items():
        if name not in signature:
            problems.append(f"{name}: not an argument of MONAI's {network.__name__}")
            continue
        monai = signature[name].default
        expected = None if monai is inspect.Parameter.empty else _plain(monai)
        if _plain(field.default) != expected:
            problems.append(f"{name}: default {field.default!r}, MONAI's {monai!r}")
    return problems


def train_and_segment(model: dict[str, Any], patch: tuple[int, int, int],
                      cases: list[PreprocessedCase], hu: np.ndarray, work: Path,
                      ) -> tuple[torch.nn.Module, list[Progress], np.ndarray]:
    """Train ``model`` (a model section) two iterations on ``cases`` with the trial's
    parts, then segment ``hu`` as the evaluation does: (network, progress, mask)."""
    config = TrialConfig.model_validate({
        "model": model,
        "sampler": {"patch_size": list(patch), "patches_per_patient": 2, "queue_length": 2},
        "train": {"iterations": 2, "batch_size": 2, "checkpoint_every": 2, "log_every": 1,
                  "amp": "auto"},
        "eval": {"inference": {"overlap": 0.25, "batch_size": 2}},
    })
    torch.manual_seed(0)
    parts = training_parts(config, lesion_class_counts(cases))
    events: list[Progress] = []
    train(parts, patch_batches(config, cases), config.train, device=torch.device("cpu"),
          checkpoint_dir=work, on_progress=events.append)
    mask = segment_volume(parts.model, config, hu, device=torch.device("cpu"))
    return parts.model, events, mask
