"""Tests for data_pipeline/preprocess/crop_to_brain.py."""

from __future__ import annotations

import numpy as np
import pytest

from data_pipeline.preprocess import preprocess, step


@pytest.mark.parametrize(
    ("margin", "box"),
    [
        (0, ((0, 6), (3, 6), (4, 8))),
        (2, ((0, 6), (1, 8), (2, 10))),
        (9, ((0, 6), (0, 10), (0, 12))),
    ],
)
def test_crop_is_the_brain_box_grown_by_the_margin(margin: int, box: tuple) -> None:
    hu = np.full((6, 10, 12), -1000.0, dtype=np.float32)
    hu[:, 2:7, 3:9] = 1000.0
    hu[:, 3:6, 4:8] = 30.0 + np.arange(4)  # the enclosed pocket: rows 3-5, columns 4-7
    lesion = np.zeros(hu.shape, np.uint8)
    lesion[2, 4, 5] = 1
    steps = [step("hu_window"), step("remove_skull"), step("minmax"),
             step("crop_to_brain", {"margin": margin})]
    case = preprocess(hu, lesion, steps)
    assert case.crop_box == box
    np.testing.assert_array_equal(case.paste(case.lesion), lesion)
