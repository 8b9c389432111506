"""Tests for data_pipeline/parts/registry.py: named parts, variants, specs and their errors."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from data_pipeline.parts import (
    DuplicateNameError,
    ParamsError,
    Registry,
    UnknownNameError,
)
from data_pipeline.parts.registry import registry


def test_a_variant_is_the_builder_with_other_defaults_and_given_values_win(things) -> None:
    assert things.create(things.spec("scaled"), x=3.0) == 3.0
    assert things.create(things.spec("doubled"), x=3.0) == 6.0
    assert things.create(things.spec("doubled", {"factor": 3, "offset": 1}), x=3.0) == 10.0
    assert things.names() == ["doubled", "fixed", "scaled"]
    assert registry("test_thing") is things


def test_a_spec_dumps_to_its_yaml_form_and_shows_what_differs(things) -> None:
    spec = things.spec("doubled", {"offset": 4})
    assert spec.dump() == {"name": "doubled", "factor": 2.0, "offset": 4}
    assert str(spec) == "doubled(offset=4)"
    assert str(things.spec("doubled")) == "doubled"


def test_unknown_name_lists_names_and_suggests(things) -> None:
    with pytest.raises(UnknownNameError) as caught:
        things.spec("dubled")
    assert isinstance(caught.value, KeyError)
    text = str(caught.value)
    assert not text.startswith(("'", '"')), "KeyError must not wrap the message in quotes"
    assert "Did you mean 'doubled'" in text and "doubled, fixed, scaled" in text


def test_unknown_or_bad_parameter_names_the_part_and_its_parameters(things) -> None:
    with pytest.raises(ParamsError) as caught:
        things.spec("doubled", {"factr": 3.0, "offset": "x"})
    text = str(caught.value)
    assert "test_thing 'doubled'" in text
    assert "unknown parameter 'factr'; did you mean 'factor'?" in text
    assert "offset: input should be a valid integer" in text
    assert caught.value.accepted == ("factor=2.0", "offset=0")  # the variant's defaults
    with pytest.raises(ParamsError, match="takes no parameters"):
        things.spec("fixed", {"factor": 1})


def test_registration_errors(things) -> None:
    scale_params = things.entry("scaled").params
    with pytest.raises(DuplicateNameError, match="'scaled' is already registered"):
        things.register("scaled", params=scale_params)(lambda params, *, x: x)
    with pytest.raises(TypeError, match="Params subclass"):
        things.register("loose", params=dict)  # type: ignore[arg-type] # the error on purpose
    with pytest.raises(ValidationError):  # a variant's defaults are checked at registration
        things.register("broken", params=scale_params, defaults={"factor": -1.0})
    with pytest.raises(DuplicateNameError, match="exists already"):
        Registry("test_thing", "again")
    with pytest.raises(ValueError, match="cannot build"):
        Registry("other_thing", "x").create(things.spec("scaled"))
