"""Tests for data_pipeline/synthetic/phantom.py: the API, the lesions, determinism, validation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from data_pipeline.synthetic.phantom import HeadPhantom, Tissue, make_head_phantom

SPACING = (0.5, 0.45, 0.45)


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


def test_brain_mask_is_the_intracranial_classes(phantom: HeadPhantom) -> None:
    expected = np.isin(
        phantom.tissue,
        [Tissue.GREY, Tissue.WHITE, Tissue.VENTRICLE, Tissue.LESION, Tissue.CSF],
    )
    np.testing.assert_array_equal(phantom.brain, expected)
    assert phantom.brain.dtype == bool


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
