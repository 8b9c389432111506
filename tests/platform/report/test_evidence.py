"""platform/report/evidence.py: every row's paired effects in Table 1, adjusted together and
said in words; in the Markdown, CSV, LaTeX, MLflow metrics and terminal (issue 27)."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from rich.console import Console

from platform.config.evidence import EvidenceConfig
from platform.report.effects import adjust_p_values
from platform.report.evidence import EvidencePlan, references
from platform.report.latex import booktabs
from platform.report.table1 import build_table1, render_table1
from platform.tracking import TrialResult

METRICS = ("dice", "sensitivity", "specificity", "specificity_brain", "precision")
FOLDS = (0, 1)
CASES = {fold: [f"case-{fold}{i}" for i in range(5)] for fold in FOLDS}
BASE = {c: v for c, v in zip([c for f in FOLDS for c in CASES[f]],
                             np.random.default_rng(1).uniform(0.3, 0.7, 10), strict=True)}
SHIFT = {"plain": 0.0, "same": 0.0, "better": 0.1, "noisy": None}
"""Per-patient Dice of each variant: BASE shifted (``noisy``: BASE plus noise)."""
NOISE = dict(zip(BASE, np.random.default_rng(2).normal(0.0, 0.05, 10), strict=True))


def _dice(variant: str, case: str) -> float:
    shift = SHIFT[variant]
    return BASE[case] + (NOISE[case] if shift is None else shift)


def _result(variant: str, fold: int, seed: int = 0, cases: int = 5) -> TrialResult:
    rows = [{"case": c, **{m: _dice(variant, c) + 0.01 * k + 0.001 * seed
                           for k, m in enumerate(METRICS)}} for c in CASES[fold][:cases]]
    metrics = {m: float(np.mean([r[m] for r in rows])) for m in METRICS}
    return TrialResult(run_id=f"{variant}-{fold}-{seed}", trial_id=f"{variant}-{fold}",
                       variant=variant, fold=fold, status="FINISHED", metrics=metrics,
                       per_patient=rows, failure_reason=None,
                       params={"train.seed": str(seed)})


VARIANTS = ["plain", "same", "better", "noisy"]
RESULTS = [_result(v, f) for v in VARIANTS for f in FOLDS]
SETTINGS = EvidenceConfig(resamples=1000)


def _table(settings: EvidenceConfig = SETTINGS, compare_to: dict[str, str] | None = None,
           results: list[TrialResult] = RESULTS, variants: list[str] = VARIANTS) -> object:
    return build_table1(results, variants=variants, folds=FOLDS,
                        evidence=EvidencePlan(settings, compare_to or {}))


def test_each_row_is_compared_with_the_previous_row_or_the_one_it_names() -> None:
    assert references(VARIANTS) == {"same": "plain", "better": "same", "noisy": "better"}
    assert references(VARIANTS, {"better": "plain", "plain": "noisy"}) == {
        "plain": "noisy", "same": "plain", "better": "plain", "noisy": "better"}
    with pytest.raises(ValueError, match="not another row"):
        references(VARIANTS, {"same": "same"})
    table = _table(compare_to={"noisy": "plain"})
    effect = table.evidence.effect("noisy")
    assert effect.versus == "plain" and table.rows[3].test.versus == "plain"
    assert effect.mean == pytest.approx(np.mean(list(NOISE.values())), rel=1e-12)
    assert table.versus_word == "reference" and _table().versus_word == "previous"


def test_known_effects_per_row_and_metric() -> None:
    table = _table()
    same, better = table.evidence.effect("same"), table.evidence.effect("better")
    assert (same.mean, same.low, same.high, same.p_value) == (0.0, 0.0, 0.0, None)
    assert better.mean == pytest.approx(0.1) and better.low == pytest.approx(0.1)
    assert better.p_value == pytest.approx(2 / 2**10) and better.n_pairs == 10
    # Every metric of Table 1 is compared: five per compared row.
    assert len(table.evidence.effects) == 3 * len(METRICS)
    assert table.evidence.effect("better", "precision").mean == pytest.approx(0.1)


def test_p_values_are_adjusted_over_the_table_or_per_metric() -> None:
    table = _table()
    tested = [e for e in table.evidence.effects if e.p_value is not None]
    assert len(tested) == 2 * len(METRICS)  # 'same' has no test: no differences
    expected = adjust_p_values([e.p_value for e in tested], "holm")
    assert [e.p_adjusted for e in tested] == pytest.approx(expected, rel=1e-12)
    assert table.evidence.family_size() == 10
    per_metric = _table(SETTINGS.model_copy(update={"family": "metric"}))
    dice = [e for e in per_metric.evidence.effects if e.metric == "dice" and e.p_value]
    assert [e.p_adjusted for e in dice] == pytest.approx(
        adjust_p_values([e.p_value for e in dice], "holm"), rel=1e-12)
    assert per_metric.evidence.family_size() == 2


def test_the_words_under_the_table_say_what_holds_after_correction() -> None:
    table = _table()
    words = table.evidence.words()
    assert words[0] == ("Paired dice effects (variant - reference), mean over patients [95 % "
                        "percentile bootstrap CI, 1000 resamples, seed 0]; Wilcoxon (wilcox); "
                        "Holm over the table's 10 tests, alpha 0.05:")
    lines = dict(line.split(": ", 1) for line in words[1:])
    assert lines["same vs plain"].startswith("+0.000 [+0.000, +0.000] dice (n=10), no test: "
                                             "all paired differences are zero")
    better = table.evidence.effect("better")
    assert lines["better vs same"] == (f"+0.100 [+0.100, +0.100] dice (n=10), significant "
                                       f"after Holm (p={better.p_adjusted:.3g})")
    noisy = table.evidence.effect("noisy")
    if not noisy.significant(0.05):
        assert "not significant after Holm" in lines["noisy vs better"]
    loose = _table(SETTINGS.model_copy(update={"correction": "none"})).evidence.words()
    assert "uncorrected" in loose[2]


def test_too_few_patients_leave_the_interval_out_with_the_reason() -> None:
    few = [_result(v, 0, cases=4) for v in ("plain", "better")]
    table = build_table1(few, variants=["plain", "better"], folds=[0],
                         evidence=EvidencePlan(SETTINGS))
    line, ranks = table.evidence.words()[1:]
    assert ranks.endswith("not computed (4 patient(s) scored by every variant, need >= 5)")
    assert line == ("better vs plain: +0.100 (n=4, no CI) dice, no interval or test: "
                    "4 paired patient(s), need >= 5 for an interval and a test")


def test_effects_reach_markdown_csv_latex_metrics_and_the_terminal() -> None:
    table = _table()
    better = table.evidence.effect("better")
    header = table.header()
    assert header[-4:] == ["P(rank 1, dice)", "Δ dice [95 % CI]",
                           "Wilcoxon p (dice vs previous)", "Missing folds"]
    cells = dict(zip(header, table.row_cells(table.rows[2]), strict=True))
    assert cells["Δ dice [95 % CI]"] == "+0.100 [+0.100, +0.100]"
    assert cells["P(rank 1, dice)"] == "100 %"  # 0.1 above the rest on every patient
    assert cells["Wilcoxon p (dice vs previous)"].endswith(f"; Holm {better.p_adjusted:.3g}")
    rows = {r["variant"]: r for r in csv.DictReader(io.StringIO(table.to_csv()))}
    assert float(rows["better"]["effect_dice"]) == better.mean
    assert float(rows["better"]["effect_dice_p_adjusted"]) == better.p_adjusted
    assert rows["better"]["effect_versus"] == "same" and rows["plain"]["effect_dice"] == ""
    assert rows["same"]["effect_dice_p"] == "" and "zero" in rows["same"]["effect_dice_note"]
    metrics = table.to_metrics()
    assert metrics["t1.better.effect_dice"] == better.mean
    assert metrics["t1.better.effect_dice_low"] == better.low
    assert metrics["t1.better.p_adjusted_dice"] == better.p_adjusted
    assert "t1.same.p_dice" not in metrics and "t1.plain.effect_dice" not in metrics
    assert metrics["t1.better.rank1_share"] == 1.0 and rows["better"]["rank_observed"] == "1"
    markdown = table.to_markdown()
    assert "- better vs same: +0.100 [+0.100, +0.100] dice (n=10), significant" in markdown
    tex = booktabs(header, [table.row_cells(r) for r in table.rows], caption="t", label="t",
                   notes=table.lines_under)
    assert r"$\Delta$ dice [95 \% CI]" in tex and "better vs same: +0.100" in tex
    console = Console(record=True, width=160, color_system=None)
    render_table1(table, console)
    text = console.export_text()
    assert "Δ dice [95 % CI], Holm p" in text and "better vs same: +0.100" in text
    assert f"+0.100 [+0.100, +0.100] p={better.p_adjusted:.2g}" in text
    assert "Wilcoxon p" not in text and "P(rank 1" not in text  # said in the words
    assert "Ranking stability by dice (1000 bootstrap samples of the 10 patients" in text
    assert text.index("Paired dice effects") < text.index("Every metric is taken")


def test_the_same_store_gives_the_same_intervals() -> None:
    first, again = _table().to_csv(), _table().to_csv()
    assert first == again
    assert _table(SETTINGS.model_copy(update={"seed": 3})).to_csv() != first


def test_a_layout_logged_before_issue_27_gets_the_evidence_from_the_runs_alone() -> None:
    """A finished sweep's table1_layout.json of before (no compare_to, no evidence):
    ``platform.report`` compares each row with the previous one at the default settings."""
    import json

    from platform.report.rebuild import TableLayout

    old = json.dumps({"variants": VARIANTS, "folds": list(FOLDS), "reference": {},
                      "notes": [], "timing": False})
    layout = TableLayout.from_json(old)
    assert (layout.compare_to, layout.evidence, layout.factorial) == ({}, {}, {})
    table = layout.table1(RESULTS)
    assert table.evidence.settings == EvidenceConfig()
    assert [(e.variant, e.versus) for e in table.evidence.effects if e.metric == "dice"] == [
        ("same", "plain"), ("better", "same"), ("noisy", "better")]
    again = TableLayout.from_json(layout.to_json())
    assert again == layout
