"""Tests for data_pipeline/io/geometry.py: (Z, Y, X) arrays and SimpleITK's (x, y, z) images."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from data_pipeline.io.geometry import Geometry

TILTED = (0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def test_sitk_round_trip_reverses_the_axis_order() -> None:
    grid = Geometry(spacing=(3.0, 0.8, 0.5), origin=(-10.0, 20.0, 30.5), direction=TILTED)
    image = grid.to_sitk(sitk.GetImageFromArray(np.zeros((4, 5, 6), np.uint8)))
    assert image.GetSize() == (6, 5, 4)
    assert image.GetSpacing() == (0.5, 0.8, 3.0)  # x, y, z
    assert image.GetOrigin() == (-10.0, 20.0, 30.5) and image.GetDirection() == TILTED
    assert Geometry.from_sitk(image) == grid
    corner = image.TransformIndexToPhysicalPoint((0, 0, 3))  # slice 3 along the third axis
    np.testing.assert_allclose(corner, (-10.0 + 9.0, 20.0, 30.5))


def test_mismatch_names_what_differs_within_tolerances() -> None:
    grid = Geometry((2.0, 0.8, 0.8), (0.0, 0.0, 0.0))
    assert grid.mismatch(Geometry((2.0005, 0.8, 0.8), (0.005, 0.0, 0.0))) is None
    problem = grid.mismatch(Geometry((2.5, 0.8, 0.8), (0.0, 0.0, 1.0), TILTED))
    assert problem is not None
    assert problem.startswith("spacing (2.0, 0.8, 0.8) vs (2.5, 0.8, 0.8) mm; origin")
    assert "direction" in problem
