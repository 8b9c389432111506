"""Tests for data_pipeline/parts/registry.py: parts, their params models, errors and plugins."""

from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import pytest
from pydantic import BaseModel, Field, ValidationError

from data_pipeline.parts import (
    PLUGIN_GROUP,
    DuplicateNameError,
    NoParams,
    Params,
    ParamsError,
    Part,
    PartOf,
    PartSpec,
    PluginError,
    Registry,
    UnknownNameError,
    describe,
    did_you_mean,
    load_plugins,
    registry,
)


class ScaleParams(Params):
    factor: Annotated[float, Field(gt=0.0)] = 1.0
    """How much to scale."""
    offset: int = 0
    """Added after scaling."""


@pytest.fixture(scope="module")
def things() -> Registry[float]:
    parts: Registry[float] = Registry("test_thing", "builder(params, *, x) -> float")

    @parts.register("doubled", params=ScaleParams, defaults={"factor": 2.0})
    @parts.register("scaled", params=ScaleParams)
    def scaled(params: ScaleParams, *, x: float) -> float:
        """Scale x."""
        return params.factor * x + params.offset

    @parts.register("fixed", params=NoParams)
    def fixed(params: NoParams, *, x: float) -> float:
        del params
        return x

    return parts


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
    with pytest.raises(DuplicateNameError, match="'scaled' is already registered"):
        things.register("scaled", params=ScaleParams)(lambda params, *, x: x)
    with pytest.raises(TypeError, match="Params subclass"):
        things.register("loose", params=dict)  # type: ignore[arg-type] # the error on purpose
    with pytest.raises(ValidationError):  # a variant's defaults are checked at registration
        things.register("broken", params=ScaleParams, defaults={"factor": -1.0})
    with pytest.raises(DuplicateNameError, match="exists already"):
        Registry("test_thing", "again")
    with pytest.raises(ValueError, match="cannot build"):
        Registry("other_thing", "x").create(things.spec("scaled"))


def test_describe_reads_types_defaults_and_field_docstrings(things) -> None:
    docs = {doc.name: doc for doc in describe(things, "doubled")}
    assert docs["factor"].default == "2.0" and docs["factor"].type == "float > 0.0"
    assert docs["offset"].description == "Added after scaling."


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


def test_did_you_mean_knows_synonyms_and_typos() -> None:
    assert did_you_mean("learning_rate", ["lr", "weight_decay"]) == "lr"
    assert did_you_mean("weight_decy", ["lr", "weight_decay"]) == "weight_decay"
    assert did_you_mean("zzz", ["lr"]) is None
    assert did_you_mean(3, ["lr"]) is None


def test_a_spec_of_one_kind_is_refused_by_another(things) -> None:
    class Other(BaseModel):
        thing: Part("preprocessing step", "minmax", home="data_pipeline.preprocess")

    with pytest.raises(ValidationError, match="expected a preprocessing step"):
        Other(thing=things.spec("scaled"))
    assert isinstance(Other().thing, PartSpec)


def _install_plugin(root: Path, package: str, module_source: str, value: str) -> None:
    """Write a package and its dist-info, as `pip install` would, under ``root``."""
    (root / package).mkdir()
    (root / package / "__init__.py").write_text(textwrap.dedent(module_source))
    dist_info = root / f"{package}-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text(f"[{PLUGIN_GROUP}]\n{package} = {value}\n")


@pytest.fixture
def plugin_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [n for n in sys.modules if n.startswith("labplugin")]:
        del sys.modules[name]
    importlib.invalidate_caches()


def test_entry_point_plugin_registers_its_part(things, plugin_path: Path) -> None:
    source = """
        from data_pipeline.parts import NoParams, registry

        def register() -> None:
            parts = registry("test_thing")
            parts.register("labplugin_half", params=NoParams)(lambda params, *, x: x / 2)
    """
    _install_plugin(plugin_path, "labplugin_ok", source, "labplugin_ok:register")
    try:
        assert load_plugins() == ["labplugin_ok"]
        assert load_plugins() == [], "a loaded plugin must not be loaded twice"
        assert things.create(things.spec("labplugin_half"), x=3.0) == 1.5
    finally:
        things.unregister("labplugin_half")


def test_broken_plugin_is_named(plugin_path: Path) -> None:
    _install_plugin(plugin_path, "labplugin_bad", "raise RuntimeError('boom')\n", "labplugin_bad")
    with pytest.raises(PluginError, match=r"Plugin 'labplugin_bad' .*RuntimeError: boom") as caught:
        load_plugins()
    assert isinstance(caught.value.__cause__, RuntimeError)


def test_plugin_taking_a_project_name_fails_clearly(plugin_path: Path) -> None:
    source = """
        import models
        from data_pipeline.parts import NoParams, registry
        registry("loss").register("dice", params=NoParams)(lambda params, **_: None)
    """
    _install_plugin(plugin_path, "labplugin_dup", source, "labplugin_dup")
    with pytest.raises(PluginError, match="'labplugin_dup'.*DuplicateNameError.*'dice'"):
        load_plugins()
