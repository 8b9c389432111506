"""Content keys of a sweep's work: a training's key, and an evaluation's key on top of it.

Why content keys: a trial id (:mod:`platform.sweep.expand`) says which (variant, fold) of which
sweep a run belongs to; a key says what its result depends on, so a finished result can
be found again by any sweep that would compute the same thing (an added variant, folds
run in batches, Table 2's three overlaps on one training).

- training key: the resolved config without its ``eval`` section (preprocessing, sampler,
  model, loss, optimizer, schedule, train, the seed among them), the training patients'
  keys, the data's fingerprint, the preprocessing code version, and the git commit when
  ``reuse.match_code`` is on;
- evaluation key: the training key, the ``eval`` settings that change the numbers
  (inference part, threshold), the test patients' keys and the scoring code version.

The data fingerprint is the generator's settings and version for a synthetic cohort
(its content follows from them), else the path, size and modification time of every
source file (the preprocessing cache's fingerprint: a copied or touched cohort gives
new keys, a miss and never a stale hit).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from data_pipeline.cache import CODE_VERSION as PREPROCESSING_CODE
from data_pipeline.cache import cohort_fingerprint
from data_pipeline.cohort.cohort import CaseRef
from data_pipeline.content_hash import content_hash
from data_pipeline.synthetic.generator import GENERATOR_VERSION
from platform.config.request import FoldKeys, SweepContext, TrialSpec
from platform.config.sweep import DataConfig
from platform.config.trial import TrialConfig
from platform.evaluation.cases import SCORING_VERSION

__all__ = ["KEY_CHARS", "data_fingerprint", "evaluation_key", "keyed", "training_key"]

KEY_CHARS = 16
"""Hex characters of a key (64 bits: no collision in any store's lifetime)."""

_NOT_SCORED = tuple(name.removeprefix("eval.") for name in TrialConfig.unscored)
"""``eval`` fields that change no number of an evaluation (pictures; searches only)."""


def _digest(payload: Mapping[str, Any]) -> str:
    return content_hash(payload, chars=KEY_CHARS)


def data_fingerprint(data: DataConfig, refs: Sequence[CaseRef]) -> str:
    """What the cohort's content is, as a short hash (see the module doc)."""
    if data.cohort is None:
        return _digest({"synthetic": data.synthetic.model_dump(mode="json"),
                        "generator": GENERATOR_VERSION})
    return cohort_fingerprint(refs)[:KEY_CHARS]


def training_key(config: TrialConfig, fold: FoldKeys, context: SweepContext) -> str:
    """Everything that decides the weights a training ends with."""
    return _digest({
        "config": config.identity(exclude=("eval",)),
        "train": sorted(fold.train),
        "data": context.data_fingerprint,
        "preprocessing_code": PREPROCESSING_CODE,
        "code": context.code_version,
    })


def evaluation_key(config: TrialConfig, fold: FoldKeys, context: SweepContext,
                   trained: str) -> str:
    """Everything that decides an evaluation's numbers, given the training ``trained``."""
    return _digest({
        "training": trained,
        "eval": config.eval.model_dump(mode="json", exclude=set(_NOT_SCORED)),
        "test": sorted(fold.test),
        "scoring": SCORING_VERSION,
        "code": context.code_version,
    })


def keyed(specs: Sequence[TrialSpec], context: SweepContext) -> list[TrialSpec]:
    """``specs`` with their training and evaluation keys filled in."""
    out = []
    for spec in specs:
        fold = context.folds[spec.fold]
        trained = training_key(spec.config, fold, context)
        out.append(spec.model_copy(update={
            "training_key": trained,
            "evaluation_key": evaluation_key(spec.config, fold, context, trained)}))
    return out

