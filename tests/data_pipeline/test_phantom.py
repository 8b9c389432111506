"""Tests for data_pipeline/phantom.py: anatomy, intensities, lesions, determinism."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from data_pipeline.phantom import HeadPhantom, Tissue, make_head_phantom

SPACING = (0.5, 0.45, 0.45)
HEAD = (Tissue.SCALP, Tissue.SKULL)


def _phantom(seed: int, shape=(48, 48, 48), spacing=SPACING, **kwargs) -> HeadPhantom:
    return make_head_phantom(shape, spacing, np.random.default_rng(seed), **kwargs)


@pytest.fixture(scope="module")
def phantom() -> HeadPhantom:
    return _phantom(0)


def test_arrays_have_the_documented_types(phantom: HeadPhantom) -> None:
    assert phantom.hu.shape == phantom.lesion.shape == phantom.tissue.shape == (48, 48, 48)
    assert phantom.hu.dtype == np.int16
    assert phantom.lesion.dtype == np.uint8 and phantom.tissue.dtype == np.uint8
    assert set(np.unique(phantom.lesion)) == {0, 1}
    np.testing.assert_array_equal(phantom.lesion, phantom.tissue == Tissue.LESION)
    assert phantom.spacing == SPACING


@pytest.mark.parametrize(
    ("shape", "spacing"),
    [
        ((48, 48, 48), (0.5, 0.45, 0.45)),
        ((32, 32, 32), (0.5, 0.38, 0.38)),
        ((40, 64, 48), (0.5, 0.5, 0.5)),
        ((64, 40, 40), (0.5, 0.4, 0.4)),
    ],
)
def test_every_tissue_is_present_at_small_sizes(shape, spacing) -> None:
    phantom = _phantom(1, shape, spacing)
    assert set(np.unique(phantom.tissue)) == {int(t) for t in Tissue}


def test_tissue_intensities_are_in_their_ranges(phantom: HeadPhantom) -> None:
    def mean(t: Tissue) -> float:
        return float(phantom.hu[phantom.tissue == t].mean())

    assert abs(mean(Tissue.AIR) + 1000) < 1.0
    assert 30 < mean(Tissue.SCALP) < 55
    assert 28 < mean(Tissue.GREY) < 42
    assert 16 < mean(Tissue.WHITE) < 32
    assert mean(Tissue.GREY) - mean(Tissue.WHITE) > 5
    assert -5 < mean(Tissue.VENTRICLE) < 12 and -5 < mean(Tissue.CSF) < 12
    assert 95 < mean(Tissue.HOLDER) < 605
    skull = phantom.hu[phantom.tissue == Tissue.SKULL]
    assert skull.min() >= 700 and skull.max() <= 1800 and skull.std() > 50  # layered bone
    assert 3.5 < float(phantom.hu[phantom.tissue == Tissue.AIR].std()) < 6.5  # the noise SD


def test_lesions_are_3_to_8_hu_below_the_same_head_without_them() -> None:
    # The healthy head is drawn before the lesions, so lesion_count=0 gives the same head.
    healthy = _phantom(3, lesion_count=0)
    sick = _phantom(3, lesion_count=2)
    assert not healthy.lesion.any()
    inside = sick.lesion.astype(bool)
    drop = healthy.hu[inside].astype(int) - sick.hu[inside]
    assert drop.min() >= 3 and drop.max() <= 8
    np.testing.assert_array_equal(healthy.hu[~inside], sick.hu[~inside])
    assert set(np.unique(healthy.tissue[inside])) <= {Tissue.GREY, Tissue.WHITE}


@pytest.mark.parametrize("seed", range(4))
def test_lesions_stay_inside_the_brain_and_cover_the_stated_fraction(seed: int) -> None:
    normal = _phantom(seed)
    small = _phantom(seed, small_lesions=True)
    assert 0.003 <= normal.lesion.mean() <= 0.015
    assert 0.0005 <= small.lesion.mean() <= 0.003
    for phantom in (normal, small):
        grown = ndimage.binary_dilation(phantom.lesion.astype(bool))
        assert not (grown & ~phantom.brain).any()  # at least one brain voxel to the skull


def test_lesion_count_sets_the_number_of_blobs() -> None:
    phantom = _phantom(5, lesion_count=0)
    assert not phantom.lesion.any()
    with pytest.raises(ValueError, match="lesion_count"):
        _phantom(5, lesion_count=-1)


def test_top_slices_have_a_ring_larger_than_the_brain(phantom: HeadPhantom) -> None:
    ring = np.isin(phantom.tissue, HEAD).sum(axis=(1, 2))
    brain = phantom.brain.sum(axis=(1, 2))
    has_brain = np.flatnonzero(brain)
    top_half = np.arange(len(brain)) > (has_brain[0] + has_brain[-1]) / 2
    assert np.count_nonzero((ring > brain) & (brain > 0) & top_half) >= 3


def test_air_above_the_head_and_skull_base_below_the_brain(phantom: HeadPhantom) -> None:
    head = np.isin(phantom.tissue, HEAD) | phantom.brain
    assert not head[-1].any()  # air above the vertex (the couch may run through)
    brain_slices = np.flatnonzero(phantom.brain.any(axis=(1, 2)))
    assert brain_slices[0] >= 3  # a few slices of skull base and soft tissue below the brain
    assert (phantom.tissue[: brain_slices[0]] == Tissue.SKULL).any()
    assert (phantom.tissue[: brain_slices[0]] == Tissue.SCALP).any()


def test_holder_lies_behind_the_head_with_an_air_gap(phantom: HeadPhantom) -> None:
    head = phantom.tissue != Tissue.AIR
    head &= phantom.tissue != Tissue.HOLDER
    holder = phantom.tissue == Tissue.HOLDER
    rows_head = np.flatnonzero(head.any(axis=(0, 2)))
    rows_holder = np.flatnonzero(holder.any(axis=(0, 2)))
    assert rows_holder.max() > rows_head.max()  # posterior = high rows = under a supine head
    assert not (ndimage.binary_dilation(head) & holder).any()


def test_brain_mask_is_the_intracranial_classes(phantom: HeadPhantom) -> None:
    expected = np.isin(
        phantom.tissue,
        [Tissue.GREY, Tissue.WHITE, Tissue.VENTRICLE, Tissue.LESION, Tissue.CSF],
    )
    np.testing.assert_array_equal(phantom.brain, expected)
    assert phantom.brain.dtype == bool


def test_ventricles_are_a_pair_near_the_centre(phantom: HeadPhantom) -> None:
    ventricles = phantom.tissue == Tissue.VENTRICLE
    _, n = ndimage.label(ventricles.any(axis=0))  # projected onto the axial plane
    assert n == 2
    centre = np.array(ndimage.center_of_mass(ventricles))
    brain_centre = np.array(ndimage.center_of_mass(phantom.brain))
    assert np.all(np.abs(centre - brain_centre) < 0.2 * np.array(phantom.hu.shape))


def test_same_generator_state_gives_the_same_phantom() -> None:
    a, b, c = _phantom(7), _phantom(7), _phantom(8)
    np.testing.assert_array_equal(a.hu, b.hu)
    np.testing.assert_array_equal(a.tissue, b.tissue)
    assert not np.array_equal(a.hu, c.hu)


@pytest.mark.parametrize(
    ("shape", "spacing", "match"),
    [
        ((31, 48, 48), SPACING, "shape"),
        ((48, 48), SPACING, "shape"),
        ((48, 48, 48), (0.5, 0.0, 0.45), "spacing"),
        ((48, 48, 48), (0.5, float("nan"), 0.45), "spacing"),
    ],
)
def test_bad_arguments_name_what_was_expected(shape, spacing, match) -> None:
    with pytest.raises(ValueError, match=match):
        make_head_phantom(shape, spacing, np.random.default_rng(0))
