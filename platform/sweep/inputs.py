"""The files and folders a sweep names exist and can be used: checked before Ray starts.

Why with the config: a cohort path with a typo used to pass validation and ``--dry-run``,
then start Ray and fail every trial one by one. Here each input is checked once, in the
driver, and each problem is one line naming the key and the path (the caller exits 2).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from data_pipeline.cohort.cohort import load_cohort
from data_pipeline.cohort.splits import from_nnunet_splits
from platform.config.errors import ConfigError, Problem
from platform.config.runtime import RUNS_ROOT
from platform.config.sweep import SweepConfig
from platform.tracking.store import (
    StoreError,
    effective_tracking_uri,
    prepare_store,
    resolve_tracking_uri,
    sqlite_file,
    store_problem,
)
from platform.trial.baselines import missing_requirement
from platform.tune.storage import RayStorage, cluster_problems

__all__ = ["CohortSummary", "check_inputs", "prepare_tracking"]


@dataclass(frozen=True)
class CohortSummary:
    """What ``--dry-run`` says about the data: where it is and how many cases it holds."""

    source: str
    cases: int

    def line(self) -> str:
        """``cohort: <source>: <n> cases``."""
        return f"cohort: {self.source}: {self.cases} cases"


def check_inputs(sweep: SweepConfig, source: str = "inputs") -> CohortSummary:
    """Check the cohort, splits file, cache and storage folders of ``sweep``, that a
    cluster address comes with storage and an MLflow store every node reaches, and that
    an existing SQLite store takes writes (not read-only, not locked).

    Args:
        source: first word of each problem line (the sweep file's name).

    Raises:
        ConfigError: one line per unusable input, naming its key and path.
    """
    problems: list[Problem] = []
    summary, keys = _cohort(sweep, source, problems)
    if sweep.data.test_cohort is not None:
        _test_cohort(sweep, source, problems)
    if sweep.cv.splits_file is not None:
        _splits(sweep, keys, source, problems)
    folders = [("data.cache_root", Path(sweep.data.cache_root))]
    if not RayStorage.of(sweep.ray).is_uri:
        folders.append(("ray.storage_path", Path(sweep.ray.storage_path)))
    study = sqlite_file(sweep.search.storage) if sweep.search is not None else None
    if study is not None:
        folders.append(("search.storage", study.parent))
    tracking = sqlite_file(sweep.tracking.uri or "")
    if tracking is not None:
        folders.append(("tracking.uri", tracking.parent))
    for key, path in folders:
        problem = _unwritable(Path(path))
        if problem:
            problems.append(Problem(source, tuple(key.split(".")), f"{path}: {problem}"))
    problems += _baselines(sweep, source)
    problems += _cluster(sweep, source)
    problems += _store(sweep, source)
    if problems:
        raise ConfigError(problems)
    return summary


def _cohort(sweep: SweepConfig, source: str,
            problems: list[Problem]) -> tuple[CohortSummary, set[str] | None]:
    data = sweep.data
    if data.cohort is None:
        count = data.synthetic.patients
        return CohortSummary("synthetic (generated on first run)", count), None
    try:
        refs = load_cohort(Path(data.cohort))
    except (OSError, ValueError) as err:
        problems.append(Problem(source, ("data", "cohort"), f"{data.cohort}: {err}"))
        return CohortSummary(str(data.cohort), 0), None
    if len(refs) < sweep.cv.folds:
        problems.append(Problem(source, ("cv", "folds"), f"{data.cohort} holds {len(refs)} "
                                f"cases, fewer than cv.folds={sweep.cv.folds}"))
    return CohortSummary(str(data.cohort), len(refs)), {ref.key for ref in refs}


def _test_cohort(sweep: SweepConfig, source: str, problems: list[Problem]) -> None:
    """The external test cohort can be read and shares no case with the CV cohort."""
    # torch, through the module that scores ensembles: loaded only when a sweep names a
    # test cohort, so validating other sweeps stays light.
    from platform.postprocessing.external_test import load_test_refs

    try:
        cv_refs = load_cohort(Path(sweep.data.cohort)) if sweep.data.cohort else []
        load_test_refs(sweep.data.test_cohort, cv_refs)
    except (OSError, ValueError) as err:
        problems.append(Problem(source, ("data", "test_cohort"), f"{sweep.data.test_cohort}: "
                                f"{err}"))


def _splits(sweep: SweepConfig, keys: set[str] | None, source: str,
            problems: list[Problem]) -> None:
    assert sweep.cv.splits_file is not None  # checked by the caller
    path = Path(sweep.cv.splits_file)
    where = ("cv", "splits_file")
    try:
        folds = from_nnunet_splits(path)
    except (OSError, ValueError) as err:
        problems.append(Problem(source, where, str(err)))
        return
    if len(folds) != sweep.cv.folds:
        problems.append(Problem(source, where, f"{path} has {len(folds)} folds, but "
                                f"cv.folds={sweep.cv.folds}; make them agree"))
    named = {k for fold in folds for k in (*fold.train, *fold.test)}
    if keys is not None and named - keys:
        problems.append(Problem(source, where, f"{path} names cases the cohort lacks: "
                                f"{sorted(named - keys)[:5]}"))


def _baselines(sweep: SweepConfig, source: str) -> list[Problem]:
    """A variant naming a baseline whose package is missing: one line with the install
    command (issue 24), instead of every fold's trial failing on import under Ray."""
    problems = []
    for index, variant in enumerate(sweep.variants):
        baseline = variant.config.baseline
        missing = missing_requirement(baseline.name) if baseline is not None else None
        if missing:
            problems.append(Problem(source, ("variants", index, "baseline"),
                                    f"variant {variant.name!r}: {missing}"))
    return problems


def _cluster(sweep: SweepConfig, source: str) -> list[Problem]:
    """A cluster address needs storage and an MLflow store that every node reaches."""
    try:
        uri = effective_tracking_uri(sweep.tracking.uri, RUNS_ROOT)
    except ValueError as err:
        return [Problem(source, ("tracking", "uri"), str(err))]
    return [Problem(source, tuple(key.split(".")), line)
            for key, line in cluster_problems(sweep.ray, uri)]


def prepare_tracking(sweep: SweepConfig, source: str = "inputs") -> None:
    """Create (or wait while another process creates) the sweep's MLflow store, once.

    Raises:
        ConfigError: one line: the store could not be created or opened (a lock held
            too long by another process, a database MLflow refuses).
    """
    try:
        prepare_store(resolve_tracking_uri(sweep.tracking.uri, RUNS_ROOT))
    except (TimeoutError, OSError, StoreError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConfigError([Problem(source, ("tracking", "uri"), first)]) from err


def _store(sweep: SweepConfig, source: str) -> list[Problem]:
    """An existing SQLite store takes writes: not read-only, not locked by another process."""
    try:
        problem = store_problem(effective_tracking_uri(sweep.tracking.uri, RUNS_ROOT))
    except ValueError:  # a URI with credentials: _cluster said so
        return []
    return [Problem(source, ("tracking", "uri"), problem)] if problem else []


def _unwritable(path: Path) -> str | None:
    """Why a folder cannot be used (created on demand), or None."""
    if path.exists():
        if not path.is_dir():
            return "exists and is not a folder"
        return None if os.access(path, os.W_OK | os.X_OK) else "is not writable"
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        return f"cannot be created: {parent} is not a writable folder"
    return None
