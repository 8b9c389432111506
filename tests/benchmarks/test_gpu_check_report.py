"""The GPU check's report: failures and skips are recorded per row, NaN never breaks the JSON,
and the loader / compile / target decisions follow from the rows."""

from __future__ import annotations

import json

import torch
from gpu_check_report import Report, evaluate_targets


def _report(mode: str = "full") -> Report:
    return Report({"mode": mode, "name": "test", "device": "cpu", "torch": "x", "cuda": None,
                   "date": "today"})


def _step(report: Report, network: str, mode: str, seconds: float) -> None:
    report.attempt("train_step", {"network": network, "mode": mode},
                   lambda: {"seconds": seconds, "dtype": "bfloat16", "warmup_seconds": 0.0,
                            "peak_mib": None, "params": 1, "loss": 0.5})


def test_a_failing_row_is_recorded_and_the_run_goes_on(tmp_path) -> None:
    report = _report()

    def boom() -> dict:
        raise RuntimeError("CUDA out of memory")

    report.attempt("loader", {"workers": 2}, boom)
    report.skip("loader", {"workers": 4}, "time budget")
    report.attempt("loader", {"workers": 0}, lambda: {"batches": 4, "seconds_per_batch": 0.01})
    rows = report.data["loader"]
    assert rows[0]["error"] == "RuntimeError: CUDA out of memory"
    assert rows[1]["skipped"] == "time budget" and rows[2]["seconds_per_batch"] == 0.01
    assert report.failed()
    assert "ERROR RuntimeError" in report.table() and "skipped: time budget" in report.table()


def test_non_finite_numbers_become_null_and_are_listed(tmp_path) -> None:
    report = _report()
    _step(report, "basicunet", "float32", float("nan"))
    report.write(tmp_path / "out.json")
    data = json.loads((tmp_path / "out.json").read_text())
    assert data["train_step"][0]["seconds"] is None
    assert data["non_finite"] == ["train_step[0].seconds"]


def test_compile_is_used_only_where_it_made_the_step_faster() -> None:
    report = _report()
    _step(report, "unet3d_residual_se", "autocast+channels_last", 0.100)
    _step(report, "unet3d_residual_se", "autocast+channels_last+compile", 0.097)
    assert not report.compile_helps("unet3d_residual_se")  # under 5 %: not worth compiling
    _step(report, "basicunet", "autocast+channels_last", 0.100)
    _step(report, "basicunet", "autocast+channels_last+compile", 0.080)
    assert report.compile_helps("basicunet")


def test_fewest_loader_workers_that_keep_the_step_busy() -> None:
    report = _report()
    _step(report, "unet3d_residual_se", "autocast+channels_last", 0.050)
    for workers, seconds in ((0, 0.200), (2, 0.049), (4, 0.020)):
        report.attempt("loader", {"workers": workers}, lambda s=seconds: {"seconds_per_batch": s})
    assert report.fewest_workers_keeping_up("unet3d_residual_se") == 2
    assert report.data["loader"][0]["busy_fraction"] == 0.25


def test_targets_are_judged_only_where_they_apply() -> None:
    report = _report()
    _step(report, "basicunet", "autocast+channels_last", 0.100)
    _step(report, "unet3d_residual_se", "autocast+channels_last", 0.090)
    for contender, seconds in (("ours", 1.0), ("monai", 1.6), ("torchio", 2.0)):
        report.attempt("inference", {"overlap": 0.25, "contender": contender, "patches": 10},
                       lambda s=seconds: {"seconds": s, "seconds_per_patch": s / 10})
    report.data["projection"] = {"hours_eight_gpus": 1.5}
    targets = {t["target"]: t for t in evaluate_targets(report, torch.device("cpu"))}
    assert targets["train step: final / BasicUNet, best autocast mode"]["met"] is True
    speedup = targets["inference 25%: faster anchor / ours"]
    assert speedup["value"] == 1.6 and speedup["met"] is True
    assert targets["seconds per full-size patient at 25 %"]["met"] is None  # not an H100
    assert targets["Table 1 on eight GPUs, hours"]["met"] is None
    small = {t["target"]: t["met"] for t in evaluate_targets(_report("small"), torch.device("cpu"))}
    assert set(small.values()) == {None}


def test_a_second_call_merges_the_first_and_replaces_rows_it_measures_again() -> None:
    first = _report()
    _step(first, "unet3d_residual_se", "autocast+channels_last", 0.050)
    first.attempt("inference", {"overlap": 0.25, "contender": "ours", "patches": 10},
                  lambda: {"seconds": 1.0, "seconds_per_patch": 0.1})
    first.data["meta"]["parts"] = ["core"]
    second = _report()
    assert second.merge(json.loads(json.dumps(first.data)), "core.json")
    assert second.data["meta"]["merged"]["parts"] == ["core"]
    assert second.step_seconds("unet3d_residual_se") == 0.050  # the loader's yardstick
    second.attempt("inference", {"overlap": 0.25, "contender": "ours", "patches": 10},
                   lambda: {"seconds": 0.8, "seconds_per_patch": 0.08})
    ours = second.rows("inference", contender="ours")
    assert [row["seconds"] for row in ours] == [0.8]  # replaced, not doubled
    assert "merged from core.json" in second.table()


def test_rows_of_another_device_or_mode_are_not_merged() -> None:
    first = _report()
    _step(first, "basicunet", "float32", 0.1)
    other = json.loads(json.dumps(first.data))
    other["meta"]["name"] = "NVIDIA H200"
    second = _report()
    assert not second.merge(other, "core.json")
    assert second.data["train_step"] == [] and "H200" in second.data["meta"]["merge_refused"]
    small = json.loads(json.dumps(first.data))
    small["meta"]["mode"] = "small"
    assert not second.merge(small, "core.json")
    assert "NOT merged" in second.table()


def test_the_json_is_rewritten_after_every_row(tmp_path) -> None:
    report = Report({"mode": "full", "name": "test", "device": "cpu"}, tmp_path / "out.json")
    _step(report, "basicunet", "float32", 0.1)
    report.skip("loader", {"workers": 4}, "time budget")
    data = json.loads((tmp_path / "out.json").read_text())  # no write() called: a killed run
    assert data["train_step"][0]["seconds"] == 0.1 and data["loader"][0]["skipped"]
