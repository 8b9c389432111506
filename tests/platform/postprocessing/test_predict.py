"""``python -m platform.predict`` (:mod:`platform.postprocessing.predict`): a new patient
segmented by a trained trial, the mask written on the series' own grid.

The slow test predicts with the session's trained trial (``trained_trial``); the fold
ensemble of a variant (``--variant``) is tested with the sweep that scores it, in
``test_external_test.py``. The fast tests are the refusals, exit code 2.
"""

from __future__ import annotations

from pathlib import Path

import highdicom
import numpy as np
import pytest
import SimpleITK as sitk

from data_pipeline.cohort.cohort import load_cohort
from data_pipeline.io.dicom import read_series
from platform.postprocessing.predict import main as predict_main


def test_a_dicom_seg_of_a_volume_file_is_refused_before_any_store_is_opened(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    volume = tmp_path / "ct.nii.gz"
    volume.write_bytes(b"")
    store = tmp_path / "mlflow.db"
    assert predict_main(["--model", "0123456789abcdef0123456789abcdef", "--dicom", str(volume),
                         "--out", str(tmp_path / "mask.dcm"),
                         "--tracking-uri", f"sqlite:///{store}"]) == 2
    assert "references the source DICOM series" in capsys.readouterr().err
    assert not store.exists() and not (tmp_path / "mask.dcm").exists()


def test_an_unknown_model_exits_2_naming_it(tmp_path: Path, mlflow_sqlite_uri: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    unknown = "0123456789abcdef0123456789abcdef"
    assert predict_main(["--model", unknown, "--dicom", str(tmp_path),
                         "--out", str(tmp_path / "mask.nii.gz"),
                         "--tracking-uri", mlflow_sqlite_uri]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and unknown in err
    assert not (tmp_path / "mask.nii.gz").exists()


@pytest.mark.slow
def test_predict_writes_a_mask_on_the_original_dicom_grid(trained_trial, tmp_path):
    context, outcome = trained_trial["context"], trained_trial["outcome"]
    ref = load_cohort(Path(context.cohort))[0]
    out = tmp_path / "mask.nii.gz"
    code = predict_main(["--model", outcome.run_id, "--dicom", str(ref.dicom_dir),
                         "--out", str(out), "--tracking-uri", context.tracking_uri])
    assert code == 0
    mask = sitk.ReadImage(str(out))
    series = read_series(ref.dicom_dir, case_key=ref.key)
    assert sitk.GetArrayFromImage(mask).shape == series.hu.shape
    assert np.allclose(mask.GetSpacing(), series.geometry.spacing[::-1], atol=1e-4)
    assert np.allclose(mask.GetOrigin(), series.geometry.origin, atol=1e-3)
    assert set(np.unique(sitk.GetArrayFromImage(mask))) <= {0, 1}
    seg_path = tmp_path / "mask.dcm"
    assert predict_main(["--model", outcome.run_id, "--dicom", str(ref.dicom_dir),
                         "--out", str(seg_path), "--tracking-uri", context.tracking_uri]) == 0
    seg = highdicom.seg.segread(seg_path)
    assert seg.Modality == "SEG" and seg.number_of_segments == 1
    volume = seg.get_volume()  # the frames that hold the lesion, on the source grid
    expected = sitk.GetArrayFromImage(mask)
    assert volume.array.shape[1:3] == expected.shape[1:]
    assert int(volume.array.sum()) == int(expected.sum())
