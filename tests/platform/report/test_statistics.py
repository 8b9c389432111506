"""platform/report/statistics.py: fold summaries and the paired test on known data."""

from __future__ import annotations

import math

import pytest
from scipy.stats import wilcoxon

from platform.report.statistics import MetricSummary, fold_summary, paired_test


def test_fold_summary_is_mean_and_sample_sd_and_undefined_with_a_nan_fold() -> None:
    summary = fold_summary([0.5, 0.6, 0.7])
    assert summary.mean == pytest.approx(0.6) and summary.sd == pytest.approx(0.1)
    assert summary.n == 3
    assert math.isnan(fold_summary([0.5, math.nan]).mean)


def test_cells_show_the_sd_to_two_significant_digits() -> None:
    assert MetricSummary(0.5081, 0.0372, 5).cell() == "0.508 +- 0.037"
    assert MetricSummary(0.99751, 0.00142, 5).cell() == "0.9975 +- 0.0014"
    assert MetricSummary(0.5, math.nan, 1).cell() == "0.500 +- n/a"
    assert MetricSummary(math.nan, math.nan, 0).cell() == "n/a"


def test_paired_test_matches_scipy_and_says_why_when_it_cannot_run() -> None:
    current = {f"c{i}": 0.5 + 0.01 * i for i in range(8)}
    previous = {f"c{i}": 0.5 + 0.02 * (i % 3) for i in range(8)}
    test = paired_test(current, previous, "plain")
    keys = sorted(current)
    expected = wilcoxon([current[k] for k in keys], [previous[k] for k in keys]).pvalue
    assert test.n_pairs == 8 and test.p_value == pytest.approx(expected)
    same = paired_test(current, dict(current), "plain")
    assert same.p_value is None and same.note == "all paired differences are zero"
    lonely = paired_test({"c0": 0.1}, {"c0": 0.2, "c1": 0.3}, "plain")
    assert lonely.p_value is None and "need >= 2" in lonely.note
