"""platform/report/figures/effects.py: the forest plot draws the table's effects (issue 27)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from platform.config.evidence import EvidenceConfig
from platform.report.figures import save_figure
from platform.report.figures.effects import forest_figure
from platform.report.table1 import build_table1
from tests.platform.report.test_evidence import FOLDS, RESULTS, VARIANTS, _result

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_the_forest_plot_draws_every_effect_of_the_table(tmp_path: Path) -> None:
    from platform.report.evidence import EvidencePlan

    table = build_table1(RESULTS, variants=VARIANTS, folds=FOLDS,
                         evidence=EvidencePlan(EvidenceConfig(resamples=500)))
    paths = save_figure(*forest_figure(table.evidence), tmp_path, "effects_forest")
    assert [p.name for p in paths] == ["effects_forest.png", "effects_forest.svg",
                                       "effects_forest.json"]
    assert paths[0].read_bytes()[:8] == PNG_MAGIC
    data = json.loads(paths[2].read_text())
    assert data["correction"] == "holm" and data["confidence"] == 0.95
    for metric, points in data["metrics"].items():
        assert [p["variant"] for p in points] == VARIANTS[1:]
        for point in points:
            effect = table.evidence.effect(point["variant"], metric)
            assert (point["mean"], point["low"], point["high"], point["p_adjusted"]) == (
                effect.mean, effect.low, effect.high, effect.p_adjusted)
            assert point["significant"] == effect.significant(0.05)


def test_rows_without_an_interval_are_drawn_without_one(tmp_path: Path) -> None:
    few = [_result(v, 0, cases=3) for v in ("same", "better")]
    table = build_table1(few, variants=["same", "better"], folds=[0])
    figure, data = forest_figure(table.evidence, metrics=("dice",))
    (point,) = data["metrics"]["dice"]
    assert point["low"] is None and point["mean"] == pytest.approx(0.1)
    assert "need >= 5" in point["note"]
    save_figure(figure, data, tmp_path, "few")
