"""Fixtures shared by the io tests."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from data_pipeline.cohort.cohort import load_cohort
from data_pipeline.io.nnunet_export import write_nnunet_dataset


@pytest.fixture(scope="module")
def dataset(tiny_cohort: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tiny_cohort exported as an nnU-Net dataset: two training cases, one test case."""
    refs = load_cohort(tiny_cohort)
    out = tmp_path_factory.mktemp("nnunet")
    test = [replace(refs[2], key="ext-000")]
    return write_nnunet_dataset(out, refs[:2], test, name="Dataset777_Tiny")
