"""platform.report.figures.curves: learning curves, search history and importances (issue 13)."""

from __future__ import annotations

import numpy as np
import pytest

from platform.report.figures.curves import (
    SearchSample,
    learning_curves_figure,
    parameter_importance_figure,
    search_history_figure,
)


def test_learning_curves_draw_the_logged_points_with_a_log_lr_axis() -> None:
    loss = [(10, 0.9), (20, 0.7), (30, 0.65)]
    lr = [(10, 1e-4), (20, 5e-5), (30, 2.5e-5)]
    figure, data = learning_curves_figure(loss, lr, title="se/fold0")
    loss_axes, lr_axes = figure.axes
    assert np.allclose(loss_axes.lines[0].get_xydata(), loss)
    assert np.allclose(lr_axes.lines[0].get_xydata(), lr)
    assert lr_axes.get_yscale() == "log"
    assert data == {"train_loss": [[10, 0.9], [20, 0.7], [30, 0.65]],
                    "lr": [[10, 1e-4], [20, 5e-5], [30, 2.5e-5]]}


def test_a_step_schedule_is_drawn_as_steps_on_a_log_axis_that_labels_its_floor() -> None:
    """Issue 23: logged every 10 iterations, the paper's halving schedule looked like a linear
    decay and its floor 1.25e-5 sat below the lowest tick."""
    lr = [(i, 1e-4 * 0.5 ** min(i // 50, 3)) for i in range(0, 400, 10)]
    figure, _ = learning_curves_figure([(0, 1.0)], lr, title="final/fold0")
    _, lr_axes = figure.axes
    assert lr_axes.lines[0].get_drawstyle() == "steps-post"
    assert lr_axes.get_yscale() == "log"
    ticks = [float(t) for t in lr_axes.get_yticks()]
    assert ticks == pytest.approx([1.25e-5, 2.5e-5, 5e-5, 1e-4])
    low, high = lr_axes.get_ylim()
    assert low < 1.25e-5 and high > 1e-4
    width, _ = figure.get_size_inches()
    assert width == pytest.approx(7.2)
    sizes = [label.get_fontsize() for axes in figure.axes
             for label in (*axes.get_xticklabels(), *axes.get_yticklabels())]
    assert min(sizes) >= 7


@pytest.mark.parametrize(("mode", "best"), [("max", [0.3, 0.5, 0.5, 0.6]),
                                            ("min", [0.3, 0.3, 0.2, 0.2])])
def test_search_history_keeps_the_best_so_far_per_study(mode: str, best: list[float]) -> None:
    values = [0.3, 0.5, 0.2, 0.6]
    samples = [SearchSample("outer fold 0", i + 1, v, {"optimizer.lr": 1e-3})
               for i, v in enumerate(values)]
    samples.append(SearchSample("outer fold 1", 1, 0.9, {"optimizer.lr": 1e-3}))
    figure, data = search_history_figure(samples, metric="val_dice", mode=mode)
    study = data["studies"]["outer fold 0"]
    assert study["value"] == values and study["best_so_far"] == best
    assert [axes.get_title() for axes in figure.axes] == ["outer fold 0", "outer fold 1"]
    assert np.allclose(figure.axes[0].collections[0].get_offsets()[:, 1], values)


def test_parameter_importance_bars_are_the_importances() -> None:
    importances = {"outer fold 0": {"optimizer.lr": 0.8, "model.se_ratio": 0.2}}
    figure, data = parameter_importance_figure(importances, metric="val_dice", method="x")
    widths = {label.get_text(): patch.get_width() for label, patch in zip(
        figure.axes[0].get_yticklabels(), figure.axes[0].patches, strict=True)}
    assert widths == {"model.se_ratio": 0.2, "optimizer.lr": 0.8}
    assert data["studies"] == importances
