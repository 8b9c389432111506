"""Preprocessed cases on disk, computed once per (source files, steps, code) and shared.

Why: preprocessing a 512 x 512 x 405 scan costs about a second after a second of
DICOM reading, and a sweep asks for the same case in every trial of every fold on
every node. The cache follows nnU-Net's ``generate_data_identifier`` idea: the entry
name is a hash of everything that decides the result, so a changed config or code
version simply misses, and nothing is ever invalidated by hand.

- Key: SHA-256 of the source fingerprint (resolved path, size and mtime of every file
  of the DICOM folder and the mask, plus the series and label choice), the steps'
  canonical JSON (defaults filled in) and :data:`CODE_VERSION`. Copying a cohort to
  another path or touching a file gives new keys: a miss, never a stale hit.
- Entry: ``ROOT/ab/<key>.npz``, deflate-compressed. The image is stored as 16-bit
  fixed point (``round(x * 65535)``): the error is at most 7.6e-6, about 0.0006 HU of
  the [0, 80] HU window and far below CT noise (about 5 HU), and 0 and 1 are exact.
  float16 would give 4.9e-4 near 1 for the same size. Masks are stored as they are.
- Integrity: the entry holds a SHA-256 of its arrays, checked on every read (zip's
  CRC-32 also guards each member). A truncated or damaged entry is logged, deleted and
  rebuilt: it is never returned. The checksum lives inside the entry, not in a
  sidecar, so one rename publishes entry and checksum together.
- Concurrency: a writer fills a unique temporary file in the entry's folder and
  ``os.replace``s it into place, which is atomic on POSIX file systems (NFS and Lustre
  included). Readers see a whole entry or none. A miss takes an exclusive lock on
  ``<entry>.lock`` (``flock`` through ``filelock``; the kernel releases it if the holder
  dies) and reads again before building, so trials that miss the same entry at once
  on one node build it once and the others read it. Where a file system has no locks
  (some FUSE mounts) the build goes on unlocked: duplicate work, never a damaged entry.
- Cluster: ``cache_root`` can be node-local (each node builds what its trials need, once)
  or shared (every node reuses every entry; the cohort must then sit at the same path on
  every node, since resolved paths are part of the key). ``infra/README.md`` weighs them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import astuple, replace
from pathlib import Path

import numpy as np

from data_pipeline.cohort.cohort import Case, CaseRef, load_case
from data_pipeline.content_hash import content_hash
from data_pipeline.errors import DataError
from data_pipeline.parts import PartSpec
from data_pipeline.preprocess import PreprocessedCase, canonical_steps, preprocess
from data_pipeline.preprocess.volume import LesionLoss

__all__ = ["CODE_VERSION", "PREPROCESSED_DIR", "PreprocessedCache", "cache_key",
           "cohort_fingerprint", "source_fingerprint", "stored_image"]

logger = logging.getLogger(__name__)

CODE_VERSION = "preprocess-2/entry-3"
"""Part of every key: bump it when a step's output or the entry layout changes."""

PREPROCESSED_DIR = "preprocessed"
"""Sub-folder of a sweep's ``cache_root`` that holds this cache (trials and ``prepare``)."""

_SCALE = 65535.0  # 16-bit fixed point for images in [0, 1]
_ARRAYS = ("image", "lesion", "brain", "crop_box", "full_shape", "spacing", "lesion_loss")
_LOCK_TIMEOUT_S = 1800.0  # far longer than one case's build; then build anyway
_UNREADABLE = (OSError, EOFError, KeyError, ValueError, zipfile.BadZipFile, zlib.error)


def cache_key(ref: CaseRef, steps: Sequence[PartSpec]) -> str:
    """The entry name of ``ref`` preprocessed with ``steps`` (64 hex digits).

    Raises:
        UnknownStepError, ValueError: invalid steps (checked before any file is read).
        DataError: a source file cannot be read.
    """
    doc = {
        "source": source_fingerprint(ref),
        "steps": json.loads(canonical_steps(steps)),
        "code": CODE_VERSION,
    }
    return content_hash(doc, compact=False)


