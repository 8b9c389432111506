"""Issue 23: a note under Table 1 when two rows are the same computation on the device that
ran them (``platform/report/same_rows.py``), read from configs and devices, never numbers.

The rules on runs whose params are real resolved configs (``config_params``, as a trial
logs them); then a real tiny sweep with ``final``, ``final_amp`` (``train.amp: auto``) and
``final_fast`` (also ``skip_outside_brain``) on a CPU: the terminal, ``table1.md`` and
``table1.tex`` carry the notes, and ``final_amp``'s numbers are ``final``'s to the bit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from platform.config.trial import TrialConfig
from platform.report.latex import latex_escape
from platform.report.rebuild import build_report
from platform.report.same_rows import same_row_notes
from platform.tracking import TrialResult, fetch_trial_results, find_sweep_parent
from platform.tracking.payloads import config_params
from tests.platform.sweep.harness import isolation_overrides, run_to_completion, write_sweep

CPU = "CPU, 1 threads"
BASE = TrialConfig().with_overrides({"train.amp": False, "eval.inference.skip_outside_brain":
                                     False})


def _runs(variant: str, config: TrialConfig, *, device: str = CPU, training: str = CPU,
          status: str = "FINISHED", folds: int = 2) -> list[TrialResult]:
    params = config_params(config.model_dump(mode="json"))
    return [TrialResult(run_id=f"{variant}{fold}", trial_id=f"{variant}-f{fold}",
                        variant=variant, fold=fold, status=status, metrics={},
                        per_patient=[], failure_reason=None, params=params, device=device,
                        training_device=training) for fold in range(folds)]


def test_rows_that_differ_only_in_mixed_precision_on_a_cpu_are_identical_by_construction(
) -> None:
    amp = BASE.with_overrides({"train.amp": "auto", "train.channels_last": False})
    (note,) = same_row_notes([*_runs("final", BASE), *_runs("final_amp", amp)],
                             ["final", "final_amp"])
    assert note == ("rows final and final_amp are identical by construction here: they differ "
                    "only in train.amp (False vs auto), train.channels_last (True vs False), "
                    "which change nothing on a CPU, where every training and evaluation of "
                    "both ran")


@pytest.mark.parametrize(("device", "training"), [
    ("NVIDIA H100 80GB HBM3", "NVIDIA H100 80GB HBM3"),  # mixed precision is real there
    (CPU, "NVIDIA H100 80GB HBM3"),  # a training reused from a GPU, evaluated on a CPU
    (CPU, ""),  # a store that did not record the training's device
])
def test_no_note_unless_every_run_is_known_to_have_run_on_a_cpu(device: str,
                                                                  training: str) -> None:
    amp = BASE.with_overrides({"train.amp": "auto"})
    results = [*_runs("final", BASE), *_runs("final_amp", amp, device=device,
                                              training=training)]
    assert same_row_notes(results, ["final", "final_amp"]) == []


def test_rows_that_train_identically_name_the_evaluation_settings_they_differ_by() -> None:
    fast = BASE.with_overrides({"train.amp": "auto", "eval.inference.skip_outside_brain": True})
    (note,) = same_row_notes([*_runs("final_hull", BASE), *_runs("final_fast", fast)],
                             ["final_hull", "final_fast"])
    assert note == ("rows final_hull and final_fast train identically here: they differ in "
                    "train.amp (False vs auto), which changes nothing on a CPU, where both "
                    "trained; their numbers differ only through "
                    "eval.inference.skip_outside_brain (False vs True)")


def test_settings_that_change_no_number_are_ignored_and_real_differences_are_not() -> None:
    pictures = BASE.with_overrides({"eval.figure_patients": 0, "eval.validation_fraction": 0.5})
    (note,) = same_row_notes([*_runs("a", BASE), *_runs("b", pictures)], ["a", "b"])
    assert note == "rows a and b are identical by construction here: the same settings"
    wider = BASE.with_overrides({"train.amp": "auto", "model.base_width": 8})
    assert same_row_notes([*_runs("a", BASE), *_runs("c", wider)], ["a", "c"]) == []
    # Sharing a training by design (Table 2's overlaps) is the sweep file's word, not a note.
    overlap = BASE.with_overrides({"eval.inference.overlap": 0.5})
    assert same_row_notes([*_runs("a", BASE), *_runs("d", overlap)], ["a", "d"]) == []


def test_failed_rows_and_cut_values_are_never_called_identical() -> None:
    amp = BASE.with_overrides({"train.amp": "auto"})
    failed = [*_runs("final", BASE), *_runs("final_amp", amp, status="FAILED")]
    assert same_row_notes(failed, ["final", "final_amp"]) == []
    cut = [*_runs("a", BASE), *_runs("b", BASE)]
    for result in cut:
        result.params["preprocessing.steps"] = "x" * 470 + "...[truncated, see config.yaml]"
    assert same_row_notes(cut, ["a", "b"]) == []


@pytest.mark.slow  # a real sweep of three tiny trainings (~40 s)
def test_a_sweeps_table_says_which_rows_are_identical_by_construction(
        tmp_path: Path, sweep_cache: Path, _mlflow_sqlite_template: Path) -> None:
    import shutil

    (tmp_path / "mlruns").mkdir()
    shutil.copyfile(_mlflow_sqlite_template, tmp_path / "mlruns" / "mlflow.db")
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    fast = {"train": {"amp": "auto"}, "eval": {"inference": {"skip_outside_brain": False}}}
    sweep = write_sweep(tmp_path / "same.yaml", {"name": "same", "variants": [
        {"name": "final"}, {"name": "final_amp", "train": {"amp": "auto"}},
        {"name": "final_fast", **fast}]})
    log = tmp_path / "sweep.log"
    run_to_completion([sweep, *isolation_overrides(tmp_path, sweep_cache, uri)], tmp_path, log)
    identical = ("rows final and final_amp are identical by construction here: they differ "
                 "only in train.amp (False vs auto), which changes nothing on a CPU, where "
                 "every training and evaluation of both ran")
    trains = ("rows final and final_fast train identically here: they differ in train.amp "
              "(False vs auto), which changes nothing on a CPU, where both trained; their "
              "numbers differ only through eval.inference.skip_outside_brain (True vs False)")
    console = " ".join(log.read_text().split())  # the terminal wraps long notes
    assert identical in console and trains in console
    parent = find_sweep_parent(uri, "same")
    report = tmp_path / "report"
    build_report(uri, parent, report, trials=False)
    markdown = " ".join((report / "table1.md").read_text().split())
    assert identical in markdown and trains in markdown
    latex = " ".join((report / "table1.tex").read_text().split())
    assert latex_escape(identical) in latex and latex_escape(trains) in latex
    results: dict[str, Any] = {r.variant: r for r in fetch_trial_results(uri, parent)}
    dice = {v: [row["dice"] for row in r.per_patient] for v, r in results.items()}
    assert dice["final_amp"] == dice["final"]  # to the bit, as the note says
