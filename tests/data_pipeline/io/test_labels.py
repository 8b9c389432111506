"""Tests of data_pipeline/io/labels.py: every mask format round-trips onto the CT grid."""

from __future__ import annotations

from pathlib import Path

import highdicom as hd
import nrrd
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.sr.codedict import codes

from data_pipeline.errors import DataError
from data_pipeline.io.dicom import read_series
from data_pipeline.io.geometry import Geometry
from data_pipeline.io.labels import (
    lesion_volume_ml,
    mask_format,
    read_mask,
    read_prediction,
    write_mask,
)
from tests.data_pipeline.conftest import ramp_volume, write_series

SHAPE = (6, 12, 10)
CT = Geometry(spacing=(2.0, 0.8, 0.9), origin=(-20.0, -25.0, 10.0))


def lesion(shape: tuple[int, int, int] = SHAPE) -> np.ndarray:
    mask = np.zeros(shape, dtype=np.uint8)
    mask[2:4, 3:7, 2:6] = 1
    mask[3, 8, 7] = 1
    return mask


def sitk_image(array: np.ndarray, geometry: Geometry) -> sitk.Image:
    return geometry.to_sitk(sitk.GetImageFromArray(array))


def write_slicer_seg(
    path: Path,
    layers: np.ndarray,
    segments: list[tuple[str, int, int]],
    origin: tuple[float, float, float],
    geometry: Geometry = CT,
) -> None:
    """Write a 3D Slicer ``.seg.nrrd`` with pynrrd: (layer, Z, Y, X) labels + segment fields."""
    data = np.transpose(layers, (0, 3, 2, 1))  # pynrrd's default index order is (x, y, z)
    z, y, x = geometry.spacing
    header = {
        "type": "unsigned char",
        "dimension": 4,
        "space": "left-posterior-superior",
        "kinds": ["list", "domain", "domain", "domain"],
        "encoding": "gzip",
        "space directions": np.array([[np.nan] * 3, [x, 0, 0], [0, y, 0], [0, 0, z]]),
        "space origin": np.array(origin),
        "Segmentation_MasterRepresentation": "Binary labelmap",
    }
    for i, (name, value, layer) in enumerate(segments):
        header.update(
            {
                f"Segment{i}_ID": f"Segment_{i + 1}",
                f"Segment{i}_Name": name,
                f"Segment{i}_LabelValue": str(value),
                f"Segment{i}_Layer": str(layer),
            }
        )
    nrrd.write(str(path), data, header)


def test_nifti_round_trip(tmp_path: Path) -> None:
    for name in ("m.nii", "m.nii.gz"):
        write_mask(tmp_path / name, lesion(), CT)
        got = read_mask(tmp_path / name, CT, SHAPE, case_key="c")
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, lesion())


def test_nrrd_from_pynrrd_round_trip(tmp_path: Path) -> None:
    z, y, x = CT.spacing
    header = {
        "space": "left-posterior-superior",
        "space origin": np.array(CT.origin),
        "space directions": np.diag([x, y, z]),
        "kinds": ["domain"] * 3,
    }
    nrrd.write(str(tmp_path / "m.nrrd"), np.transpose(lesion() * 3, (2, 1, 0)), header)
    got = read_mask(tmp_path / "m.nrrd", CT, SHAPE, case_key="c")
    np.testing.assert_array_equal(got, lesion())


def test_ras_nifti_from_nibabel_is_reoriented_without_interpolation(tmp_path: Path) -> None:
    """A mask saved in RAS axis order (x and y flipped) is the same lattice: it is accepted."""
    image = sitk.DICOMOrient(sitk_image(lesion(), CT), "RAS")
    sitk.WriteImage(image, str(tmp_path / "ras.nii.gz"))
    got = read_mask(tmp_path / "ras.nii.gz", CT, SHAPE, case_key="c")
    np.testing.assert_array_equal(got, lesion())


def test_slicer_seg_nrrd_segments_layers_and_cropped_extent(tmp_path: Path) -> None:
    full = lesion()
    other = np.zeros(SHAPE, np.uint8)
    other[1:5, 2:5, 1:4] = 1  # overlaps the lesion: Slicer puts it on a second layer
    box = (slice(1, 5), slice(2, 10), slice(1, 8))  # Slicer crops to the segments' extent
    layers = np.stack([full[box] * 1, other[box] * 2])
    origin = tuple(np.array(CT.origin) + np.array([1 * 0.9, 2 * 0.8, 1 * 2.0]))
    path = tmp_path / "Segmentation.seg.nrrd"
    write_slicer_seg(path, layers, [("lesion", 1, 0), ("edema", 2, 1)], origin)
    np.testing.assert_array_equal(read_mask(path, CT, SHAPE, case_key="c"), full)
    np.testing.assert_array_equal(read_mask(path, CT, SHAPE, case_key="c", label="edema"), other)
    np.testing.assert_array_equal(read_mask(path, CT, SHAPE, case_key="c", label=2), other)
    with pytest.raises(
        DataError,
        match="segment 'core' not found in Segmentation.seg.nrrd; its "
        "segments: 'lesion' \\(value 1, layer 0\\), 'edema'",
    ):
        read_mask(path, CT, SHAPE, case_key="c", label="core")


