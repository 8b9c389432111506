"""Tests of the ``python -m data_pipeline.inspect`` entry (data_pipeline/inspect.py): no PHI."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from data_pipeline.cohort.inspect import main
from data_pipeline.synthetic.generator import phi_values
from tests.data_pipeline.conftest import FAKE_PHI

REPO = Path(__file__).resolve().parents[2]


def identifiers(*folders: Path) -> set[str]:
    """Every identifier in the headers, plus the name parts; values under 5 characters
    (StudyID, StationName) are left out because they match ordinary numbers and words."""
    values = set(FAKE_PHI.values())
    for folder in folders:
        values |= phi_values(folder)
    parts = {p for v in values for p in v.replace("^", " ").split() if len(p) >= 4}
    return {v for v in values | parts if len(v) >= 5 or v in parts}


def test_nothing_a_cohort_run_writes_holds_an_identifier(
    broken_cohort: Path,
    tiny_cohort: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Grep stdout, stderr and every log record (DEBUG, all loggers) of table and JSON runs."""
    secrets = identifiers(broken_cohort.parent, tiny_cohort.parent)
    assert len(secrets) > 20  # names, IDs, dates, institutions and UIDs were found
    run = subprocess.run(
        [sys.executable, "-m", "data_pipeline.inspect", str(broken_cohort), "--log-level", "DEBUG"],
        capture_output=True,
        encoding="utf-8",
        cwd=REPO,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert run.returncode == 2, run.stderr  # issue 28: unusable cases are bad input
    written = [run.stdout, run.stderr]
    with caplog.at_level(logging.DEBUG):
        main([str(broken_cohort), "--json"])
    written += [capsys.readouterr().out, caplog.text]
    written += [str(r.args) for r in caplog.records]
    text = "\n".join(written)
    assert "case-000" in text and "mixed series" in text  # the runs did write their report
    leaked = sorted(s for s in secrets if s in text or s.lower() in text.lower())
    assert not leaked
