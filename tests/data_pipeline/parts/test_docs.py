"""Tests for data_pipeline/parts/docs.py: parameter tables read from the params models."""

from __future__ import annotations

from data_pipeline.parts import describe, type_text


def test_describe_reads_types_defaults_and_field_docstrings(things) -> None:
    docs = {doc.name: doc for doc in describe(things, "doubled")}
    assert docs["factor"].default == "2.0" and docs["factor"].type == "float > 0.0"
    assert docs["offset"].description == "Added after scaling."


def test_type_text_spells_tuples_as_a_reader_writes_them() -> None:
    assert type_text(tuple[int, int, int]) == "3 x int"
    assert type_text(tuple[int, ...]) == "list of int"
    assert type_text(str | tuple[str, dict[str, float]]) == "str or [str, mapping str -> float]"
