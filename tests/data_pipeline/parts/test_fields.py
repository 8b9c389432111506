"""Tests for data_pipeline/parts/fields.py: config fields that hold a part."""

from __future__ import annotations

from typing import Annotated

import pytest
from pydantic import BaseModel, ValidationError

from data_pipeline.parts import Part, PartOf, PartSpec
from data_pipeline.parts.fields import switch_part
from models.registry import MODELS


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


def test_switching_parts_keeps_only_the_parameters_declared_alike() -> None:
    """Issue 24: the U-Net's ``norm`` (our norm part) is not SegResNet's (a MONAI layer
    spec); kept, it would silently replace MONAI's group norm."""
    written = {"name": "unet3d", "base_width": 8, "norm": "instance", "residual": True}
    assert switch_part(written, "unet3d_residual_se", None, MODELS) == {
        "name": "unet3d_residual_se", "base_width": 8, "norm": "instance"}
    assert switch_part(written, "monai_segresnet", None, MODELS) == {"name": "monai_segresnet"}
    switched = switch_part({"name": "monai_segresnet", "norm": "batch"}, "monai_basicunet",
                           None, MODELS)
    assert switched == {"name": "monai_basicunet", "norm": "batch"}  # both MONAI layer specs
