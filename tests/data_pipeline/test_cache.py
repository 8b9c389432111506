"""Tests for data_pipeline/cache.py: hits, keys, integrity, concurrent writers."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import threading
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from data_pipeline.cache import PreprocessedCache, cache_key, cohort_fingerprint, stored_image
from data_pipeline.cohort.cohort import Case, CaseRef
from data_pipeline.errors import DataError
from data_pipeline.io.geometry import Geometry
from data_pipeline.preprocess import FINAL_STEPS, PREPROCESSING_STEPS, preprocess, step
from data_pipeline.synthetic.phantom import make_head_phantom

SPACING = (0.5, 0.45, 0.45)


class PhantomLoader:
    """A real loader for tests: a phantom seeded by the case key, counting its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, ref: CaseRef) -> Case:
        self.calls += 1
        seed = int(hashlib.sha256(ref.key.encode()).hexdigest()[:8], 16)
        phantom = make_head_phantom((40, 40, 40), SPACING, np.random.default_rng(seed))
        return Case(ref.key, phantom.hu.astype(np.float32), phantom.lesion,
                    Geometry(spacing=SPACING, origin=(0.0, 0.0, 0.0)))


def _ref(tmp_path: Path, key: str = "case-000") -> CaseRef:
    folder = tmp_path / "cohort" / key
    (folder / "dicom").mkdir(parents=True, exist_ok=True)
    for i in range(3):
        (folder / "dicom" / f"{i:02x}.dcm").write_bytes(bytes([i]) * 100)
    (folder / "lesion.nii.gz").write_bytes(b"mask")
    return CaseRef(key, folder / "dicom", folder / "lesion.nii.gz")


@pytest.fixture()
def loader() -> PhantomLoader:
    return PhantomLoader()


def _assert_same(a, b) -> None:
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.lesion, b.lesion)
    np.testing.assert_array_equal(a.brain, b.brain)
    assert (a.crop_box, a.full_shape, a.spacing) == (b.crop_box, b.full_shape, b.spacing)
    assert a.lesion_loss == b.lesion_loss


def test_second_get_is_a_hit_with_identical_arrays(tmp_path: Path, loader: PhantomLoader) -> None:
    cache = PreprocessedCache(tmp_path / "cache", loader=loader)
    ref = _ref(tmp_path)
    first = cache.get(ref, FINAL_STEPS)
    assert (cache.hits, cache.misses, loader.calls) == (0, 1, 1)
    second = cache.get(ref, FINAL_STEPS)
    assert (cache.hits, cache.misses, loader.calls) == (1, 1, 1)
    _assert_same(first, second)
    assert first.spacing == SPACING  # from the scan's geometry, for HD95 and volumes
    other_node = PreprocessedCache(tmp_path / "cache", loader=loader)  # another trial or node
    _assert_same(other_node.get(ref, FINAL_STEPS), first)
    assert (other_node.hits, loader.calls) == (1, 1)


def test_stored_image_is_within_fixed_point_precision(
    tmp_path: Path, loader: PhantomLoader
) -> None:
    ref = _ref(tmp_path)
    cached = PreprocessedCache(tmp_path / "cache", loader=loader).get(ref, FINAL_STEPS)
    case = loader(ref)
    direct = preprocess(case.hu, case.lesion, FINAL_STEPS)
    assert np.abs(cached.image - direct.image).max() <= 0.5 / 65535 + 1e-7
    assert cached.image.dtype == np.float32 and cached.image.min() == 0 and cached.image.max() == 1
    np.testing.assert_array_equal(cached.brain, direct.brain)
    # What inference on a new scan applies (platform.inference.segment): the cache's own rounding.
    np.testing.assert_array_equal(stored_image(direct.image), cached.image)


def test_cohort_fingerprint_follows_the_files_not_the_order(tmp_path: Path) -> None:
    refs = [_ref(tmp_path, "case-000"), _ref(tmp_path, "case-001")]
    digest = cohort_fingerprint(refs)
    assert len(digest) == 64 and cohort_fingerprint(refs[::-1]) == digest
    assert cohort_fingerprint(refs[:1]) != digest  # a case fewer
    os.utime(refs[1].mask_path, ns=(1, 1))  # a mask was edited
    assert cohort_fingerprint(refs) != digest


def test_key_follows_steps_files_and_series(tmp_path: Path) -> None:
    ref = _ref(tmp_path)
    key = cache_key(ref, FINAL_STEPS)
    spelled = [step("hu_window", {"low": 0, "high": 80})] + list(FINAL_STEPS[1:])
    assert cache_key(ref, spelled) == key  # defaults filled in: same entry
    assert cache_key(ref, PREPROCESSING_STEPS) != key
    assert cache_key(CaseRef(ref.key, ref.dicom_dir, ref.mask_path, series_uid="1.2"),
                     FINAL_STEPS) != key
    assert cache_key(_ref(tmp_path, "case-001"), FINAL_STEPS) != key  # another folder
    os.utime(ref.mask_path, ns=(1, 1))  # the mask was edited
    assert cache_key(ref, FINAL_STEPS) != key


def test_bad_steps_fail_before_anything_is_loaded(tmp_path: Path, loader: PhantomLoader) -> None:
    cache = PreprocessedCache(tmp_path / "cache", loader=loader)
    with pytest.raises(KeyError, match="hu_windw"):
        cache.get(_ref(tmp_path), [step("hu_windw"), step("minmax")])
    assert loader.calls == 0 and not (tmp_path / "cache").exists()


