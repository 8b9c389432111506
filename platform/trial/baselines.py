"""Foreign baselines as rows of Table 1: ``baseline: nnunet`` in a variant.

Why a part: a baseline is chosen by name in a sweep file and owns its parameters like
every other part (unknown keys refused by name, each default once, in its params model).
Its builder returns the function that trains and predicts one fold the baseline's own
way (:func:`platform.trial.nnunet_fold.run_nnunet_fold` for nnU-Net); the trial then
scores the predictions on the original grid exactly as our rows
(:mod:`platform.trial.baseline_fold`). The other sections of a baseline variant's config
(preprocessing, sampler, model, loss, optimizer, schedule, train) have no consumer there
and are left out of its ids and keys (:meth:`platform.config.trial.TrialConfig.identity`).

This module imports pydantic only: a config that names a baseline validates without the
baseline's package; :func:`missing_requirement` says, before Ray starts, what to install.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import Field

from data_pipeline.parts import Params, Registry

__all__ = ["BASELINES", "INSTALL_BASELINES", "NnUNetParams", "missing_requirement"]

INSTALL_BASELINES = 'pip install -e ".[baselines]"'
"""The install command of the optional baselines (nnU-Net v2 and its pins)."""

BASELINES: Registry[Callable[..., Any]] = Registry(
    "baseline", "builder(params) -> the fold runner (trains and predicts one fold)")

_REQUIRES = {"nnunet": "nnunetv2"}
"""Baseline name -> the module it needs (installed by the ``baselines`` extra)."""


class NnUNetParams(Params):
    """nnU-Net v2 (Isensee et al., Nature Methods 2021, doi:10.1038/s41592-020-01008-z),
    trained and predicted by nnU-Net itself on the sweep's folds. Every default is
    nnU-Net's own; null means "the trainer's own value"."""

    configuration: Literal["2d", "3d_fullres", "3d_lowres"] = "3d_fullres"
    """nnU-Net's configuration (nnU-Net's default for 3D CT: ``3d_fullres``)."""
    trainer: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")] = "nnUNetTrainer"
    """nnU-Net trainer class, found by nnU-Net's own lookup (its package, then
    ``nnUNet_extTrainer``) (nnU-Net's default: ``nnUNetTrainer``)."""
    epochs: Annotated[int, Field(ge=1)] | None = None
    """Epochs; null: the trainer's own (nnU-Net's default: 1000)."""
    iterations_per_epoch: Annotated[int, Field(ge=1)] | None = None
    """Training iterations per epoch; null: the trainer's own (nnU-Net's default: 250)."""
    val_iterations_per_epoch: Annotated[int, Field(ge=1)] | None = None
    """Validation iterations per epoch (its pseudo-Dice curve); null: the trainer's own
    (nnU-Net's default: 50)."""
    device: Literal["auto", "cuda", "cpu"] = "auto"
    """Where nnU-Net trains and predicts; ``auto``: the trial's device (the GPU Ray gave
    it, else the CPU) (nnU-Net's default is ``cuda``; ``auto`` is ours, so a CPU sweep runs)."""
    workers: Annotated[int, Field(ge=0)] | None = None
    """Processes for data augmentation (``nnUNet_n_proc_DA``; 0: in the trial's process)
    and for fingerprinting, preprocessing and exporting predictions; null: nnU-Net's
    default (augmentation: its table by host name, else 12; preprocessing 3d_fullres: 4,
    2d and 3d_lowres: 8; the rest: 8, or ``nnUNet_def_n_proc``)."""


@BASELINES.register("nnunet", params=NnUNetParams)
def nnunet(params: NnUNetParams) -> Callable[..., Any]:
    """nnU-Net v2 (``nnunetv2``): plan, preprocess, train and predict one fold."""
    # nnunetv2 and torch: imported only when a trial runs the baseline, so a sweep file
    # naming it validates (and is refused by name) without the optional package.
    from platform.trial.nnunet_fold import run_nnunet_fold

    return run_nnunet_fold


def missing_requirement(name: str) -> str | None:
    """Why baseline ``name`` cannot run here (its package is not installed), or None."""
    module = _REQUIRES.get(name)
    if module is None or importlib.util.find_spec(module) is not None:
        return None
    return (f"baseline {name!r} needs the package {module!r}, which is not installed; "
            f"install the baselines extra: {INSTALL_BASELINES}")
