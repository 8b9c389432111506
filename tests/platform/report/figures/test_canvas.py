"""platform.report.figures.canvas: PNG, SVG and the drawn numbers as strict JSON (issue 13)."""

from __future__ import annotations

import math
from pathlib import Path

from platform.report.figures.canvas import new_figure, plain_json, save_figure
from tests.platform.report.test_rebuild import assert_valid_figure_files


def test_save_writes_png_svg_and_json_with_nan_as_null(tmp_path: Path) -> None:
    figure = new_figure(3, 2)
    figure.add_subplot().plot([0, 1], [1, 0])
    paths = save_figure(figure, {"mean": [0.5, math.nan], "pair": (1, 2)}, tmp_path / "f", "x")
    assert [p.name for p in paths] == ["x.png", "x.svg", "x.json"]
    assert assert_valid_figure_files(tmp_path / "f", "x") == {"mean": [0.5, None],
                                                              "pair": [1, 2]}
    first = (tmp_path / "f" / "x.svg").read_bytes()
    save_figure(figure, {}, tmp_path / "f", "x")
    assert (tmp_path / "f" / "x.svg").read_bytes() == first  # no date: same figure, same file


def test_plain_json() -> None:
    assert plain_json({1: (math.inf, -0.0, "a")}) == {"1": [None, -0.0, "a"]}