def cohort_fingerprint(refs: Sequence[CaseRef]) -> str:
    """SHA-256 (64 hex digits) of a cohort: every case key with its source fingerprint.

    The same files the cache keys on (resolved path, size and mtime of every file, series
    and label choice), so it changes exactly when a cache entry of some case would, and
    costs one ``stat`` per file, no reading. Order of ``refs`` does not matter.

    Raises:
        DataError: a case's files cannot be read.
    """
    doc = sorted([ref.key, source_fingerprint(ref)] for ref in refs)
    return content_hash(doc, compact=False)


def source_fingerprint(ref: CaseRef) -> dict[str, object]:
    """Resolved path, size and modification time of every source file of ``ref``, and its
    series and label choice: what a cache entry or a sweep's work key depends on.

    Raises:
        DataError: a source file cannot be read.
    """
    files: list[list[object]] = []
    for top in (ref.image, ref.mask_path):
        if top is None:
            continue
        try:
            paths = sorted(p for p in Path(top).rglob("*") if p.is_file()) if Path(top).is_dir() \
                else [Path(top)]
            for path in paths:
                stat = path.stat()
                files.append([str(path.resolve()), stat.st_size, stat.st_mtime_ns])
        except OSError as err:
            raise DataError(ref.key, f"cannot read {top} to fingerprint it: {err}") from err
    if not files:
        raise DataError(ref.key, f"no files under {ref.image}")
    return {"files": files, "series_uid": ref.series_uid, "label": ref.label}


class PreprocessedCache:
    """Content-addressed store of preprocessed cases under ``root`` (see module doc).

    Args:
        root: the cache folder; on a cluster a shared file system, so every node
            reuses every entry. Created on the first write.
        loader: reads a case on a miss (tests pass a phantom-based loader).

    Attributes:
        hits: entries read from disk by :meth:`get`.
        misses: entries computed (absent, or found damaged and rebuilt).
    """

    def __init__(self, root: Path, *, loader: Callable[[CaseRef], Case] = load_case) -> None:
        self.root = Path(root)
        self.hits = 0
        self.misses = 0
        self._loader = loader

    def path(self, key: str) -> Path:
        """Where the entry ``key`` lives."""
        return self.root / key[:2] / f"{key}.npz"

    def get(self, ref: CaseRef, steps: Sequence[PartSpec]) -> PreprocessedCase:
        """The preprocessed case: read from the cache, or computed and stored.

        A miss and a later hit return identical arrays (both are decoded from the
        stored form).

        Raises:
            UnknownStepError, ValueError: invalid steps.
            DataError: the case cannot be loaded or preprocessed (names the case key).
        """
        path = self.path(cache_key(ref, steps))
        stored = self._read(path, ref.key)
        if stored is None:
            with _entry_lock(path):
                stored = self._read(path, ref.key)  # built while this process waited?
                if stored is None:
                    return self._build(path, ref, steps)
        self.hits += 1
        return _decode(stored)

    def _build(self, path: Path, ref: CaseRef, steps: Sequence[PartSpec]) -> PreprocessedCase:
        self.misses += 1
        case = self._loader(ref)
        try:
            result = preprocess(case.hu, case.lesion, steps)
        except ValueError as err:
            raise DataError(ref.key, f"preprocessing failed: {err}") from err
        result = replace(result, spacing=case.geometry.spacing)
        arrays = _encode(result)
        self._write(path, arrays)
        logger.debug("case %s: preprocessed and cached as %s", ref.key, path.name)
        return _decode(arrays)

    def _read(self, path: Path, key: str) -> dict[str, np.ndarray] | None:
        try:
            with np.load(path, allow_pickle=False) as entry:
                arrays = {name: entry[name] for name in _ARRAYS}
                recorded = bytes(entry["sha256"])
        except FileNotFoundError:
            return None
        except _UNREADABLE as err:
            self._discard(path, key, f"unreadable ({type(err).__name__}: {err})")
            return None
        if recorded != _digest(arrays):
            self._discard(path, key, "checksum mismatch")
            return None
        return arrays

    def _discard(self, path: Path, key: str, why: str) -> None:
        logger.warning("case %s: cache entry %s is %s; rebuilding it", key, path.name, why)
        path.unlink(missing_ok=True)

    def _write(self, path: Path, arrays: dict[str, np.ndarray]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, scratch = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem[:16]}-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                np.savez_compressed(handle, sha256=np.frombuffer(_digest(arrays), np.uint8),
                                    **arrays)  # type: ignore[arg-type]  # mypy matches **arrays to allow_pickle too
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(scratch, path)
        except BaseException:
            Path(scratch).unlink(missing_ok=True)
            raise


