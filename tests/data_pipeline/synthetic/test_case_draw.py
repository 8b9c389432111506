"""Tests for data_pipeline/synthetic/case_draw.py: a case is a pure function of its seed."""

from __future__ import annotations

import numpy as np
import pytest

from data_pipeline.synthetic.case_draw import (
    PIXEL_SPACING_MM,
    SLICE_STEP_MM,
    anatomies,
    draw_case,
    small_cases,
)
from data_pipeline.synthetic.phantom import Anatomy

SHAPE = (32, 32, 32)


def test_a_case_depends_on_its_seed_and_index_only() -> None:
    first = draw_case(5, 1, SHAPE, False, Anatomy())
    again = draw_case(5, 1, SHAPE, False, Anatomy())
    assert first.key == "case-001"
    assert (first.geometry, first.identity, first.names) == (
        again.geometry, again.identity, again.names)
    np.testing.assert_array_equal(first.phantom.hu, again.phantom.hu)
    other = draw_case(5, 2, SHAPE, False, Anatomy())
    assert other.identity["PatientID"] != first.identity["PatientID"]
    assert other.identity["SeriesInstanceUID"] != first.identity["SeriesInstanceUID"]


def test_grid_and_file_names_are_those_of_a_scanner_export() -> None:
    case = draw_case(0, 0, SHAPE, True, Anatomy())
    z, y, x = case.geometry.spacing
    assert z == SLICE_STEP_MM and y == x
    assert PIXEL_SPACING_MM[0] <= y <= PIXEL_SPACING_MM[1]
    assert len(set(case.names)) == SHAPE[0] and case.names != sorted(case.names)
    assert all(len(name) == len("0123456789ab.dcm") for name in case.names)
    assert case.phantom.hu.shape == SHAPE and case.phantom.lesion.any()


@pytest.mark.parametrize(("patients", "fraction", "count"), [(3, 0.2, 1), (5, 0.5, 2), (4, 0.0, 0)])
def test_fractions_pick_that_many_cases(patients: int, fraction: float, count: int) -> None:
    assert len(small_cases(7, patients, fraction)) == count
    drawn = anatomies(7, patients, fraction)
    assert len(drawn) == patients and sum(a.craniectomy for a in drawn) == count
    assert small_cases(7, patients, fraction) == small_cases(7, patients, fraction)
