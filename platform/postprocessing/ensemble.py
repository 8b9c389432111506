"""Fold ensembles: a finished variant's fold models as one network that averages probabilities.

Why: cross-validation leaves one model per fold; nnU-Net predicts new cases with all of
them and averages their probabilities, which is steadier than any single fold's model.
Here the ensemble is an ``nn.Module`` whose output is the logit of the mean of its
members' sigmoid probabilities::

    x --member 1--> sigmoid --\\
    x --member 2--> sigmoid ----> mean p --> logit(p)   (sigmoid(logit(p)) = p)
    x --member k--> sigmoid --/

so every consumer of a network (tiled inference with its mirroring and blending,
evaluation on the original grid, ``platform.postprocessing.predict``) uses an ensemble
unchanged, and
the probabilities it sees are exactly the mean of the members' (to float32 rounding):
tiled inference averages linearly, so averaging per patch equals averaging the volumes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from data_pipeline.parts.registry import PartSpec
from platform.postprocessing.choice import CHOICE_FILE, chosen_spec
from platform.postprocessing.rules import postprocessing_spec
from platform.tracking import TrialResult, fetch_trial_results, load_trial_model, read_json
from platform.tracking.results import load_segmentation_model

__all__ = ["EnsembleNetwork", "check_members", "ensemble_of", "load_predictor",
           "load_variant_ensemble", "variant_members"]

logger = logging.getLogger(__name__)

_SHARED_SECTIONS = ("preprocessing", "sampler", "eval")
"""Config sections every member must share: the input they see and how it is tiled."""


class EnsembleNetwork(torch.nn.Module):
    """Members' mean probability, returned as a logit (see the module docstring).

    Args:
        members: networks mapping ``(B, 1, D, H, W)`` to one channel of logits.
    """

    def __init__(self, members: Sequence[torch.nn.Module]) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member network")
        self.members = torch.nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 1, D, H, W)`` -> ``(B, 1, D, H, W)`` logits of the mean probability."""
        total = torch.sigmoid(self.members[0](x).float())
        for member in self.members[1:]:
            total = total + torch.sigmoid(member(x).float())
        return torch.logit(total / len(self.members))


def variant_members(results: Sequence[TrialResult], variant: str) -> dict[int, TrialResult]:
    """``variant``'s finished evaluation run per fold among a sweep's ``results``, the newest
    trial's where a fold has several (seeds): the members of its ensemble.

    Raises:
        KeyError: no finished trial of ``variant``.
    """
    finished = [r for r in results if r.variant == variant and r.status == "FINISHED"]
    by_fold = {r.fold: r for r in sorted(finished, key=lambda r: r.trial_id)}
    if not by_fold:
        raise KeyError(f"no finished trial of variant {variant!r}; run the sweep to the end, "
                       "or check the variant name")
    return dict(sorted(by_fold.items()))


def check_members(variant: str, members: Mapping[int, TrialResult]) -> None:
    """Refuse members whose preprocessing, sampler or evaluation settings differ (their
    runs' params: the resolved configs, flattened), before any model is loaded.

    Raises:
        ValueError: names the first fold that differs from the first member and how.
    """
    def shared(result: TrialResult) -> dict[str, str]:
        return {k: v for k, v in result.params.items() if k.split(".")[0] in _SHARED_SECTIONS}

    first = min(members)
    reference = shared(members[first])
    for fold, result in members.items():
        settings = shared(result)
        differ = sorted({k.split(".")[0] for k in reference.keys() | settings.keys()
                         if reference.get(k) != settings.get(k)})
        if differ:
            raise ValueError(f"variant {variant!r}: fold {fold}'s model was trained with other "
                             f"{', '.join(differ)} settings than fold {first}'s; an "
                             "ensemble needs one preprocessing and inference")


def ensemble_of(uri: str, members: Mapping[int, TrialResult],
                variant: str) -> tuple[EnsembleNetwork, dict[str, Any], list[int]]:
    """The fold models of ``members`` (:func:`variant_members`) loaded as one ensemble.

    Returns:
        ``(ensemble, config, folds)``: the members' shared resolved config (the first
        fold's, for preprocessing and inference) and the folds the members come from.

    Raises:
        KeyError: a member's model cannot be loaded.
        ValueError: members whose preprocessing or inference settings differ.
    """
    check_members(variant, members)
    loaded = [load_trial_model(uri, result.run_id) for result in members.values()]
    logger.info("ensemble of variant %s: folds %s", variant, list(members))
    return EnsembleNetwork([model for model, _ in loaded]), loaded[0][1], list(members)


def load_variant_ensemble(uri: str, parent_run_id: str,
                          variant: str) -> tuple[EnsembleNetwork, dict[str, Any], list[int]]:
    """The finished fold models of ``variant`` under a sweep's parent run, as one ensemble
    (:func:`ensemble_of`).

    Raises:
        KeyError: no finished trial of ``variant`` with a model under that run.
        ValueError: members whose preprocessing or inference settings differ.
    """
    try:
        members = variant_members(fetch_trial_results(uri, parent_run_id), variant)
    except KeyError as err:
        raise KeyError(f"sweep run {parent_run_id}: {err.args[0]}") from err
    return ensemble_of(uri, members, variant)


def load_predictor(uri: str, model: str, variant: str | None
                   ) -> tuple[torch.nn.Module, dict[str, Any], PartSpec | None]:
    """What ``python -m platform.predict`` runs: one trial's model, or a variant's fold ensemble.

    Args:
        model: a trial's run id (or URI); with ``variant``, the sweep's parent run id.
        variant: predict with this variant's fold ensemble and apply the post-processing
            chosen for it on the cross-validation predictions (if any was).

    Returns:
        ``(network, resolved config, post-processing or None)``.
    """
    if variant is None:  # a trial's model, or a logged <variant>-ensemble
        network, config, chosen = load_segmentation_model(uri, model)
        return network, config, None if chosen is None else postprocessing_spec(chosen)
    ensemble, config, _ = load_variant_ensemble(uri, model, variant)
    return ensemble, config, chosen_spec(read_json(uri, model, CHOICE_FILE) or {}, variant)