def stored_image(image: np.ndarray) -> np.ndarray:
    """``image`` (float32 in [0, 1]) as every trial reads it from the cache: rounded to
    the 16-bit fixed point of the entries (at most 7.6e-6 off).

    Inference on a new scan (``platform.inference.segment``) applies it so that the network sees
    exactly what the trial's evaluation saw, and predicts the same mask.
    """
    return _from_fixed(_to_fixed(image))


def _to_fixed(image: np.ndarray) -> np.ndarray:
    return np.rint(image * _SCALE).astype(np.uint16)


def _from_fixed(stored: np.ndarray) -> np.ndarray:
    image = stored.astype(np.float32)
    image /= np.float32(_SCALE)
    return image


@contextmanager
def _entry_lock(path: Path) -> Iterator[None]:
    """Hold ``<entry>.lock`` while building ``path``; unlocked where locks do not work."""
    from filelock import FileLock, Timeout

    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path.with_suffix(".lock")), timeout=_LOCK_TIMEOUT_S)
    try:
        lock.acquire()
    except (OSError, Timeout) as err:
        logger.warning("cache entry %s: no lock (%s); building it unlocked", path.name, err)
        yield
        return
    try:
        yield
    finally:
        lock.release()


def _encode(case: PreprocessedCase) -> dict[str, np.ndarray]:
    return {
        "image": _to_fixed(case.image),
        "lesion": np.ascontiguousarray(case.lesion, dtype=np.uint8),
        "brain": np.ascontiguousarray(case.brain, dtype=np.uint8),
        "crop_box": np.array(case.crop_box, dtype=np.int64),
        "full_shape": np.array(case.full_shape, dtype=np.int64),
        "spacing": np.array(case.spacing, dtype=np.float64),
        "lesion_loss": np.array(astuple(case.lesion_loss), dtype=np.int64),
    }


def _decode(arrays: dict[str, np.ndarray]) -> PreprocessedCase:
    (z0, z1), (y0, y1), (x0, x1) = arrays["crop_box"]
    depth, rows, cols = arrays["full_shape"]
    dz, dy, dx = arrays["spacing"]
    return PreprocessedCase(
        image=_from_fixed(arrays["image"]),
        lesion=arrays["lesion"],
        brain=arrays["brain"],
        crop_box=((int(z0), int(z1)), (int(y0), int(y1)), (int(x0), int(x1))),
        full_shape=(int(depth), int(rows), int(cols)),
        spacing=(float(dz), float(dy), float(dx)),
        lesion_loss=LesionLoss(*(int(n) for n in arrays["lesion_loss"])),
    )


def _digest(arrays: dict[str, np.ndarray]) -> bytes:
    """SHA-256 over each array's name, dtype, shape and bytes, in a fixed order."""
    digest = hashlib.sha256()
    for name in _ARRAYS:
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}:{array.dtype.str}:{array.shape};".encode())
        digest.update(array.data.cast("B"))
    return digest.digest()
