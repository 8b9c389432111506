"""platform/report/tables.py: the one Markdown and CSV writer of every table."""

from __future__ import annotations

import math

from platform.report.tables import csv_text, markdown_table, number


def test_markdown_escapes_pipes_and_lists_notes_below() -> None:
    text = markdown_table(["Variant", "Dice"], [["a|b", "0.5 +- 0.1"]], ["one note"])
    assert text == ("| Variant | Dice |\n|---|---|\n| a\\|b | 0.5 +- 0.1 |\n\n- one note\n")
    assert markdown_table(["x"], []) == "| x |\n|---|\n"


def test_csv_has_a_header_and_full_precision_numbers() -> None:
    rows = [["a,b", number(1 / 3), number(math.nan), number(None)]]
    assert csv_text(["v", "m", "n", "o"], rows) == 'v,m,n,o\n"a,b",0.3333333333333333,,\n'
