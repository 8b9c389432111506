"""A headless matplotlib canvas and the three files every figure is saved as.

Why the data file: the issue's promise is that the numbers drawn equal the table's.
Saving the values each figure was drawn from (``<name>.json``) beside the PNG and the
SVG makes that checkable without reading pixels. NaN (an undefined metric) is written
as ``null``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from matplotlib import rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["COLUMN_WIDTH_IN", "FONT_PT", "FORMATS", "PAGE_WIDTH_IN", "FigureData",
           "new_figure", "plain_json", "save_figure"]

FigureData = dict[str, Any]
"""The values a figure drew, JSON-ready (lists, dicts, str, float, None)."""
FORMATS = ("png", "svg")
COLUMN_WIDTH_IN = 3.5
"""One column of a two-column journal page: a figure printed at this width keeps its fonts."""
PAGE_WIDTH_IN = 7.2
"""The full text width of such a page."""
FONT_PT = 7
"""The smallest font of any figure at its printed size (tick labels); titles are larger."""
_DPI = 150


def new_figure(width_in: float, height_in: float) -> Figure:
    """A figure of ``width_in`` x ``height_in`` inches on its own Agg canvas."""
    figure = Figure(figsize=(width_in, height_in), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def plain_json(value: Any) -> Any:
    """``value`` with NaN/inf floats as ``None`` and tuples as lists (strict JSON)."""
    if isinstance(value, Mapping):
        return {str(k): plain_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_json(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def save_figure(figure: Figure, data: FigureData, folder: Path, name: str) -> list[Path]:
    """Write ``<name>.png`` (150 dpi), ``<name>.svg`` and ``<name>.json`` into ``folder``.

    The SVG carries no date and fixed element ids, so the same figure gives the same file
    (a diff of a paper's figures shows only what changed).

    Returns:
        The three paths, PNG first.
    """
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{name}.{suffix}" for suffix in FORMATS]
    figure.savefig(paths[0], format="png", dpi=_DPI)
    with rc_context({"svg.hashsalt": "stroke-ablation-platform"}):
        figure.savefig(paths[1], format="svg", metadata={"Date": None})
    data_path = folder / f"{name}.json"
    data_path.write_text(json.dumps(plain_json(data), indent=2, sort_keys=True,
                                    allow_nan=False) + "\n")
    return [*paths, data_path]
