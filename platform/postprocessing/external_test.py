"""After cross-validation: choose post-processing, score fold ensembles on an external test cohort.

Why after the sweep, in the driver: both steps need every fold of a variant finished.
:func:`after_cross_validation` is the sweep's one call:

1. post-processing is chosen per variant on its cross-validation predictions
   (:mod:`platform.postprocessing.choice`; ``postprocessing.json`` on the parent run);
2. with ``data.test_cohort`` set, each variant's finished fold models are loaded as one
   ensemble (:mod:`platform.postprocessing.ensemble`) and the test cohort is predicted,
   post-processed
   with the variant's choice and scored exactly as cross-validation scores (original
   grid, untouched mask, lesion-wise metrics). The rows, their means and an nnU-Net
   ``summary.json`` are logged on the parent run under ``external_test/<variant>/``, and
   one line per variant goes under Table 1;
3. each variant's fold models are logged together as one model, ``<variant>-ensemble``
   (:mod:`platform.postprocessing.ensemble_model`), with the external test's scores
   where there is one and the mean of the folds' cross-validation scores, each named
   for what it is.

The test cohort never enters cross-validation: folds are planned from ``data.cohort``
alone, and a test case whose key or CT file is also in the cohort is refused before
anything runs (:func:`load_test_refs`, called by ``platform.sweep.inputs`` too).
Preprocessing goes through the same cache as the trials; a test case's lesion loss is
logged and counted as missed, never refused. Inference runs in the driver, on a GPU
when the sweep's trials get one and CUDA is there.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from data_pipeline.cache import PREPROCESSED_DIR, PreprocessedCache
from data_pipeline.cohort.cohort import CaseRef, load_cohort
from data_pipeline.parts.registry import PartSpec
from platform.config.request import SweepContext
from platform.config.sweep import SweepConfig
from platform.config.trial import TrialConfig
from platform.evaluation.cases import Scoring, evaluate_cases, fold_means
from platform.evaluation.nnunet import nnunet_summary
from platform.postprocessing.choice import (
    CHOICE_FILE,
    PostprocessingChoice,
    case_scores,
    choose,
)
from platform.postprocessing.ensemble import load_variant_ensemble
from platform.postprocessing.ensemble_model import log_variant_ensemble
from platform.postprocessing.rules import POSTPROCESSING
from platform.tracking import fetch_trial_results, log_json

__all__ = ["after_cross_validation", "choose_for_sweep", "load_test_refs", "score_external_test"]

logger = logging.getLogger(__name__)


def load_test_refs(test_cohort: str | Path | None, cv_refs: Sequence[CaseRef]) -> list[CaseRef]:
    """The external test cases, refused if any is also a cross-validation case.

    Raises:
        CohortError: an unreadable test cohort.
        ValueError: a case key or CT file in both cohorts (names them).
    """
    if test_cohort is None:
        return []
    refs = load_cohort(Path(test_cohort))
    keys = sorted({r.key for r in refs} & {r.key for r in cv_refs})
    files = {r.image.resolve() for r in cv_refs}
    shared = sorted(r.key for r in refs if r.image.resolve() in files)
    if keys or shared:
        raise ValueError(f"data.test_cohort {test_cohort} repeats cross-validation cases "
                         f"(same keys: {keys[:5]}, same CT files: {shared[:5]}); an external "
                         "test case must never enter cross-validation")
    return refs


def score_external_test(sweep: SweepConfig, context: SweepContext, variant: str,
                        refs: Sequence[CaseRef],
                        choice: PostprocessingChoice | None) -> dict[str, Any]:
    """Score ``variant``'s fold ensemble on ``refs``; log and return rows and means."""
    assert context.parent_run_id is not None  # the models are the parent run's children
    ensemble, resolved, folds = load_variant_ensemble(context.tracking_uri,
                                                      context.parent_run_id, variant)
    config = TrialConfig.model_validate(resolved)
    cache = PreprocessedCache(Path(context.cache_root) / PREPROCESSED_DIR)
    cases = (cache.get(ref, config.preprocessing.steps) for ref in refs)
    chosen = None if choice is None else choice.chosen
    gpus = context.gpus_per_trial  # None: one GPU where there is one, as for a trial
    device = torch.device("cuda" if (gpus is None or gpus > 0) and torch.cuda.is_available()
                          else "cpu")
    evaluations = evaluate_cases(
        ensemble, cases, refs, Scoring.of(config), device=device,
        extra_scores=case_scores(config),
        postprocess=None if chosen is None else POSTPROCESSING.create(chosen))
    rows = [evaluation.row for evaluation in evaluations]
    means = fold_means(rows)
    report = {"variant": variant, "folds": folds, "cases": len(rows),
              "postprocessing": None if chosen is None else chosen.dump(), "means": means,
              "rows": rows}
    log_json(context.tracking_uri, context.parent_run_id, f"external_test/{variant}/scores.json",
             report)
    log_json(context.tracking_uri, context.parent_run_id,
             f"external_test/{variant}/summary.json", nnunet_summary(rows))
    return report


