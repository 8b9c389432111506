"""The cohort: which cases there are, under which pseudonymous keys, in which folds.

- :mod:`~data_pipeline.cohort.manifest`: a cohort description (``cohort.yaml``/``.csv``,
  a folder layout, an nnU-Net dataset) read into rows; ``CohortError``.
- :mod:`~data_pipeline.cohort.cohort`: rows -> ``CaseRef`` (``load_cohort``) -> a checked
  ``Case`` in memory (``load_case``, ``load_cases``, ``iter_cases``, ``read_ct``).
- :mod:`~data_pipeline.cohort.pseudonym`: the keyed hash of a PatientID and the cohort salt.
- :mod:`~data_pipeline.cohort.splits`: cross-validation folds, their files (ours, nnU-Net's).
- :mod:`~data_pipeline.cohort.inspect`: ``python -m data_pipeline.inspect``, a check of every case.

Names are imported from their modules, not re-exported here: ``io`` reads a DICOM
folder's PatientID into a pseudonym (``cohort.pseudonym``) and writes a cohort for
nnU-Net (``cohort.cohort``), so a package that imported its modules on import would make
the import order of ``io`` and ``cohort`` matter, and would load pydicom and SimpleITK
for a caller that wants only the folds.
"""
