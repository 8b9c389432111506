"""Fig. 4-style picture: axial slices with ground-truth and predicted lesion contours.

Dobshik et al. (2023), Fig. 4 shows held-out patients' slices with the expert outline
and the network's outline on top; a trial logs the same picture for a few patients so
a reviewer sees in the MLflow UI what a Dice value means. Drawn on an Agg canvas
without ``pyplot``, so no global backend state is touched and it works on a headless
Ray worker.
"""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from numpy.typing import ArrayLike

__all__ = ["TRUTH_COLOUR", "PREDICTION_COLOUR", "contour_figure", "slices_with_most_lesion"]

TRUTH_COLOUR = "lime"
PREDICTION_COLOUR = "red"


def slices_with_most_lesion(truth: np.ndarray, pred: np.ndarray, n_slices: int) -> list[int]:
    """Indices (ascending) of the ``n_slices`` axial slices with the most lesion.

    Ranked by ground-truth area; if the truth is empty, by predicted area (to show the
    false positives); if both are empty, evenly spaced slices. Ties go to the lower index.
    """
    n = min(n_slices, truth.shape[0])
    area = truth.reshape(truth.shape[0], -1).sum(axis=1)
    if not area.any():
        area = pred.reshape(pred.shape[0], -1).sum(axis=1)
    if not area.any():
        return [int(z) for z in np.linspace(0, truth.shape[0] - 1, n).round().astype(int)]
    order = np.argsort(-area, kind="stable")[:n]
    return sorted(int(z) for z in order)


def contour_figure(image: ArrayLike, truth: ArrayLike, pred: ArrayLike, *, case_key: str,
                   n_slices: int = 4) -> Figure:
    """Draw ``n_slices`` axial slices with truth (green) and prediction (red) contours.

    Args:
        image: CT volume ``(Z, Y, X)``, HU or normalised; shown with a 1-99 % window.
        truth: ground-truth lesion mask ``(Z, Y, X)``; values > 0.5 are lesion.
        pred: predicted mask or probability map ``(Z, Y, X)``; thresholded at 0.5.
        case_key: the pseudonymous case key, the only patient reference in the title.
        n_slices: how many slices (at most Z), chosen by :func:`slices_with_most_lesion`.

    Returns:
        A matplotlib ``Figure`` (about 3 x 3.4 inches per slice); save or log it.

    Raises:
        ValueError: the arrays are not 3-D, differ in shape, or ``n_slices < 1``.
    """
    volume, lesion, predicted = (np.asarray(a) for a in (image, truth, pred))
    if volume.ndim != 3 or volume.shape != lesion.shape or volume.shape != predicted.shape:
        raise ValueError(
            f"case {case_key}: expected image, truth and pred of one (Z, Y, X) shape, got "
            f"{volume.shape}, {lesion.shape}, {predicted.shape}"
        )
    if n_slices < 1:
        raise ValueError(f"n_slices must be >= 1, got {n_slices}")
    lesion, predicted = lesion > 0.5, predicted > 0.5
    slices = slices_with_most_lesion(lesion, predicted, n_slices)
    low, high = np.percentile(volume, [1, 99])
    figure = Figure(figsize=(3.0 * len(slices), 3.4), layout="constrained")
    FigureCanvasAgg(figure)
    for axes, z in zip(figure.subplots(1, len(slices), squeeze=False)[0], slices, strict=True):
        axes.imshow(volume[z], cmap="gray", vmin=low, vmax=high, interpolation="nearest")
        for mask, colour in ((lesion[z], TRUTH_COLOUR), (predicted[z], PREDICTION_COLOUR)):
            if mask.any() and not mask.all():  # a contour needs both sides
                axes.contour(mask.astype(np.float32), levels=[0.5], colors=colour,
                             linewidths=1.0)
        axes.set_title(f"slice {z}", fontsize=9)
        axes.set_axis_off()
    figure.suptitle(case_key)
    figure.legend(handles=[Line2D([], [], color=TRUTH_COLOUR, label="ground truth"),
                           Line2D([], [], color=PREDICTION_COLOUR, label="prediction")],
                  loc="outside lower center", ncol=2, fontsize=8)
    return figure
