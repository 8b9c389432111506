"""platform/report/figures/ranking.py: the blob plot draws the ranking's shares (issue 27)."""

from __future__ import annotations

import json
from pathlib import Path

from platform.config.evidence import EvidenceConfig
from platform.report.figures import save_figure
from platform.report.figures.ranking import ranking_figure
from platform.report.ranking import rank_stability
from tests.platform.report.test_ranking import BASE, _shifted


def test_the_blob_plot_draws_the_shares(tmp_path: Path) -> None:
    ranking = rank_stability({"a": BASE, "b": _shifted(0.0, 0.1)}, ["a", "b"],
                             EvidenceConfig(resamples=500), metric="dice")
    paths = save_figure(*ranking_figure(ranking), tmp_path, "rank_stability")
    data = json.loads(paths[2].read_text())
    assert data["shares"] == {"a": list(ranking.shares[0]), "b": list(ranking.shares[1])}
    assert data["observed"] == {"a": ranking.observed[0], "b": ranking.observed[1]}
    empty = rank_stability({"a": BASE}, ["a"], EvidenceConfig(), metric="dice")
    figure, data = ranking_figure(empty)
    assert data["note"] == "fewer than two variants" and data["shares"] == {}
    save_figure(figure, data, tmp_path, "empty")
