"""The synthetic cohort: head-CT phantoms with lesions, written as DICOM series.

- :mod:`~data_pipeline.synthetic.generator`: ``generate_cohort`` (also
  ``python -m data_pipeline.synthetic``), ``case_phantom``, ``phi_values``.
- :mod:`~data_pipeline.synthetic.case_draw`: one case drawn from the seed (phantom,
  grid, fake identity, file names); ``GENERATOR_VERSION``.
- :mod:`~data_pipeline.synthetic.phantom`: ``make_head_phantom``, the head with lesions.
- :mod:`~data_pipeline.synthetic.phantom_anatomy`: the healthy head, rendered slab by slab,
  from the per-patient draws of :mod:`~data_pipeline.synthetic.phantom_layout`.
- :mod:`~data_pipeline.synthetic.phantom_skull`: skull base and skull variants (``Anatomy``).
- :mod:`~data_pipeline.synthetic.smooth_field`: smooth random fields for textures and shading.

Names are imported from their modules, not re-exported here: a test or benchmark that
needs only the phantom (NumPy) does not load pydicom and SimpleITK for the writer.
"""
