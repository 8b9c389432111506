"""Warm the preprocessing cache before Ray starts, and refuse cases that lost their lesion.

Every variant's steps run over every case once (``--prepare-only`` stops here); each
lesion voxel preprocessing removed is counted and logged, and a case over the variant's
``preprocessing.max_lesion_loss`` is refused by name before any training.
"""

from __future__ import annotations

import logging
from pathlib import Path

from data_pipeline.cohort.cohort import load_cohort
from data_pipeline.prepare import warm_cache
from data_pipeline.preprocess import canonical_steps
from platform.config import SweepConfig

__all__ = ["prepare_cache"]

logger = logging.getLogger(__name__)


def prepare_cache(sweep: SweepConfig, cohort: Path) -> bool:
    """Warm the cache with every variant's steps (overrides included); True if every case
    was built and none lost more of its lesion than its variant allows.

    Every lesion loss is logged; a case over ``preprocessing.max_lesion_loss`` is refused
    here, by name, before Ray starts.
    """

    lists = [variant.config.preprocessing.steps for variant in sweep.variants]
    result = warm_cache(load_cohort(cohort), lists, Path(sweep.data.cache_root))
    logger.info("preprocessing cache: %d entries already there, %d built, %d failed",
                result.cached, result.built, len(result.failed))
    for key, failure in result.failed:
        logger.error("case %s: %s", key, failure)
    refused = []
    for variant in sweep.variants:
        preprocessing = variant.config.preprocessing
        steps = canonical_steps(preprocessing.steps)
        for (key, text), loss in sorted(result.losses.items()):
            if text != steps or loss.fraction == 0:
                continue
            problem = loss.problem(preprocessing.max_lesion_loss)
            if problem is None:
                logger.info("case %s (variant %s): preprocessing took %.3f %% of the lesion",
                            key, variant.name, 100 * loss.fraction)
            else:
                refused.append(f"case {key} (variant {variant.name}): {problem}")
    for line in refused:
        logger.error("refused %s", line)
    return not result.failed and not refused
