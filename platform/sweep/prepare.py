"""Warm the preprocessing cache before Ray starts, and refuse cases a trial cannot use.

Every variant's steps run over every case once (``--prepare-only`` stops here); each
lesion voxel preprocessing removed is counted and logged, and a case over the variant's
``preprocessing.max_lesion_loss`` is refused by name before any training, as is a case
whose cropped volume is smaller than the variant's ``sampler.patch_size`` along an axis
(issue 28: it used to be zero-padded silently), with both sizes. What a case folder holds
besides its CT series (a scout, an RT structure set, another modality) is one warning
per case, in the words of ``inspect`` and ``--dry-run``, when the case is read to build
its cache entries (a cached case is not read again; ``inspect`` and ``--dry-run`` show
the notes every time).
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

    ours = [variant for variant in sweep.variants if variant.config.baseline is None]
    lists = [variant.config.preprocessing.steps for variant in ours]
    result = warm_cache(load_cohort(cohort), lists, Path(sweep.data.cache_root))
    for key, notes in result.notes.items():
        for note in notes:
            logger.warning("case %s: %s", key, note)
    logger.info("preprocessing cache: %d entries already there, %d built, %d failed",
                result.cached, result.built, len(result.failed))
    for key, failure in result.failed:
        logger.error("case %s: %s", key, failure)
    refused = []
    for variant in ours:  # a baseline preprocesses its own way
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
    refused += _too_small(sweep, result.shapes)
    for line in refused:
        logger.error("refused %s", line)
    return not result.failed and not refused


def _too_small(sweep: SweepConfig, shapes: dict[tuple[str, str], tuple[int, ...]]) -> list[str]:
    """Cases whose cropped volume is smaller than a variant's patch along some axis."""
    refused = []
    for variant in sweep.variants:
        config = variant.config
        if config.baseline is not None:
            continue
        steps = canonical_steps(config.preprocessing.steps)
        patch = tuple(config.sampler.params.patch_size)
        for (key, text), shape in sorted(shapes.items()):
            short = [axis for axis, p, n in zip("zyx", patch, shape, strict=True) if n < p]
            if text == steps and short:
                refused.append(
                    f"case {key} (variant {variant.name}): the cropped volume "
                    f"{' x '.join(map(str, shape))} is smaller than the patch "
                    f"{' x '.join(map(str, patch))} along {', '.join(short)}; lower "
                    "sampler.patch_size (a trial would pad it with zeros)")
    return refused
