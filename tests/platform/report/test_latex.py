"""platform.report.latex: booktabs tables that compile as written."""

from __future__ import annotations

import pytest

from platform.report.latex import booktabs, latex_escape


def test_escape_special_characters_and_plus_minus() -> None:
    assert latex_escape("0.5 +- 0.1, 25 % of case_a & b#1 {x} $y ~^\\") == (
        r"0.5 $\pm$ 0.1, 25 \% of case\_a \& b\#1 \{x\} \$y \textasciitilde{}"
        r"\textasciicircum{}\textbackslash{}")


def test_booktabs_table() -> None:
    tex = booktabs(["Variant", "dice"], [["final_hull", "0.628 +- 0.033"]],
                   caption="Table 1 (ours)", label="tab:t1", notes=["n=5 folds"])
    assert tex.splitlines() == [
        r"\begin{table}[t]", r"\centering", r"\caption{Table 1 (ours)}", r"\label{tab:t1}",
        r"\begin{tabular}{lc}", r"\toprule", r"Variant & dice \\", r"\midrule",
        r"final\_hull & 0.628 $\pm$ 0.033 \\", r"\bottomrule", r"\end{tabular}",
        r"\par\smallskip\footnotesize", r"n=5 folds\par", r"\end{table}"]
    with pytest.raises(ValueError, match="row 0 has 1 cells, the header 2"):
        booktabs(["a", "b"], [["x"]], caption="c", label="l")


def test_a_wide_table_spans_the_page_and_long_cells_become_notes() -> None:
    """Issue 23: 9 columns and cells like "n/a: all paired differences are zero" overflowed."""
    header = ["Variant", *(f"m{i}" for i in range(8))]
    zero = "n/a: all paired differences are zero"
    rows = [["plain", *["0.5 +- 0.1"] * 7, zero], ["final", *["0.6 +- 0.1"] * 7, zero]]
    lines = booktabs(header, rows, caption="Table 1", label="tab:t1", notes=["n=5"]).splitlines()
    assert lines[0] == r"\begin{table*}[t]" and lines[-1] == r"\end{table*}"
    assert r"\small" in lines and r"\setlength{\tabcolsep}{3pt}" in lines
    assert lines.count(r"plain & " + " & ".join([r"0.5 $\pm$ 0.1"] * 7) + r" & n/a$^{a}$ \\") == 1
    assert r"$^{a}$ n/a: all paired differences are zero\par" in lines  # once, as a note
    assert lines[-2] == r"n=5\par"
    assert all(len(cell) <= 24 for line in lines if line.endswith(r" \\")
               for cell in line.split(" & "))