def test_dicom_seg_from_highdicom(tmp_path: Path) -> None:
    paths = write_series(tmp_path / "ct", ramp_volume(SHAPE), spacing=CT.spacing, origin=CT.origin)
    volume = read_series(tmp_path / "ct", case_key="c")
    sources = [pydicom.dcmread(p) for p in paths]
    full, edema = lesion(), np.zeros(SHAPE, np.uint8)
    edema[1, 1:3, 1:3] = 1
    description = [
        hd.seg.SegmentDescription(
            segment_number=n,
            segment_label=name,
            segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
            segmented_property_type=codes.SCT.Lesion,
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
        )
        for n, name in ((1, "lesion"), (2, "edema"))
    ]
    seg = hd.seg.Segmentation(
        source_images=sources,
        pixel_array=np.stack([full, edema], axis=-1),
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=description,
        series_instance_uid=hd.UID(),
        series_number=99,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="test",
        manufacturer_model_name="test",
        software_versions="0",
        device_serial_number="0",
    )  # empty frames are omitted: the SEG covers slices 1-3 only
    (tmp_path / "seg").mkdir()
    seg.save_as(tmp_path / "seg" / "seg.dcm")
    got = read_mask(tmp_path / "seg" / "seg.dcm", volume.geometry, volume.hu.shape, case_key="c")
    np.testing.assert_array_equal(got, full)
    by_name = read_mask(
        tmp_path / "seg", volume.geometry, volume.hu.shape, case_key="c", label="edema"
    )
    np.testing.assert_array_equal(by_name, edema)


def test_labels_above_zero_or_a_named_value(tmp_path: Path) -> None:
    labels = lesion() * 2
    labels[0, 0, 0] = 1
    sitk.WriteImage(sitk_image(labels, CT), str(tmp_path / "l.nii.gz"))
    assert read_mask(tmp_path / "l.nii.gz", CT, SHAPE, case_key="c").sum() == lesion().sum() + 1
    np.testing.assert_array_equal(
        read_mask(tmp_path / "l.nii.gz", CT, SHAPE, case_key="c", label=2), lesion()
    )
    with pytest.raises(DataError, match="label 'lesion' is a name, but nifti files hold no label"):
        read_mask(tmp_path / "l.nii.gz", CT, SHAPE, case_key="c", label="lesion")


def test_probability_map_is_refused(tmp_path: Path) -> None:
    sitk.WriteImage(sitk_image(lesion().astype(np.float32) * 0.7, CT), str(tmp_path / "p.nii"))
    with pytest.raises(DataError, match="non-integer values \\(a probability map\\?\\)"):
        read_mask(tmp_path / "p.nii", CT, SHAPE, case_key="c")


@pytest.mark.parametrize(
    ("geometry", "shape", "problem"),
    [
        (Geometry((2.0, 0.8, 0.9), (-20.0, -25.0, 14.0)), SHAPE, "origin"),
        (Geometry((1.0, 0.8, 0.9), CT.origin), SHAPE, "spacing"),
        (CT, (5, 12, 10), "shape (5, 12, 10) vs (6, 12, 10)"),
    ],
    ids=["origin", "spacing", "shape"],
)
def test_mask_of_another_scan_prints_both_geometries(
    tmp_path: Path, geometry: Geometry, shape: tuple[int, int, int], problem: str
) -> None:
    write_mask(tmp_path / "other.nii.gz", lesion(shape), geometry)
    with pytest.raises(DataError) as info:
        read_mask(tmp_path / "other.nii.gz", CT, SHAPE, case_key="c")
    message = str(info.value)
    assert message.startswith("case c: mask of another scan? nifti mask other.nii.gz")
    assert problem in message
    assert (
        "CT:   shape (6, 12, 10), spacing (z,y,x) (2.0, 0.8, 0.9) mm, origin (x,y,z) "
        "(-20.0, -25.0, 10.0) mm" in message
    )
    assert f"mask: shape {shape}" in message


