"""Tests for data_pipeline/parts/fields.py: config fields that hold a part."""

from __future__ import annotations

from typing import Annotated

import pytest
from pydantic import BaseModel, ValidationError

from data_pipeline.parts import Part, PartOf, PartSpec


class Holder(BaseModel):
    thing: Part("test_thing", "scaled")
    things: tuple[Annotated[PartSpec, PartOf("test_thing")], ...] = ()


@pytest.mark.parametrize(
    ("written", "name", "factor"),
    [
        ("doubled", "doubled", 2.0),
        ({"name": "doubled", "factor": 5}, "doubled", 5.0),
        ({"doubled": {"factor": 5}}, "doubled", 5.0),
        ({"doubled": None}, "doubled", 2.0),
        ({"name": "doubled", "params": {"factor": 5}}, "doubled", 5.0),
        ({"factor": 7}, "scaled", 7.0),
    ],
)
def test_part_fields_read_every_yaml_spelling(things, written, name, factor) -> None:
    spec = Holder.model_validate({"thing": written}).thing
    assert (spec.name, spec.params.factor) == (name, factor)


def test_part_fields_default_round_trip_and_locate_errors(things) -> None:
    holder = Holder()
    assert holder.thing == things.spec("scaled")
    dumped = Holder(thing=things.spec("doubled", {"offset": 2})).model_dump(mode="json")
    assert dumped == {"thing": {"name": "doubled", "factor": 2.0, "offset": 2}, "things": []}
    assert Holder.model_validate(dumped).thing == things.spec("doubled", {"offset": 2})
    with pytest.raises(ValidationError) as caught:
        Holder.model_validate({"thing": {"name": "scaled", "ofset": 1}, "things": ["nope"]})
    locations = {error["loc"] for error in caught.value.errors()}
    assert locations == {("thing", "ofset"), ("things", 0)}


def test_a_spec_of_one_kind_is_refused_by_another(things) -> None:
    class Other(BaseModel):
        thing: Part("preprocessing step", "minmax", home="data_pipeline.preprocess")

    with pytest.raises(ValidationError, match="expected a preprocessing step"):
        Other(thing=things.spec("scaled"))
    assert isinstance(Other().thing, PartSpec)
