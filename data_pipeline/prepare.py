"""Warm the preprocessing cache: every case with every step list a sweep will ask for.

Why: the first trial of a sweep would otherwise preprocess every case while the others
wait for the same entries. The sweep runs this before Ray starts, and alone with
``python -m platform.sweep SWEEP.yaml --prepare-only`` (on several nodes at once, if
their caches are node-local: the cache is safe for concurrent writers). The step lists
come from the validated sweep, overrides included; this module reads no sweep file.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from data_pipeline.cache import PREPROCESSED_DIR, PreprocessedCache
from data_pipeline.cohort.cohort import Case, CaseRef, load_case
from data_pipeline.errors import DataError
from data_pipeline.parts import PartSpec
from data_pipeline.preprocess import LesionLoss, canonical_steps

__all__ = ["WarmResult", "distinct_step_lists", "warm_cache"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WarmResult:
    """What warming did: entries found, built, the cases that failed (key, problem), the
    lesion each case lost per step list (``{(key, canonical steps): LesionLoss}``), the
    shape of each cropped volume (``{(key, canonical steps): (Z, Y, X)}``) and the
    readers' notes of each case read (``{key: notes}``: only cases read for an entry
    built here; a cached entry reads nothing)."""

    cached: int
    built: int
    failed: tuple[tuple[str, str], ...]
    losses: dict[tuple[str, str], LesionLoss]
    shapes: dict[tuple[str, str], tuple[int, ...]] = field(default_factory=dict)
    notes: dict[str, tuple[str, ...]] = field(default_factory=dict)


def distinct_step_lists(lists: Sequence[Sequence[PartSpec]]) -> list[tuple[PartSpec, ...]]:
    """The step lists without repeats (equal lists up to defaults count once), in order."""
    distinct: dict[str, tuple[PartSpec, ...]] = {}
    for steps in lists:
        distinct.setdefault(canonical_steps(steps), tuple(steps))
    return list(distinct.values())


def warm_cache(refs: Sequence[CaseRef], step_lists: Sequence[Sequence[PartSpec]],
               cache_root: Path, *, progress: bool = True) -> WarmResult:
    """Compute each case with each step list into ``cache_root/preprocessed``.

    A case's DICOM is read once for all its step lists. A case that cannot be read or
    preprocessed is reported in :attr:`WarmResult.failed` and the others go on.
    """
    lists = distinct_step_lists(step_lists)
    notes: dict[str, tuple[str, ...]] = {}

    def load(ref: CaseRef) -> Case:
        case = load_case(ref)
        if case.notes:
            notes[ref.key] = case.notes
        return case

    cache = PreprocessedCache(cache_root / PREPROCESSED_DIR,
                              loader=functools.lru_cache(maxsize=1)(load))
    failed: list[tuple[str, str]] = []
    losses: dict[tuple[str, str], LesionLoss] = {}
    shapes: dict[tuple[str, str], tuple[int, ...]] = {}
    with tqdm(total=len(refs) * len(lists), unit="entry", desc="preprocessing",
              disable=None if progress else True) as bar:
        for ref in refs:
            for steps in lists:
                try:
                    case = cache.get(ref, steps)
                    losses[ref.key, canonical_steps(steps)] = case.lesion_loss
                    shapes[ref.key, canonical_steps(steps)] = tuple(case.image.shape)
                except DataError as err:
                    failed.append((ref.key, err.problem))
                bar.update()
    unique = tuple(sorted(set(failed)))
    return WarmResult(cached=cache.hits, built=cache.misses - len(failed), failed=unique,
                      losses=losses, shapes=shapes, notes=notes)
