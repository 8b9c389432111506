"""nnU-Net v2 raw datasets as cohorts: exported from the synthetic DICOM cohort, read back.

Covers ``data_pipeline/io/nnunet_dataset.py`` (reading; writing is ``test_nnunet_export.py``);
issue 14: ``inspect`` reads the NIfTI copy with the DICOM original's lesion
voxel counts, and a non-HU NIfTI is refused with the case named.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from data_pipeline.cohort.cohort import CohortError, load_case, load_cohort
from data_pipeline.cohort.inspect import main as inspect_main
from data_pipeline.errors import DataError
from data_pipeline.io.volume_io import read_volume, write_volume


def _inspect(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict]:
    code = inspect_main([str(path), "--json", "--no-progress"])
    return code, {row["key"]: row for row in json.loads(capsys.readouterr().out)["cases"]}


def test_inspect_reads_the_nifti_copy_like_the_dicom_original(
        tiny_cohort: Path, dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code_dicom, dicom = _inspect(tiny_cohort, capsys)
    code_nifti, nifti = _inspect(dataset, capsys)
    assert code_dicom == code_nifti == 0
    assert sorted(nifti) == ["case-000", "case-001"]
    for key, row in nifti.items():
        original = dicom[key]
        assert row["lesion_voxels"] == original["lesion_voxels"] > 0
        for field in ("shape", "spacing_mm", "hu_min", "hu_max", "lesion_lost_percent"):
            assert row[field] == original[field], (key, field)


def test_images_ts_is_the_test_cohort(tiny_cohort: Path, dataset: Path) -> None:
    (ref,) = load_cohort(dataset / "imagesTs")
    assert (ref.key, ref.mask_path.name) == ("ext-000", "ext-000.nii.gz")
    original = load_case(load_cohort(tiny_cohort)[2])
    np.testing.assert_array_equal(load_case(ref).lesion, original.lesion)


def _copy(dataset: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(dataset, tmp_path / dataset.name))


def test_a_normalised_ct_is_refused_naming_the_case(
        dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    copy = _copy(dataset, tmp_path)
    image = copy / "imagesTr" / "case-001_0000.nii.gz"
    volume = read_volume(image, case_key="case-001")
    scaled = (volume.hu - volume.hu.min()) / (volume.hu.max() - volume.hu.min())
    write_volume(image, scaled.astype(np.float32), volume.geometry)
    with pytest.raises(DataError) as info:
        load_case(load_cohort(copy)[1])
    assert info.value.case_key == "case-001" and "not in Hounsfield units" in str(info.value)
    code, rows = _inspect(copy, capsys)
    assert code == 2  # issue 28: an unusable case is bad input
    assert rows["case-000"]["usable"] and not rows["case-001"]["usable"]
    assert "case-001_0000.nii.gz is not in Hounsfield units" in rows["case-001"]["problems"][0]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d.update(channel_names={"0": "CT", "1": "CTA"}), "one CT channel"),
        (lambda d: d.pop("file_ending"), "missing nnU-Net v2 key(s) ['file_ending']"),
        (lambda d: d.update(numTraining=3), "numTraining is 3, but 2 training cases"),
        (lambda d: d.update(file_ending=".png"), "file_ending '.png'"),
    ],
    ids=["two-channels", "no-file-ending", "num-training", "file-ending"],
)
def test_an_invalid_dataset_json_is_refused_naming_file_and_key(
        dataset: Path, tmp_path: Path, change, expected: str) -> None:
    copy = _copy(dataset, tmp_path)
    meta = json.loads((copy / "dataset.json").read_text())
    change(meta)
    (copy / "dataset.json").write_text(json.dumps(meta))
    with pytest.raises(CohortError) as info:
        load_cohort(copy)
    assert "dataset.json" in str(info.value) and expected in str(info.value)


def test_a_training_image_without_its_label_is_refused(dataset: Path, tmp_path: Path) -> None:
    copy = _copy(dataset, tmp_path)
    (copy / "labelsTr" / "case-001.nii.gz").unlink()
    with pytest.raises(CohortError, match="no label case-001.nii.gz for image case-001_0000"):
        load_cohort(copy)




def test_images_ts_without_labels_ts_is_refused_naming_labels_ts(dataset: Path,
                                                                 tmp_path: Path) -> None:
    """Issue 23: the refusal did not say that the masks belong in ``labelsTs``."""
    copy = _copy(dataset, tmp_path)
    shutil.rmtree(copy / "labelsTs")
    with pytest.raises(CohortError, match=r"labelsTs: no label for 1 test image\(s\) .*"
                       r"ext-000.nii.gz.*put <case>.nii.gz masks in .*labelsTs"):
        load_cohort(copy / "imagesTs")
