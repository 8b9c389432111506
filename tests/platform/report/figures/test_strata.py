"""platform/report/figures/strata.py: the strata figure draws the strata table (issue 27)."""

from __future__ import annotations

import json
from pathlib import Path

from platform.report.figures import save_figure
from platform.report.figures.strata import strata_figure
from platform.report.strata import lesion_strata


def test_the_strata_figure_draws_the_tables_numbers(tmp_path: Path) -> None:
    volumes = {f"case-{i}": float(i + 1) for i in range(6)}
    values = {"dice": {"a": {c: v / 10 for c, v in volumes.items()},
                       "b": {c: 0.5 for c in volumes}}}
    strata = lesion_strata(values, volumes, "ml", ["a", "b"], 3)
    data = json.loads(save_figure(*strata_figure(strata), tmp_path, "lesion_strata")[2]
                      .read_text())
    assert [s["n_patients"] for s in data["strata"]] == [2, 2, 2]
    for variant in ("a", "b"):
        assert data["values"]["dice"][variant]["mean"] == [
            strata.cells[variant][s.label]["dice"].mean for s in strata.strata]