def test_empty_mask(tmp_path: Path) -> None:
    write_mask(tmp_path / "e.nrrd", np.zeros(SHAPE, np.uint8), CT)
    with pytest.raises(DataError, match="case c: empty mask: nrrd mask e.nrrd has no lesion"):
        read_mask(tmp_path / "e.nrrd", CT, SHAPE, case_key="c")


def test_unreadable_missing_and_unknown_masks(tmp_path: Path) -> None:
    (tmp_path / "bad.nii.gz").write_bytes(b"not a nifti file")
    with pytest.raises(DataError, match="nifti mask bad.nii.gz could not be read"):
        read_mask(tmp_path / "bad.nii.gz", CT, SHAPE, case_key="c")
    with pytest.raises(DataError, match="mask gone.nii not found"):
        read_mask(tmp_path / "gone.nii", CT, SHAPE, case_key="c")
    sitk.WriteImage(sitk.GetImageFromArray(np.ones((2, 3), np.uint8)), str(tmp_path / "2d.nrrd"))
    with pytest.raises(DataError, match="nrrd mask 2d.nrrd has 2 dimensions; expected a 3D mask"):
        read_mask(tmp_path / "2d.nrrd", CT, SHAPE, case_key="c")
    (tmp_path / "m.mha").write_bytes(b"")
    with pytest.raises(DataError, match="unknown mask format for 'm.mha'"):
        read_mask(tmp_path / "m.mha", CT, SHAPE, case_key="c")
    (tmp_path / "noseg").mkdir()
    (tmp_path / "noseg" / "x.dcm").write_bytes(b"nope")
    with pytest.raises(DataError, match="expected one DICOM SEG object at noseg, found 0"):
        read_mask(tmp_path / "noseg", CT, SHAPE, case_key="c")


def test_mask_format_by_suffix(tmp_path: Path) -> None:
    assert [
        mask_format(Path(n)) for n in ("a.nii", "a.NII.GZ", "a.nrrd", "a.seg.nrrd", "a.dcm")
    ] == ["nifti", "nifti", "nrrd", "seg.nrrd", "dicom-seg"]
    assert mask_format(tmp_path) == "dicom-seg"
    with pytest.raises(ValueError, match="write_mask writes"):
        write_mask(tmp_path / "m.dcm", lesion(), CT)


def test_lesion_volume_without_the_ct_opens_masks_like_read_mask(tmp_path: Path) -> None:
    labels = lesion() * 2
    labels[0, 0, 0] = 5
    write_mask(tmp_path / "v.nii.gz", labels, CT)
    voxel_ml = 2.0 * 0.8 * 0.9 / 1000.0
    assert lesion_volume_ml(tmp_path / "v.nii.gz", case_key="c") == pytest.approx(
        int(lesion().sum() + 1) * voxel_ml)
    assert lesion_volume_ml(tmp_path / "v.nii.gz", case_key="c", label=5) == pytest.approx(voxel_ml)
    with pytest.raises(DataError, match="case c: mask gone.nii not found"):
        lesion_volume_ml(tmp_path / "gone.nii", case_key="c")
    (tmp_path / "m.mha").write_bytes(b"")
    with pytest.raises(DataError, match="unknown mask format for 'm.mha'"):
        lesion_volume_ml(tmp_path / "m.mha", case_key="c")
    with pytest.raises(DataError, match="label 'lesion' is a name, but nifti files hold no label"):
        lesion_volume_ml(tmp_path / "v.nii.gz", case_key="c", label="lesion")


def test_a_prediction_may_be_empty_but_must_lie_on_the_ct_grid(tmp_path: Path) -> None:
    """A baseline's mask (issue 24): nothing found is an answer; another grid is not."""
    empty = np.zeros(SHAPE, dtype=np.uint8)
    write_mask(tmp_path / "empty.nii.gz", empty, CT)
    assert not read_prediction(tmp_path / "empty.nii.gz", CT, SHAPE, case_key="c").any()
    with pytest.raises(DataError, match="empty mask"):
        read_mask(tmp_path / "empty.nii.gz", CT, SHAPE, case_key="c")
    write_mask(tmp_path / "found.nii.gz", lesion(), CT)
    assert np.array_equal(read_prediction(tmp_path / "found.nii.gz", CT, SHAPE, case_key="c"),
                          lesion())
    moved = Geometry(spacing=CT.spacing, origin=(0.0, 0.0, 0.0))
    write_mask(tmp_path / "moved.nii.gz", lesion(), moved)
    with pytest.raises(DataError, match="does not lie on the CT grid"):
        read_prediction(tmp_path / "moved.nii.gz", CT, SHAPE, case_key="c")
