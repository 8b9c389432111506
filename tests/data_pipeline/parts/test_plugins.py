"""Tests for data_pipeline/parts/plugins.py: parts from other packages, by entry point."""

from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from data_pipeline.parts import PLUGIN_GROUP, PluginError, load_plugins


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
        from data_pipeline.parts import NoParams
        from data_pipeline.parts.registry import registry

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
        from data_pipeline.parts import NoParams
        from data_pipeline.parts.registry import registry
        registry("loss").register("dice", params=NoParams)(lambda params, **_: None)
    """
    _install_plugin(plugin_path, "labplugin_dup", source, "labplugin_dup")
    with pytest.raises(PluginError, match="'labplugin_dup'.*DuplicateNameError.*'dice'"):
        load_plugins()
