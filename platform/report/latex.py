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
        notes: lines set in small type under the table.

    Raises:
        ValueError: a row's length differs from the header's.
    """
    for index, row in enumerate(rows):
        if len(row) != len(header):
            raise ValueError(f"row {index} has {len(row)} cells, the header {len(header)}")
    lines = [r"\begin{table}[t]", r"\centering", rf"\caption{{{latex_escape(caption)}}}",
             rf"\label{{{label}}}", r"\begin{tabular}{l" + "c" * (len(header) - 1) + "}",
             r"\toprule", " & ".join(latex_escape(h) for h in header) + r" \\", r"\midrule"]
    lines += [" & ".join(latex_escape(cell) for cell in row) + r" \\" for row in rows]
    lines += [r"\bottomrule", r"\end{tabular}"]
    if notes:
        lines += [r"\par\smallskip\footnotesize", *(latex_escape(n) + r"\par" for n in notes)]
    return "\n".join([*lines, r"\end{table}"]) + "\n"
