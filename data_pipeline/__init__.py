"""DICOM and label I/O, preprocessing, caching, folds, patch samplers and the synthetic cohort.

Never imports ``models`` or ``platform``: it turns a lab's files into checked,
pseudonymised arrays and patches, and knows nothing about the network or the sweep.
"""
