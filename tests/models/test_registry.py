"""Tests for models/registry.py: names, variants, errors and plugins."""

from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

import models
from models.registry import (
    KINDS,
    PLUGIN_GROUP,
    DuplicateNameError,
    PluginError,
    Registry,
    UnknownNameError,
    get_registry,
    list_names,
    load_plugins,
)


def test_variant_defaults_apply_and_caller_kwargs_win() -> None:
    registry = Registry("thing")

    @registry.register("pair_ab", defaults={"a": 10, "b": 20})
    @registry.register("pair")
    def pair(a: int = 1, b: int = 2) -> tuple[int, int]:
        return a, b

    assert registry.build("pair") == (1, 2)
    assert registry.build("pair_ab") == (10, 20)
    assert registry.build("pair_ab", b=3) == (10, 3)
    assert registry.get("pair_ab") is pair
    assert registry.names() == ["pair", "pair_ab"]
    assert "pair" in registry and "nope" not in registry


def test_duplicate_name_raises_and_keeps_the_first() -> None:
    registry = Registry("thing")
    registry.register("x")(lambda: 1)
    with pytest.raises(DuplicateNameError, match="'x' is already registered"):
        registry.register("x")(lambda: 2)
    assert registry.build("x") == 1


def test_unknown_name_lists_known_names_and_suggests() -> None:
    with pytest.raises(UnknownNameError) as caught:
        models.build_loss("bce_dise")
    error = caught.value
    assert isinstance(error, KeyError)
    assert error.suggestions[0] == "bce_dice"
    text = str(error)
    assert not text.startswith(("'", '"')), "KeyError must not wrap the message in quotes"
    assert "Did you mean 'bce_dice'" in text
    assert "Known loss names: bce_dice, dice, focal, weighted_bce_dice." in text


def test_unknown_name_without_close_match_still_lists_names() -> None:
    with pytest.raises(UnknownNameError, match="Known optimizer names: adam") as caught:
        models.build_optimizer("zzzzzz", [torch.zeros(1, requires_grad=True)])
    assert caught.value.suggestions == []
    assert "Did you mean" not in str(caught.value)


def test_unknown_kind_lists_kinds() -> None:
    with pytest.raises(UnknownNameError, match="Did you mean 'model'") as caught:
        list_names("models")
    assert caught.value.known == sorted(KINDS)


def test_every_kind_has_a_registry_with_names() -> None:
    for kind in KINDS:
        assert get_registry(kind).kind == kind
        assert list_names(kind), f"no {kind} registered"


def test_lab_registers_a_loss_with_the_decorator() -> None:
    registry = get_registry("loss")

    @registry.register("lab_l1", defaults={"scale": 2.0})
    def lab_l1(
        *, scale: float = 1.0, class_counts: tuple[int, int] | None = None
    ) -> torch.nn.Module:
        del class_counts

        class L1(torch.nn.Module):
            def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
                return scale * (torch.sigmoid(logits) - target).abs().mean()

        return L1()

    try:
        loss = models.build_loss("lab_l1")
        assert float(loss(torch.zeros(1, 1, 2, 2, 2), torch.ones(1, 1, 2, 2, 2))) == 1.0
        assert "lab_l1" in list_names("loss")
    finally:
        registry.unregister("lab_l1")
    assert "lab_l1" not in registry


def test_builder_returning_the_wrong_type_is_named() -> None:
    registry = get_registry("model")
    registry.register("not_a_module")(lambda: "oops")
    try:
        with pytest.raises(TypeError, match="'not_a_module' returned str"):
            models.build_model("not_a_module")
    finally:
        registry.unregister("not_a_module")


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


def test_entry_point_plugin_registers_its_part(plugin_path: Path) -> None:
    source = """
        from torch import nn
        from models.registry import get_registry

        def register() -> None:
            get_registry("activation").register("labplugin_gelu")(lambda: nn.GELU())
    """
    _install_plugin(plugin_path, "labplugin_ok", source, "labplugin_ok:register")
    try:
        assert load_plugins() == ["labplugin_ok"]
        assert load_plugins() == [], "a loaded plugin must not be loaded twice"
        net = models.build_model("unet3d", base_width=2, depth=1, activation="labplugin_gelu")
        assert any(isinstance(m, torch.nn.GELU) for m in net.modules())
    finally:
        get_registry("activation").unregister("labplugin_gelu")


def test_broken_plugin_is_named(plugin_path: Path) -> None:
    _install_plugin(plugin_path, "labplugin_bad", "raise RuntimeError('boom')\n", "labplugin_bad")
    with pytest.raises(PluginError, match=r"Plugin 'labplugin_bad' .*RuntimeError: boom") as caught:
        load_plugins()
    assert isinstance(caught.value.__cause__, RuntimeError)


def test_plugin_taking_a_project_name_fails_clearly(plugin_path: Path) -> None:
    source = """
        from models.registry import get_registry
        get_registry("loss").register("dice")(lambda: None)
    """
    _install_plugin(plugin_path, "labplugin_dup", source, "labplugin_dup")
    with pytest.raises(PluginError, match="'labplugin_dup'.*DuplicateNameError.*'dice'"):
        load_plugins()
