"""Patient-level cross-validation folds: made from a seed, saved as JSON, nnU-Net compatible.

Why this module: the paper evaluates with five-fold cross-validation over patients
(Dobshik et al. 2023, section 3). Every trial on every node must derive the same split
from ``(keys, n_folds, seed)``, so the order comes from NumPy's PCG64 *bit stream*,
which NumPy keeps stable across versions and machines (``Generator.permutation`` makes
no such promise), applied to the sorted keys. Folds can also come from, or go to, an
nnU-Net ``splits_final.json``, so a lab can reuse the split of an nnU-Net baseline.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from data_pipeline.errors import DataError

__all__ = [
    "Fold",
    "from_nnunet_splits",
    "load_folds",
    "make_folds",
    "save_folds",
    "save_nnunet_splits",
    "split_validation",
    "to_nnunet_splits",
]

_FORMAT_VERSION = 1


@dataclass(frozen=True)
class Fold:
    """One cross-validation fold: train on ``train``, test on ``test`` (disjoint, sorted)."""

    index: int
    train: tuple[str, ...]
    test: tuple[str, ...]


def _order(count: int, seed: int) -> np.ndarray:
    """A permutation of ``range(count)`` from the stable PCG64 bit stream of ``seed``."""
    draws = np.random.PCG64(seed).random_raw(count)
    return np.argsort(draws, kind="stable")


def make_folds(
    keys: Sequence[str],
    n_folds: int = 5,
    seed: int = 0,
    strata: Mapping[str, float] | None = None,
) -> list[Fold]:
    """Split patients into ``n_folds`` folds whose test sets partition ``keys``.

    Args:
        keys: one pseudonymous key per patient, any order (they are sorted first).
        n_folds: number of folds, at least 2 and at most ``len(keys)``.
        seed: the same seed gives the same folds on every machine.
        strata: optional ``key -> value`` (e.g. lesion volume in mL): patients sorted by
            value are dealt out in blocks of ``n_folds``, one per fold in a random
            order, so every test set spans small to large lesions.

    Returns:
        ``n_folds`` folds; test sets differ in size by at most one.

    Raises:
        ValueError: duplicate keys, a bad ``n_folds``, or ``strata`` missing keys.
    """
    ordered = sorted(keys)
    repeated = sorted(k for k, n in Counter(ordered).items() if n > 1)
    if repeated:
        raise ValueError(f"patient keys must be unique, repeated: {repeated}")
    if not 2 <= n_folds <= len(ordered):
        raise ValueError(
            f"n_folds must be between 2 and the number of patients ({len(ordered)}), "
            f"got {n_folds}"
        )
    if strata is None:
        dealt = [ordered[i] for i in _order(len(ordered), seed)]
    else:
        dealt = _stratified_order(ordered, n_folds, seed, strata)
    tests = [set(dealt[i::n_folds]) for i in range(n_folds)]
    return [
        Fold(i, tuple(k for k in ordered if k not in test), tuple(sorted(test)))
        for i, test in enumerate(tests)
    ]


def _stratified_order(
    ordered: list[str], n_folds: int, seed: int, strata: Mapping[str, float]
) -> list[str]:
    missing = [k for k in ordered if k not in strata]
    if missing:
        raise ValueError(f"strata lack a value for patients {missing[:5]} ({len(missing)} in all)")
    by_value = sorted(ordered, key=lambda k: (float(strata[k]), k))
    draws = np.random.PCG64(seed).random_raw(len(by_value))
    dealt: list[str] = []
    for start in range(0, len(by_value), n_folds):
        block = by_value[start : start + n_folds]
        order = np.argsort(draws[start : start + len(block)], kind="stable")
        dealt.extend(block[i] for i in order)
    return dealt


def split_validation(
    train_keys: Sequence[str], fraction: float, seed: int
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Hold out validation patients from a fold's training patients (for tuning).

    The test fold never enters a search: validation patients come from ``train_keys``
    only. At least one patient goes each way.

    Returns:
        ``(train, validation)``, both sorted.

    Raises:
        ValueError: ``fraction`` outside (0, 1) or fewer than two patients.
    """
    ordered = sorted(train_keys)
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    if len(ordered) < 2:
        raise ValueError(f"need at least 2 training patients to hold some out, got {ordered}")
    count = min(max(round(fraction * len(ordered)), 1), len(ordered) - 1)
    held = {ordered[i] for i in _order(len(ordered), seed)[:count]}
    return (
        tuple(k for k in ordered if k not in held),
        tuple(k for k in ordered if k in held),
    )


