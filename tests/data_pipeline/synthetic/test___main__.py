"""Tests of the ``python -m data_pipeline.synthetic`` entry (generator.main behind it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]


def _cli(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "data_pipeline.synthetic", *args]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)


def test_cli_writes_a_cohort(tmp_path: Path) -> None:
    result = _cli(
        str(tmp_path / "c"),
        "--patients",
        "1",
        "--shape",
        "32,32,32",
        "--seed",
        "3",
        "--craniectomy-fraction",
        "1",
        "--no-progress",
    )
    assert result.returncode == 0, result.stderr
    manifest = yaml.safe_load((tmp_path / "c" / "cohort.yaml").read_text())
    assert manifest["generator"]["anatomy"] == {"case-000": ["open_skull_base", "craniectomy"]}
    assert (tmp_path / "c" / "case-000" / "lesion.nii.gz").is_file()


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--patients", "0", "--shape", "32,32,32"], "patients"),
        (["--patients", "1", "--shape", "32,32"], "Z,Y,X"),
        (["--patients", "1", "--shape", "a,b,c"], "Z,Y,X"),
        (["--patients", "1", "--shape", "0,32,32"], "Z,Y,X"),
        (["--patients", "x", "--shape", "32,32,32"], "patients"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(tmp_path: Path, args: list[str], match: str) -> None:
    result = _cli(str(tmp_path / "c"), *args, "--seed", "0")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and match in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_unwritable_output_is_one_line_and_exit_2(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = _cli(str(blocker / "c"), "--patients", "1", "--shape", "32,32,32", "--seed", "0")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "error" in result.stderr
    assert "Traceback" not in result.stderr
