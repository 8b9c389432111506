"""platform/report/seeds.py and Table 1 with repeated seeds: each patient averaged over seeds
before pairing, the fold values the seeds' means, and the variance split (issue 27)."""

from __future__ import annotations

import csv
import io
import math
import statistics

import pytest
from rich.console import Console

from platform.report.seeds import variance_split
from platform.report.table1 import build_table1, render_table1
from tests.platform.report.test_evidence import FOLDS, _result


def test_the_split_on_hand_computed_values() -> None:
    # Seeds differ by 0.1 in every fold: within-fold variance 0.005 (sd 0.0707). Fold
    # means 0.55, 0.75, 0.45: variance 0.02333, less 0.005 / 2 seeds = 0.020833.
    split = variance_split("v", "dice", {0: {0: 0.5, 1: 0.6}, 1: {0: 0.7, 1: 0.8},
                                         2: {0: 0.4, 1: 0.5}})
    assert (split.n_folds, split.n_seeds) == (3, 2)
    assert split.sd_between_seeds == pytest.approx(math.sqrt(0.005), rel=1e-12)
    assert split.sd_between_folds == pytest.approx(math.sqrt(0.07 / 3 - 0.0025), rel=1e-12)
    assert split.words() == ("v (2 seeds x 3 folds): dice sd between folds 0.144, between "
                             "seeds within a fold 0.0707")


def test_no_seed_noise_leaves_the_fold_spread_and_one_seed_gives_no_split() -> None:
    split = variance_split("v", "dice", {0: {0: 0.5, 1: 0.5}, 1: {0: 0.7, 1: 0.7}})
    assert split.sd_between_seeds == 0.0
    assert split.sd_between_folds == pytest.approx(statistics.stdev([0.5, 0.7]))
    assert variance_split("v", "dice", {0: {0: 0.5}, 1: {0: 0.7}}) is None
    one_fold = variance_split("v", "dice", {0: {0: 0.5, 1: 0.6, 2: 0.7}})
    assert math.isnan(one_fold.sd_between_folds) and one_fold.n_seeds == 3
    # Seed noise larger than the folds' spread: the between-folds variance is 0, not < 0.
    assert variance_split("v", "dice", {0: {0: 0.1, 1: 0.9}, 1: {0: 0.9, 1: 0.1}}) \
        .sd_between_folds == 0.0


def test_table1_averages_seeds_and_says_how_many_each_row_has() -> None:
    results = [_result("plain", f) for f in FOLDS] + [
        _result("better", f, seed=s) for f in FOLDS for s in (0, 1, 2)]
    table = build_table1(results, variants=["plain", "better"], folds=FOLDS)
    plain, better = table.rows
    assert (plain.seeds, better.seeds) == ((0,), (0, 1, 2))
    per_fold = [statistics.fmean(r.metrics["dice"] for r in results
                                 if r.variant == "better" and r.fold == f) for f in FOLDS]
    assert better.summaries["dice"].mean == pytest.approx(statistics.fmean(per_fold))
    assert better.summaries["dice"].sd == pytest.approx(statistics.stdev(per_fold))
    # _result adds 0.001 x seed: the seeds' mean shifts each patient by 0.001.
    effect = table.evidence.effect("better")
    assert effect.mean == pytest.approx(0.1 + 0.001) and effect.n_pairs == 10
    header = table.header()
    assert header[:3] == ["Variant", "Folds", "Seeds"]
    assert table.row_cells(better)[:3] == ["better", "2/2", "3"]
    split = table.evidence.split("better")
    assert split.sd_between_seeds == pytest.approx(statistics.stdev([0.0, 0.001, 0.002]))
    rows = {r["variant"]: r for r in csv.DictReader(io.StringIO(table.to_csv()))}
    assert rows["better"]["n_seeds"] == "3" and rows["plain"]["sd_between_seeds_dice"] == ""
    assert float(rows["better"]["sd_between_seeds_dice"]) == split.sd_between_seeds
    assert table.to_metrics()["t1.better.n_seeds"] == 3.0
    console = Console(record=True, width=160, color_system=None)
    render_table1(table, console)
    assert "Seed variance, better (3 seeds x 2 folds): dice sd between folds" in \
        console.export_text()
    assert "Seeds" not in build_table1(results[:2], variants=["plain"], folds=FOLDS).header()


def test_two_finished_runs_of_one_seed_are_refused() -> None:
    twice = [_result("better", 0, seed=1), _result("better", 0, seed=1)]
    with pytest.raises(ValueError, match="2 finished runs of seed 1"):
        build_table1(twice, variants=["better"], folds=[0])
