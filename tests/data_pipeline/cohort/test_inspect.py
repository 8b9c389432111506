"""Tests of data_pipeline/cohort/inspect.py: table, JSON, exit status (PHI: ../test_inspect.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from data_pipeline.cohort.inspect import main
from tests.data_pipeline.conftest import BROKEN_CASES


def test_table_for_a_good_cohort_exits_zero(
    tiny_cohort: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(tiny_cohort), "--no-progress"]) == 0
    out = capsys.readouterr().out
    for key in ("case-000", "case-001", "case-002"):
        assert key in out
    assert "3 of 3 cases usable" in out and "lesion" in out


def test_json_lists_bad_cases_and_exits_two(
    broken_cohort: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(broken_cohort), "--json", "--no-progress"]) == 2  # issue 28: bad input
    report = json.loads(capsys.readouterr().out)
    assert (report["usable"], report["unusable"]) == (1, len(BROKEN_CASES))
    rows = {row["key"]: row for row in report["cases"]}
    good = rows.pop("case-000")
    assert good["usable"] and good["slices"] == 48 and good["lesion_voxels"] > 0
    assert good["lesion_percent"] == pytest.approx(100 * good["lesion_voxels"] / 48**3, abs=1e-4)
    assert good["hu_min"] < good["hu_max"] and len(good["spacing_mm"]) == 3
    assert 0.0 <= good["lesion_lost_percent"] <= 0.5  # the default steps keep the lesion
    for key, phrase in BROKEN_CASES.items():
        assert not rows[key]["usable"] and phrase in rows[key]["problems"][0]


def test_unreadable_cohort_exits_two(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "cohort.yaml").write_text("version: 1\ncases: []\n")
    assert main([str(tmp_path)]) == 2
    assert "cannot read the cohort" in capsys.readouterr().err


def test_patient_id_keys_from_a_salt_file(
    tiny_cohort: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    salt = tmp_path / "cohort.salt"
    salt.write_text("ab" * 32)
    assert (
        main(
            [
                str(tiny_cohort),
                "--json",
                "--keys",
                "patient_id",
                "--salt-file",
                str(salt),
                "--no-progress",
            ]
        )
        == 0
    )
    keys = [row["key"] for row in json.loads(capsys.readouterr().out)["cases"]]
    assert len(keys) == 3 and all(k.startswith("p-") for k in keys)




def test_a_piped_table_keeps_each_problem_on_one_line(
    broken_cohort: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 23: in a log (not a terminal) rich assumed 80 columns and folded a problem cell
    to one word per line; the problems now follow the table, one whole line per case."""
    assert main([str(broken_cohort), "--no-progress"]) == 2  # bad input exits 2 (issue 28)
    lines = capsys.readouterr().out.splitlines()
    for key, phrase in BROKEN_CASES.items():
        (line,) = [line for line in lines if line.startswith(f"{key}: UNUSABLE: ")]
        assert phrase in line
    table = [line for line in lines if ": UNUSABLE: " not in line]
    assert max(len(line) for line in table) <= 200  # the table itself at a log's width