def test_missing_source_is_a_data_error(tmp_path: Path, loader: PhantomLoader) -> None:
    cache = PreprocessedCache(tmp_path / "cache", loader=loader)
    with pytest.raises(DataError, match="cannot read .*absent") as info:
        cache.get(CaseRef("case-009", tmp_path / "absent", None), FINAL_STEPS)
    assert info.value.case_key == "case-009"
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no files"):
        cache.get(CaseRef("case-009", tmp_path / "empty", None), FINAL_STEPS)


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0xFF
    path.write_bytes(bytes(data))


def _tamper_arrays(path: Path) -> None:
    """A well-formed zip whose image changed but whose checksum did not."""
    with np.load(path) as entry:
        arrays = {name: entry[name] for name in entry.files}
    arrays["image"] = arrays["image"].copy()
    arrays["image"].flat[arrays["image"].size // 2] ^= 1
    np.savez_compressed(path, **arrays)
    assert zipfile.is_zipfile(path)


@pytest.mark.parametrize(
    "damage", [_truncate, _flip_a_byte, _tamper_arrays, lambda p: p.write_bytes(b"")],
    ids=["truncated", "flipped-byte", "tampered-arrays", "empty"])
def test_damaged_entry_is_rebuilt_not_returned(
    tmp_path: Path, loader: PhantomLoader, damage, caplog: pytest.LogCaptureFixture
) -> None:
    cache = PreprocessedCache(tmp_path / "cache", loader=loader)
    ref = _ref(tmp_path)
    good = cache.get(ref, FINAL_STEPS)
    damage(cache.path(cache_key(ref, FINAL_STEPS)))
    rebuilt = cache.get(ref, FINAL_STEPS)
    assert (cache.hits, cache.misses, loader.calls) == (0, 2, 2)
    assert "rebuilding" in caplog.text and "case-000" in caplog.text
    _assert_same(rebuilt, good)
    assert cache.get(ref, FINAL_STEPS) is not None and cache.hits == 1


def test_concurrent_writers_leave_one_valid_entry(tmp_path: Path, loader: PhantomLoader) -> None:
    ref = _ref(tmp_path)
    start = threading.Barrier(4)
    results = []

    def trial() -> None:
        cache = PreprocessedCache(tmp_path / "cache", loader=loader)
        start.wait()
        results.append(cache.get(ref, FINAL_STEPS))

    threads = [threading.Thread(target=trial) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4
    for other in results[1:]:
        _assert_same(results[0], other)
    assert loader.calls == 1  # the others waited for the lock, then read the entry
    entries = list((tmp_path / "cache").rglob("*"))
    # No temporary file left; the lock file stays (it is empty and costs nothing).
    assert sorted(p.suffix for p in entries if p.is_file()) == [".lock", ".npz"]
    check = PreprocessedCache(tmp_path / "cache", loader=loader)
    _assert_same(check.get(ref, FINAL_STEPS), results[0])
    assert check.hits == 1


def test_a_crashed_writers_scratch_file_is_ignored(tmp_path: Path, loader: PhantomLoader) -> None:
    cache = PreprocessedCache(tmp_path / "cache", loader=loader)
    ref = _ref(tmp_path)
    path = cache.path(cache_key(ref, FINAL_STEPS))
    path.parent.mkdir(parents=True)
    (path.parent / f".{path.stem[:16]}-x.tmp").write_bytes(b"half an entry")
    cache.get(ref, FINAL_STEPS)
    assert cache.misses == 1 and path.exists()


class FileCountingLoader(PhantomLoader):
    """Counts its calls in a file, so that calls in other processes count too; slow enough
    (0.5 s) that every process misses the entry while the first builds it."""

    def __init__(self, log: Path) -> None:
        super().__init__()
        self.log = log

    def __call__(self, ref: CaseRef) -> Case:
        with self.log.open("a") as sink:
            sink.write(f"{os.getpid()}\n")
        time.sleep(0.5)
        return super().__call__(ref)


def _trial_process(root: Path, ref: CaseRef, loader: FileCountingLoader, start: Any,
                   out: Path) -> None:
    start.wait()
    case = PreprocessedCache(root, loader=loader).get(ref, FINAL_STEPS)
    np.save(out, case.image)


def test_trial_processes_building_one_entry_at_once_build_it_once(tmp_path: Path) -> None:
    # Issue 12: Ray runs trials as processes; several on one node miss the same entry.
    ref = _ref(tmp_path)
    log = tmp_path / "loads.txt"
    context = multiprocessing.get_context("fork")
    start = context.Barrier(4)
    outs = [tmp_path / f"image-{i}.npy" for i in range(4)]
    workers = [context.Process(target=_trial_process,
                               args=(tmp_path / "cache", ref, FileCountingLoader(log), start, out))
               for out in outs]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [worker.exitcode for worker in workers] == [0] * 4
    assert len(log.read_text().split()) == 1, "the entry was built more than once"
    images = [np.load(out) for out in outs]
    for image in images[1:]:
        np.testing.assert_array_equal(images[0], image)
    check = PreprocessedCache(tmp_path / "cache", loader=PhantomLoader())
    np.testing.assert_array_equal(check.get(ref, FINAL_STEPS).image, images[0])
    assert check.hits == 1
