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
