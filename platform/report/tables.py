"""Tables as text: GitHub-flavoured Markdown and CSV, one writer each for every table.

Table 1 and Table 2 (and the tables of later reports) build their header and text cells;
these functions turn them into the files a paper or a spreadsheet reads.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence

__all__ = ["csv_text", "markdown_table", "number"]


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]],
                   notes: Sequence[str] = ()) -> str:
    """A Markdown table (``|`` in a cell escaped), then ``notes`` as a bullet list."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for cells in rows:
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    lines += ["", *(f"- {note}" for note in notes)] if notes else []
    return "\n".join(lines) + "\n"


def csv_text(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """CSV with ``\\n`` line ends: the header, then one line per row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def number(value: float | None) -> str:
    """A full-precision CSV number: ``repr``, or empty where undefined (None, nan)."""
    return "" if value is None or math.isnan(value) else repr(value)