def after_cross_validation(sweep: SweepConfig, context: SweepContext,
                           variants: Sequence[str]) -> list[str]:
    """Choose post-processing, score ensembles on ``data.test_cohort``, log each variant's
    ensemble model (``<variant>-ensemble``); return the notes for under Table 1."""
    assert context.parent_run_id is not None
    uri, parent = context.tracking_uri, context.parent_run_id
    candidates = {v: sweep.resolve_variant(v).eval.postprocessing for v in variants}
    choices = choose_for_sweep(uri, parent, candidates)
    notes = [choice.note() for choice in choices.values()]
    refs = None if sweep.data.test_cohort is None else load_test_refs(
        sweep.data.test_cohort, load_cohort(Path(context.cohort)))
    results = fetch_trial_results(uri, parent)
    for variant in variants:
        external = None
        if refs is not None:
            external, note = _external_test(sweep, context, variant, refs, choices.get(variant))
            notes.append(note)
        try:
            log_variant_ensemble(uri, parent, results, variant, choice=choices.get(variant),
                                 external=external)
        except KeyError as err:  # no finished fold: Table 1 says why
            logger.info("no ensemble model of %s logged: %s", variant, err)
        except ValueError as err:  # members that cannot be averaged
            logger.warning("no ensemble model of %s logged: %s", variant, err)
    return notes


def _external_test(sweep: SweepConfig, context: SweepContext, variant: str,
                   refs: Sequence[CaseRef], choice: PostprocessingChoice | None
                   ) -> tuple[dict[str, float] | None, str]:
    """Score ``variant``'s ensemble on the test cohort: its means (None if not scored) and
    the line for under Table 1."""
    try:
        report = score_external_test(sweep, context, variant, refs, choice)
    except KeyError as err:  # no finished fold model: the table says which folds failed
        logger.error("external test of %s skipped: %s", variant, err)
        return None, f"external test cohort: {variant} not scored ({err})"
    means = report["means"]
    return means, (
        f"external test cohort ({report['cases']} patients, never in cross-validation), "
        f"{variant}: ensemble of folds {report['folds']}"
        f"{'' if report['postprocessing'] is None else ' + its post-processing'}: "
        f"Dice {means['dice']:.4f}, lesion F1 {means['lesion_f1']:.4f}, surface Dice "
        f"{means['surface_dice']:.4f}, |volume difference| {means['abs_volume_diff_ml']:.3f} "
        "mL (means over patients)")


def choose_for_sweep(
    uri: str, parent_run_id: str, candidates: Mapping[str, Sequence[PartSpec]]
) -> dict[str, PostprocessingChoice]:
    """Choose per variant on its finished CV trials and log ``postprocessing.json``.

    Args:
        candidates: each variant's ``eval.postprocessing``; variants without candidates
            are left out.
    """
    results = fetch_trial_results(uri, parent_run_id)
    choices = {}
    for variant, specs in candidates.items():
        if not specs:
            continue
        rows = [row for r in results if r.variant == variant and r.status == "FINISHED"
                for row in r.per_patient]
        if not rows:
            logger.warning("variant %s: no finished trial, no post-processing chosen", variant)
            continue
        try:
            choices[variant] = choice = choose(variant, rows, specs)
        except ValueError as err:  # trials run before these candidates: nothing to choose on
            logger.error("no post-processing chosen: %s", err)
            continue
        logger.info("%s", choice.note())
    if choices:
        log_json(uri, parent_run_id, CHOICE_FILE,
                 {variant: choice.to_json() for variant, choice in choices.items()})
    return choices
