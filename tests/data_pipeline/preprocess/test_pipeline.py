"""Tests for data_pipeline/preprocess/pipeline.py on synthetic heads (issue 5, "Done when")."""

from __future__ import annotations

import numpy as np
import pytest

from data_pipeline.preprocess import (
    FINAL_STEPS,
    NO_PREPROCESSING_STEPS,
    PreprocessedCase,
    preprocess,
    step,
)
from data_pipeline.synthetic.phantom import HeadPhantom, Tissue, make_head_phantom

SPACING = (0.5, 0.45, 0.45)


def _phantom(seed: int, shape: tuple[int, int, int] = (48, 48, 48)) -> HeadPhantom:
    return make_head_phantom(shape, SPACING, np.random.default_rng(seed))


@pytest.fixture(scope="module", params=[0, 1, 2], ids=lambda s: f"seed{s}")
def phantom(request: pytest.FixtureRequest) -> HeadPhantom:
    return _phantom(request.param)


@pytest.fixture(scope="module")
def case(phantom: HeadPhantom) -> PreprocessedCase:
    return preprocess(phantom.hu.astype(np.float32), phantom.lesion, FINAL_STEPS)


def _kept(case: PreprocessedCase, where: np.ndarray) -> float:
    return float(case.paste(case.brain).astype(bool)[where].mean())


def test_brain_is_kept_skull_and_holder_removed(
    phantom: HeadPhantom, case: PreprocessedCase
) -> None:
    assert _kept(case, phantom.brain) >= 0.99
    assert _kept(case, phantom.tissue == Tissue.SKULL) <= 0.01
    assert _kept(case, phantom.tissue == Tissue.HOLDER) <= 0.01
    assert _kept(case, phantom.tissue == Tissue.SCALP) <= 0.01
    assert _kept(case, phantom.lesion.astype(bool)) == 1.0


def test_output_types_ranges_and_background(
    phantom: HeadPhantom, case: PreprocessedCase
) -> None:
    assert case.image.dtype == np.float32
    assert case.lesion.dtype == case.brain.dtype == np.uint8
    assert case.image.shape == case.lesion.shape == case.brain.shape
    assert case.image.min() == 0.0 and case.image.max() == 1.0
    # The paper's min-max (FINAL_STEPS) lifts the standardized background to one grey level.
    background = np.unique(case.image[case.brain == 0])
    assert background.size == 1 and 0.0 < background[0] < 1.0
    assert not np.signbit(case.image).any()
    zero_background = [s if s.name != "minmax" else step("minmax") for s in FINAL_STEPS]
    kept_at_zero = preprocess(phantom.hu.astype(np.float32), phantom.lesion, zero_background)
    assert np.all(kept_at_zero.image[kept_at_zero.brain == 0] == 0.0)


def test_crop_is_the_brain_box_and_pastes_back_exactly(
    phantom: HeadPhantom, case: PreprocessedCase
) -> None:
    brain = case.paste(case.brain).astype(bool)
    np.testing.assert_array_equal(case.paste(case.lesion), phantom.lesion)
    for axis, (start, stop) in enumerate(case.crop_box):
        others = tuple(a for a in range(3) if a != axis)
        present = np.flatnonzero(brain.any(axis=others))
        assert (present[0], present[-1] + 1) == (start, stop)
    full = case.paste(case.image, fill=-1.0)
    assert full.shape == case.full_shape == phantom.hu.shape
    assert np.count_nonzero(full == -1.0) == full.size - case.image.size


def test_standardize_then_minmax_equals_minmax_alone(phantom: HeadPhantom) -> None:
    """Min-max is affine-invariant: with the background kept at 0 this row of Table 1 only
    differs from "pre-processing" where min-max puts the background (issue 5 finding), so
    FINAL_STEPS uses the paper's literal min-max, which lifts the background to mid-grey."""
    hu = phantom.hu.astype(np.float32)
    zero = [step("minmax") if s.name == "minmax" else s for s in FINAL_STEPS]
    final_at_zero = preprocess(hu, phantom.lesion, zero)
    without = preprocess(hu, phantom.lesion, [s for s in FINAL_STEPS if s.name != "standardize"])
    np.testing.assert_allclose(final_at_zero.image, without.image, atol=1e-6)
    grey = preprocess(hu, phantom.lesion, FINAL_STEPS)
    background = np.unique(grey.image[grey.brain == 0])
    assert background.size == 1 and 0.1 < background[0] < 0.9  # the paper's mid-grey


def test_no_preprocessing_keeps_the_whole_volume(phantom: HeadPhantom) -> None:
    case = preprocess(phantom.hu, phantom.lesion, NO_PREPROCESSING_STEPS)
    assert case.crop_box == tuple((0, n) for n in phantom.hu.shape)
    assert np.all(case.brain == 1)
    clipped = np.clip(phantom.hu.astype(np.float64), 0, 80)
    expected = (clipped - clipped.min()) / (clipped.max() - clipped.min())
    np.testing.assert_allclose(case.image, expected, atol=1e-6)


def test_input_is_not_modified_and_dtype_does_not_matter() -> None:
    phantom = _phantom(3)
    hu = phantom.hu.copy()
    from_int = preprocess(phantom.hu, phantom.lesion, FINAL_STEPS)
    from_float = preprocess(phantom.hu.astype(np.float32), phantom.lesion, FINAL_STEPS)
    np.testing.assert_array_equal(phantom.hu, hu)
    np.testing.assert_array_equal(from_int.image, from_float.image)
    np.testing.assert_array_equal(from_int.brain, from_float.brain)


def test_bad_input_is_rejected() -> None:
    with pytest.raises(ValueError, match="one shape"):
        preprocess(np.zeros((8, 8, 8)), np.zeros((8, 8, 7), np.uint8), FINAL_STEPS)
    with pytest.raises(ValueError, match="brain mask is empty"):  # no bone: nothing enclosed
        preprocess(np.full((8, 8, 8), 30.0), np.zeros((8, 8, 8), np.uint8), FINAL_STEPS)
    with pytest.raises(ValueError, match="constant"):
        preprocess(np.full((8, 8, 8), 30.0), np.zeros((8, 8, 8), np.uint8), NO_PREPROCESSING_STEPS)