def save_folds(path: Path, folds: Sequence[Fold]) -> None:
    """Write folds as JSON: ``{"version": 1, "folds": [{index, train, test}, ...]}``."""
    _check(folds, str(path))
    doc = {
        "version": _FORMAT_VERSION,
        "folds": [{"index": f.index, "train": list(f.train), "test": list(f.test)} for f in folds],
    }
    Path(path).write_text(json.dumps(doc, indent=2) + "\n")


def load_folds(path: Path) -> list[Fold]:
    """Read folds written by :func:`save_folds`, checking that they are a partition.

    Raises:
        ValueError: unreadable JSON or a wrong layout (names the file).
        DataError: a patient in two test sets, or in the train and test set of a fold.
    """
    doc = _read_json(path)
    if not isinstance(doc, dict) or doc.get("version") != _FORMAT_VERSION:
        raise ValueError(f"{path}: expected {{'version': 1, 'folds': [...]}} from save_folds")
    try:
        folds = [Fold(int(f["index"]), tuple(f["train"]), tuple(f["test"])) for f in doc["folds"]]
    except (KeyError, TypeError) as err:
        raise ValueError(f"{path}: each fold needs 'index', 'train' and 'test' ({err})") from err
    _check(folds, str(path))
    return folds


def to_nnunet_splits(folds: Sequence[Fold]) -> list[dict[str, list[str]]]:
    """Folds in nnU-Net's ``splits_final.json`` layout: ``[{"train": [...], "val": [...]}]``."""
    return [{"train": list(f.train), "val": list(f.test)} for f in sorted(folds, key=_index)]


def save_nnunet_splits(path: Path, folds: Sequence[Fold]) -> None:
    """Write folds as an nnU-Net ``splits_final.json``."""
    _check(folds, str(path))
    Path(path).write_text(json.dumps(to_nnunet_splits(folds), indent=4) + "\n")


def from_nnunet_splits(path: Path) -> list[Fold]:
    """Read an nnU-Net ``splits_final.json``; its ``val`` sets become the test sets.

    Raises:
        ValueError: not a list of ``{"train": [...], "val": [...]}`` (names the file).
        DataError: the ``val`` sets overlap, or a fold trains on its own ``val`` patients.
    """
    doc = _read_json(path)
    try:
        folds = [Fold(i, tuple(sorted(s["train"])), tuple(sorted(s["val"])))
                 for i, s in enumerate(doc)]
    except (KeyError, TypeError) as err:
        raise ValueError(
            f"{path}: expected nnU-Net's list of {{'train': [...], 'val': [...]}} ({err})"
        ) from err
    _check(folds, str(path))
    return folds


def _index(fold: Fold) -> int:
    return fold.index


def _read_json(path: Path) -> Any:
    """The JSON document in ``path``, unchecked: each reader checks its own layout."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"cannot read folds from {path}: {err}") from err


def _check(folds: Sequence[Fold], where: str) -> None:
    """Test sets must be disjoint, and no fold may train on its own test patients."""
    seen: dict[str, int] = {}
    for fold in folds:
        for key in fold.test:
            if key in seen:
                raise DataError(key, f"{where}: in the test sets of folds {seen[key]} and "
                                     f"{fold.index}; a patient may be tested once")
            seen[key] = fold.index
        leaked = sorted(set(fold.train) & set(fold.test))
        if leaked:
            raise DataError(leaked[0], f"{where}: fold {fold.index} trains and tests on it "
                                       f"({len(leaked)} such patients)")
