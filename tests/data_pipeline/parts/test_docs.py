"""Tests for data_pipeline/parts/docs.py: parameter tables read from the params models."""

from __future__ import annotations

from data_pipeline.parts import describe


def test_describe_reads_types_defaults_and_field_docstrings(things) -> None:
    docs = {doc.name: doc for doc in describe(things, "doubled")}
    assert docs["factor"].default == "2.0" and docs["factor"].type == "float > 0.0"
    assert docs["offset"].description == "Added after scaling."
