"""``python -m platform.predict`` (:mod:`platform.predict`): the thin entry reaches the predict
command line (:mod:`platform.postprocessing.predict`) and returns its exit code. Prediction
itself is tested in ``postprocessing/test_predict.py``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from platform.tune.env import REPO_ROOT


def test_python_m_platform_predict_exits_2_for_a_seg_of_a_volume_file(tmp_path: Path) -> None:
    volume = tmp_path / "ct.nii.gz"
    volume.write_bytes(b"")
    done = subprocess.run(
        [sys.executable, "-m", "platform.predict", "--model", "0123456789abcdef0123456789abcdef",
         "--dicom", str(volume), "--out", str(tmp_path / "mask.dcm"),
         "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr[-3000:]
    assert "references the source DICOM series" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ct.nii.gz"]
