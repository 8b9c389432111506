"""Tests of platform/parameters.py: docs/parameters.md is what the code says."""

from __future__ import annotations

from platform.config.reference import render
from platform.parameters import DOC_PATH, main


def test_the_parameter_document_matches_the_code() -> None:
    assert DOC_PATH.read_text() == render(), (
        "docs/parameters.md is stale: run python -m platform.parameters > docs/parameters.md")
    assert main(["--check"]) == 0


