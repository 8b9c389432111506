"""platform.report.figures.contours: the Fig. 4-style contour picture a trial logs per held-out
patient."""

from __future__ import annotations

import io

import numpy as np
import pytest
from matplotlib.figure import Figure

from platform.report.figures.contours import (
    PREDICTION_COLOUR,
    TRUTH_COLOUR,
    contour_figure,
    slices_with_most_lesion,
)


def _volumes() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    image = rng.normal(30.0, 10.0, size=(12, 24, 24)).astype(np.float32)
    truth = np.zeros(image.shape, np.uint8)
    truth[3, 5:9, 5:9] = 1  # 16 voxels
    truth[7, 4:12, 4:12] = 1  # 64 voxels
    truth[8, 6:8, 6:8] = 1  # 4 voxels
    pred = np.zeros(image.shape, np.float32)
    pred[7, 5:12, 5:12] = 0.9
    pred[10, 2:4, 2:4] = 0.7  # a false positive
    return image, truth, pred


def test_slices_with_most_lesion_ranks_truth_then_prediction_then_spacing() -> None:
    _, truth, pred = _volumes()
    assert slices_with_most_lesion(truth > 0, pred > 0.5, 2) == [3, 7]
    empty = np.zeros_like(truth, dtype=bool)
    assert slices_with_most_lesion(empty, pred > 0.5, 1) == [7]
    assert slices_with_most_lesion(empty, empty, 3) == [0, 6, 11]
    assert slices_with_most_lesion(truth > 0, pred > 0.5, 50) == list(range(12))


def test_contour_figure_draws_truth_and_prediction_per_slice() -> None:
    image, truth, pred = _volumes()
    figure = contour_figure(image, truth, pred, case_key="case-007", n_slices=3)
    assert isinstance(figure, Figure)
    axes = figure.get_axes()
    assert [a.get_title() for a in axes] == ["slice 3", "slice 7", "slice 8"]
    assert figure._suptitle.get_text() == "case-007"
    slice7 = axes[1]
    colours = {tuple(c.get_edgecolor()[0][:3]) for c in slice7.collections}
    assert len(slice7.collections) == 2 and len(colours) == 2  # green truth, red prediction
    assert len(axes[0].collections) == 1  # slice 3: truth only, no prediction there
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    assert buffer.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"
    assert TRUTH_COLOUR != PREDICTION_COLOUR


@pytest.mark.parametrize(
    ("shapes", "n_slices", "message"),
    [(((4, 8, 8), (4, 8, 8), (4, 8, 9)), 2, "one \\(Z, Y, X\\) shape"),
     (((8, 8), (8, 8), (8, 8)), 2, "one \\(Z, Y, X\\) shape"),
     (((4, 8, 8), (4, 8, 8), (4, 8, 8)), 0, "n_slices must be >= 1")],
)
def test_bad_input_is_refused(shapes: tuple, n_slices: int, message: str) -> None:
    arrays = [np.zeros(s) for s in shapes]
    with pytest.raises(ValueError, match=message):
        contour_figure(*arrays, case_key="case-001", n_slices=n_slices)
