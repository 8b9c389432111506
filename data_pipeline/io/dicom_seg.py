"""Write a predicted lesion mask as a DICOM Segmentation of its source CT series.

Why a DICOM SEG: it goes back to PACS and opens over the CT in any DICOM viewer, in the
patient's study. It therefore carries the study's patient module, copied by highdicom
from the source images: it is clinical output for the patient's record, never a log or an
experiment artifact (those hold pseudonymous keys only).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from data_pipeline.io.dicom import read_datasets, series_files

__all__ = ["ALGORITHM_NAME", "write_dicom_seg"]

ALGORITHM_NAME = "stroke-ablation-platform 3D residual SE U-Net"


def write_dicom_seg(
    mask: np.ndarray,
    dicom_dir: Path,
    out_path: Path,
    *,
    case_key: str,
    algorithm_version: str,
    series_uid: str | None = None,
) -> Path:
    """Write ``mask`` ``(Z, Y, X)`` 0/1, on the grid of ``dicom_dir``'s series, as DICOM SEG.

    Args:
        mask: binary mask in the slice order of :func:`data_pipeline.io.dicom.read_series`.
        dicom_dir: the source series (the same one the mask was predicted on).
        algorithm_version: recorded in the SEG (e.g. the git commit of the model's run).
    """
    import highdicom as hd  # about a second to import; only this writer needs it
    from pydicom.sr.codedict import codes

    # highdicom logs the source instances' UIDs at INFO while it copies the study modules.
    logging.getLogger("highdicom").setLevel(max(logging.WARNING, logging.getLogger(
        "highdicom").getEffectiveLevel()))
    sources = read_datasets(series_files(dicom_dir, case_key=case_key, series_uid=series_uid))
    if mask.shape != (len(sources), sources[0].Rows, sources[0].Columns):
        raise ValueError(
            f"case {case_key}: mask shape {mask.shape} does not match the series "
            f"({len(sources)}, {sources[0].Rows}, {sources[0].Columns})"
        )
    algorithm = hd.AlgorithmIdentificationSequence(
        name=ALGORITHM_NAME, version=algorithm_version, family=codes.DCM.ArtificialIntelligence
    )
    segment = hd.seg.SegmentDescription(
        segment_number=1,
        segment_label="ischemic stroke lesion",
        segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=codes.SCT.Lesion,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
        algorithm_identification=algorithm,
    )
    seg = hd.seg.Segmentation(
        source_images=sources,
        pixel_array=np.ascontiguousarray(mask, dtype=np.uint8),
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[segment],
        series_instance_uid=hd.UID(),
        series_number=9001,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="stroke-ablation-platform",
        manufacturer_model_name="residual SE U-Net",
        software_versions=algorithm_version,
        device_serial_number="none",
    )
    out_path = Path(out_path)
    seg.save_as(out_path)
    return out_path
