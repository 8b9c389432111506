"""Tests for data_pipeline/preprocess/volume.py: the lazy state, statistics and pasting."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from data_pipeline.preprocess import PreprocessedCase
from data_pipeline.preprocess.volume import LesionLoss, Volume, mask_box


def _case() -> PreprocessedCase:
    image = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4) / 23
    ones = np.ones(image.shape, np.uint8)
    return PreprocessedCase(image, ones, ones, ((1, 3), (2, 5), (0, 4)), (4, 6, 4))


def test_paste_puts_the_crop_back_and_fills_the_rest() -> None:
    case = _case()
    full = case.paste(case.image, fill=-1.0)
    assert full.shape == (4, 6, 4) and full.dtype == np.float32
    np.testing.assert_array_equal(full[1:3, 2:5, 0:4], case.image)
    assert np.count_nonzero(full == -1.0) == full.size - case.image.size
    assert case.paste(case.lesion).dtype == np.uint8


def test_paste_rejects_a_prediction_of_another_shape() -> None:
    with pytest.raises(ValueError, match="differs from the crop"):
        _case().paste(np.zeros((4, 6, 4)))


@pytest.mark.parametrize(
    ("voxels", "box"),
    [
        ([(0, 0, 0)], ((0, 1), (0, 1), (0, 1))),
        ([(1, 2, 3), (4, 0, 5)], ((1, 5), (0, 3), (3, 6))),
        ([(5, 6, 7)], ((5, 6), (6, 7), (7, 8))),
    ],
)
def test_mask_box_is_half_open(voxels: list[tuple[int, int, int]], box: tuple) -> None:
    mask = np.zeros((6, 7, 8), dtype=bool)
    for v in voxels:
        mask[v] = True
    assert mask_box(mask) == box


def test_mask_box_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match="empty"):
        mask_box(np.zeros((2, 2, 2), dtype=bool))


def test_brain_stats_are_those_of_the_clipped_brain_and_computed_once() -> None:
    rng = np.random.default_rng(0)
    hu = rng.normal(40, 30, (6, 7, 8)).astype(np.float32)
    brain = rng.random(hu.shape) < 0.5
    volume = Volume.start(hu, np.zeros(hu.shape, np.uint8))
    volume = Volume(hu, volume.lesion, window=(0.0, 80.0), box=volume.box).with_brain(brain)
    stats = volume.brain_stats()
    values = np.clip(hu[brain].astype(np.float64), 0, 80)
    assert stats.count == brain.sum()
    assert stats.mean == pytest.approx(values.mean(), rel=1e-6)
    assert stats.sd == pytest.approx(values.std(), rel=1e-5)
    assert (stats.low, stats.high) == (values.min(), values.max())
    assert volume.with_affine(2.0, 1.0).brain_stats() is stats  # shared, not recomputed


def test_affine_maps_compose_and_must_keep_order() -> None:
    volume = Volume.start(np.zeros((2, 2, 2)), np.zeros((2, 2, 2), np.uint8))
    twice = volume.with_affine(2.0, 1.0).with_affine(3.0, -1.0)
    assert (twice.scale, twice.offset, twice.background) == (6.0, 2.0, 2.0)
    with pytest.raises(ValueError, match="order"):
        volume.with_affine(-1.0, 0.0)


def test_start_checks_shapes_and_types() -> None:
    with pytest.raises(ValueError, match="one shape"):
        Volume.start(np.zeros((2, 2, 2)), np.zeros((2, 2), np.uint8))
    with pytest.raises(TypeError, match="dtype"):
        Volume.start(np.zeros((2, 2, 2), dtype=bool), np.zeros((2, 2, 2), np.uint8))


def test_lesion_loss_counts_voxels_outside_the_brain_and_the_crop() -> None:
    hu = np.full((6, 8, 8), 30.0, np.float32)
    lesion = np.zeros(hu.shape, np.uint8)
    lesion[2, 1:4, 3] = 1  # three voxels, one of them outside the brain and the crop
    brain = np.zeros(hu.shape, bool)
    brain[1:5, 2:6, 2:6] = True
    volume = Volume.start(hu, lesion).with_brain(brain)
    case = replace(volume, box=((1, 5), (2, 6), (2, 6)), window=(0.0, 80.0)).to_case()
    assert case.lesion_loss == LesionLoss(lesion_voxels=3, outside_brain=1, outside_crop=1)
    assert case.lesion_loss.fractions() == {"remove_skull": 1 / 3, "crop_to_brain": 1 / 3}
    assert case.lesion_loss.problem(0.5) is None
    problem = case.lesion_loss.problem(0.005)
    assert problem is not None and "lost 33.33% of the lesion (1 of 3 voxels)" in problem
    assert "preprocessing.max_lesion_loss = 0.50%" in problem


def test_no_lesion_no_loss() -> None:
    assert LesionLoss().fraction == 0.0 and LesionLoss().problem(0.0) is None
