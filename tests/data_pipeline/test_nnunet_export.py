"""Tests of the ``python -m data_pipeline.nnunet_export`` entry (data_pipeline/nnunet_export.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_entry_writes_a_dataset_and_prints_its_folder(make_cohort, tmp_path: Path) -> None:
    cohort = make_cohort(patients=2, shape=(32, 32, 32), seed=1)
    run = subprocess.run(
        [sys.executable, "-m", "data_pipeline.nnunet_export", str(cohort), str(tmp_path),
         "--name", "Dataset901_Entry"],
        capture_output=True, encoding="utf-8", cwd=REPO, timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert run.returncode == 0, run.stderr
    folder = tmp_path / "Dataset901_Entry"
    assert run.stdout.strip() == str(folder)
    assert json.loads((folder / "dataset.json").read_text())["numTraining"] == 2
