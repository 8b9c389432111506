"""Files in and out: DICOM series, lesion masks, CT volume files, nnU-Net datasets.

The only package that imports pydicom (an adapter: its API moves between versions, and
every DICOM identifier enters the program here and must stay here).

- :mod:`~data_pipeline.io.dicom`: a DICOM CT series -> a checked HU volume
  (``read_series``), via :mod:`~data_pipeline.io.dicom_headers` (files and headers),
  :mod:`~data_pipeline.io.series_choice` (which series is the CT, what else is
  there), :mod:`~data_pipeline.io.series_layout` (slice order, gaps, tilt) and
  :mod:`~data_pipeline.io.dicom_pixels` (pixels into HU).
- :mod:`~data_pipeline.io.dicom_patient`: the pseudonymous key from a PatientID.
- :mod:`~data_pipeline.io.dicom_writer`: a volume written as a CT series (synthetic cohorts).
- :mod:`~data_pipeline.io.dicom_seg`: a predicted mask as a DICOM SEG of its series.
- :mod:`~data_pipeline.io.labels`: lesion masks (NIfTI, NRRD, ``.seg.nrrd``, DICOM SEG)
  on the CT grid, and writing a mask.
- :mod:`~data_pipeline.io.volume_io`: CT volume files (NIfTI, NRRD, MHA), checked by
  :mod:`~data_pipeline.io.hu_check`.
- :mod:`~data_pipeline.io.nnunet_dataset` / :mod:`~data_pipeline.io.nnunet_export`: an
  nnU-Net v2 raw dataset read as a cohort, and a cohort written as one.
- :mod:`~data_pipeline.io.geometry`: ``Geometry``, the voxel grid all of them share.

Names are imported from their modules, not re-exported here: the package would then
load pydicom, SimpleITK and the cohort for a caller that wants ``Geometry`` only, and
``io`` and ``cohort`` use each other (a PatientID's pseudonym, a cohort written for
nnU-Net), so eager imports would make their import order matter.
"""
