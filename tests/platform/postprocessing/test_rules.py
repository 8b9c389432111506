"""Post-processing parts (``platform/postprocessing/rules.py``): what each keeps, by hand."""

from __future__ import annotations

import numpy as np
import pytest

from platform.postprocessing.rules import POSTPROCESSING, apply_postprocessing

SPACING = (2.0, 1.0, 1.0)  # 2 uL per voxel


def _mask() -> np.ndarray:
    mask = np.zeros((4, 10, 10), np.uint8)
    mask[1:3, 1:4, 1:4] = 1  # 18 voxels = 0.036 mL
    mask[1, 7:9, 7:9] = 1  # 4 voxels = 0.008 mL
    mask[3, 0, 9] = 1  # 1 voxel = 0.002 mL
    return mask


@pytest.mark.parametrize(("min_volume_ml", "kept"), [(0.001, 23), (0.005, 22), (0.01, 18),
                                                     (0.05, 0)])
def test_remove_small_components_keeps_what_reaches_the_volume(min_volume_ml: float,
                                                               kept: int) -> None:
    spec = POSTPROCESSING.spec("remove_small_components", {"min_volume_ml": min_volume_ml})
    result = apply_postprocessing(spec, _mask(), SPACING)
    assert result.dtype == np.uint8 and int(result.sum()) == kept
    assert not (result & ~_mask().astype(bool)).any()  # never adds a voxel


def test_keep_largest_component() -> None:
    result = apply_postprocessing(POSTPROCESSING.spec("keep_largest_component"), _mask(), SPACING)
    expected = np.zeros_like(_mask())
    expected[1:3, 1:4, 1:4] = 1
    np.testing.assert_array_equal(result, expected)
    empty = np.zeros((4, 10, 10), np.uint8)
    assert not apply_postprocessing(POSTPROCESSING.spec("keep_largest_component"), empty,
                                    SPACING).any()


def test_connectivity_decides_what_one_component_is() -> None:
    mask = np.zeros((3, 6, 6), np.uint8)
    mask[1, 1, 1] = mask[1, 2, 2] = mask[1, 3, 3] = 1  # a diagonal: one lesion at 18 or 26
    mask[1, 5, 0] = 1
    largest = {c: apply_postprocessing(POSTPROCESSING.spec("keep_largest_component",
                                                           {"connectivity": c}), mask, SPACING)
               for c in (6, 26)}
    assert int(largest[26].sum()) == 3 and int(largest[6].sum()) == 1


def test_no_postprocessing_returns_the_mask() -> None:
    np.testing.assert_array_equal(apply_postprocessing(None, _mask().astype(bool), SPACING),
                                  _mask())
