"""platform.report.figures.canvas: PNG, SVG and the drawn numbers as strict JSON (issue 13)."""

from __future__ import annotations

import math
from pathlib import Path

from matplotlib.figure import Figure

from platform.report.figures.canvas import new_figure, plain_json, save_figure
from tests.platform.report.test_rebuild import assert_valid_figure_files


def _line_figure() -> Figure:
    figure = new_figure(3, 2)
    figure.add_subplot().plot([0, 1], [1, 0])
    return figure


def test_save_writes_png_svg_and_json_with_nan_as_null(tmp_path: Path) -> None:
    paths = save_figure(_line_figure(), {"mean": [0.5, math.nan], "pair": (1, 2)},
                        tmp_path / "f", "x")
    assert [p.name for p in paths] == ["x.png", "x.svg", "x.json"]
    assert assert_valid_figure_files(tmp_path / "f", "x") == {"mean": [0.5, None],
                                                              "pair": [1, 2]}
    # No date and fixed ids: the same figure drawn again gives the same file. (Drawn anew,
    # as a rebuilt report does: saving one Figure object twice re-runs its layout engine
    # on the first pass's result, which moved an axis by 1e-4 pt after other tests.)
    save_figure(_line_figure(), {}, tmp_path / "g", "x")
    assert (tmp_path / "g" / "x.svg").read_bytes() == (tmp_path / "f" / "x.svg").read_bytes()


def test_plain_json() -> None:
    assert plain_json({1: (math.inf, -0.0, "a")}) == {"1": [None, -0.0, "a"]}
