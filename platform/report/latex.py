"""LaTeX ``booktabs`` tables from the text cells of Table 1 and Table 2, for papers.

Cells arrive as the terminal and Markdown show them (``0.508 +- 0.037``); here ``+-``
becomes ``$\\pm$`` and LaTeX's special characters are escaped, so the file compiles as
it is with ``\\usepackage{booktabs}``.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["booktabs", "latex_escape"]

_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
            "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
            "^": r"\textasciicircum{}", "Δ": r"$\Delta$"}


_MAX_CELL_CHARS = 24
"""Longer cells go under the table as notes (a column of a paper is narrow)."""
_NARROW_COLUMNS = 6
"""More columns: the table spans the page (``table*``) in small type."""


def latex_escape(text: str) -> str:
    r"""``text`` safe inside a LaTeX table cell; ``+-`` becomes ``$\pm$``.

    >>> latex_escape("0.5 +- 0.1 (n=6), 25 % of case_a")
    '0.5 $\\pm$ 0.1 (n=6), 25 \\% of case\\_a'
    """
    escaped = "".join(_SPECIAL.get(char, char) for char in text)
    return escaped.replace("+-", r"$\pm$")


def booktabs(header: Sequence[str], rows: Sequence[Sequence[str]], *, caption: str, label: str,
             notes: Sequence[str] = ()) -> str:
    """A ``table`` environment with a ``booktabs`` ``tabular`` (first column left-aligned).

    Args:
        header: column titles.
        rows: text cells, one list per row, as long as ``header``.
        caption: the table's caption (escaped).
        label: its ``\\label`` key (used as given).
        notes: lines set in small type under the table (after the notes of long cells,
            which keep a short head and a mark: issue 23).

    Raises:
        ValueError: a row's length differs from the header's.
    """
    for index, row in enumerate(rows):
        if len(row) != len(header):
            raise ValueError(f"row {index} has {len(row)} cells, the header {len(header)}")
    footnotes: dict[str, str] = {}
    cells = [[_short(cell, footnotes) for cell in row] for row in rows]
    wide = len(header) > _NARROW_COLUMNS
    lines = [r"\begin{table*}[t]" if wide else r"\begin{table}[t]", r"\centering",
             rf"\caption{{{latex_escape(caption)}}}", rf"\label{{{label}}}"]
    if wide:  # a page-wide float, small type and tight columns: 9 columns fit 7 in
        lines += [r"\small", r"\setlength{\tabcolsep}{3pt}"]
    lines += [r"\begin{tabular}{l" + "c" * (len(header) - 1) + "}",
              r"\toprule", " & ".join(latex_escape(h) for h in header) + r" \\", r"\midrule"]
    lines += [" & ".join(row) + r" \\" for row in cells]
    lines += [r"\bottomrule", r"\end{tabular}"]
    below = [f"$^{{{mark}}}$ {latex_escape(text)}" for text, mark in footnotes.items()]
    below += [latex_escape(n) for n in notes]
    if below:
        lines += [r"\par\smallskip\footnotesize", *(line + r"\par" for line in below)]
    return "\n".join([*lines, r"\end{table*}" if wide else r"\end{table}"]) + "\n"


def _short(cell: str, footnotes: dict[str, str]) -> str:
    """``cell`` escaped; a long explained cell (``n/a: all paired differences are zero``)
    keeps its head (``n/a``) with a footnote mark, its text goes under the table once."""
    head, explained, _ = cell.partition(": ")
    if len(cell) <= _MAX_CELL_CHARS or not explained or len(head) > _MAX_CELL_CHARS:
        return latex_escape(cell)  # numbers stay in their cell, however long
    mark = footnotes.setdefault(cell, "abcdefghijklmnopqrstuvwxyz"[len(footnotes) % 26])
    return f"{latex_escape(head)}$^{{{mark}}}$"
