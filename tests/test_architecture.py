"""Issue 26: the house keeps standing. The import graph of the three packages, read from
the source (imports at any depth), has no cycle and no forbidden arrow, and every module
and function stays within the sizes of ``../shared/STYLE.md``.

The stages of ``platform/`` form a chain of responsibility: ``sweep`` drives ``tune``,
which runs ``trial``; a trial trains and calls ``postprocessing``, ``evaluation``,
``inference``; everything logs through ``tracking`` and reads settings from ``config``;
``report`` turns finished runs into tables and figures. Entry points (the modules at the
top of ``platform/`` and every ``__main__``) compose stages and are not stages themselves.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("platform", "models", "data_pipeline")
STAGES = ("config", "sweep", "tune", "trial", "inference", "evaluation", "postprocessing",
          "tracking", "report")

LEGACY_ALIASES = {
    "platform.tracking.model_flavor": "portable models logged before issue 26 store an entry "
    "file that imports LesionSegmentationModel from this path; nothing in the packages "
    "imports it",
}
"""Modules kept only so that stored files still import; left out of the stage rules."""

SHIM = "platform._stdlib"
"""The standard-module shim reads its own package in one function (``platform.__init__``
imports it): the one module cycle there is, by design (see ``../shared/STYLE.md``)."""

THIRD_PARTY_HOMES = {
    "mlflow": ("platform.tracking",),
    "ray": ("platform.tune",),
    "pydicom": ("data_pipeline.io",),
    "highdicom": ("data_pipeline.io",),
}
"""Third-party libraries behind one adapter each: only these packages import them."""

FORBIDDEN_STAGE_ARROWS = {
    "report": {"trial", "tune", "sweep"},
    "tracking": {"trial", "tune", "sweep", "inference", "evaluation", "postprocessing",
                 "report"},
    "config": set(STAGES) - {"config"},
}
"""Arrows that would turn the flow around: ``report`` reads finished runs only, tracking
never imports the trial layer (and never draws), config is read by every stage."""

MAX_MODULE_LINES, MAX_FUNCTION_LINES, MAX_PARAMETERS = 400, 60, 8


@dataclass(frozen=True)
class Import:
    """One ``import`` statement of a project module: who, what, where, how deep."""

    source: str
    target: str
    line: int
    in_function: bool
    type_checking: bool
    commented: bool


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for package in PACKAGES for p in (ROOT / package).rglob("*.py")}


def _resolve(name: str) -> str | None:
    """The project module ``name`` refers to (a module, or a name inside one)."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in MODULES:
            return candidate
    return None


def _imported_names(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        anchor = module.split(".") if is_package else module.split(".")[:-1]
        anchor = anchor[: len(anchor) - node.level + 1]
        base = ".".join([*anchor, *([node.module] if node.module else [])])
    return [base, *(f"{base}.{alias.name}" for alias in node.names)]


def _imports(module: str, path: Path) -> Iterator[tuple[ast.AST, list[str], bool, bool, bool]]:
    source = path.read_text()
    lines = source.split("\n")
    tree = ast.parse(source)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        in_function = type_checking = False
        ancestor: ast.AST = node
        while ancestor in parents:
            ancestor = parents[ancestor]
            if isinstance(ancestor, (ast.FunctionDef, ast.AsyncFunctionDef)):
                in_function = True
            if isinstance(ancestor, ast.If) and "TYPE_CHECKING" in ast.unparse(ancestor.test):
                type_checking = True
        around = lines[max(0, node.lineno - 4):node.end_lineno or node.lineno]
        commented = any("#" in line for line in around)
        names = _imported_names(node, module, path.name == "__init__.py")
        yield node, names, in_function, type_checking, commented


def _project_imports() -> list[Import]:
    found = []
    for module, path in MODULES.items():
        for node, names, in_function, type_checking, commented in _imports(module, path):
            targets = {_resolve(name) for name in names} - {None, module}
            found += [Import(module, target, node.lineno, in_function, type_checking, commented)
                      for target in sorted(t for t in targets if t)]
    return found


IMPORTS = _project_imports()


def _where(item: Import) -> str:
    return f"{MODULES[item.source].relative_to(ROOT)}:{item.line} imports {item.target}"


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def _stage(module: str) -> str | None:
    """The stage package of a ``platform`` module; None for entry points and aliases."""
    parts = module.split(".")
    if parts[0] != "platform" or len(parts) < 2 or parts[1] not in STAGES:
        return None
    return None if parts[-1] == "__main__" or module in LEGACY_ALIASES else parts[1]


def test_the_graph_is_read_from_the_source() -> None:
    """The rules below see real arrows (a graph read wrongly would pass them all)."""
    arrows = {(i.source, i.target) for i in IMPORTS}
    assert ("platform.sweep.run", "platform.tune.tuner") in arrows
    assert ("platform.tracking.model_flavor", "platform.trial.portable_model") in arrows
    assert any(i.in_function for i in IMPORTS) and len(MODULES) > 150


def test_no_cycle_between_modules() -> None:
    edges: dict[str, set[str]] = defaultdict(set)
    for item in IMPORTS:
        if item.source != SHIM and not item.type_checking:
            edges[item.source].add(item.target)
    assert _cycles(edges) == []


def test_no_cycle_between_the_stages_of_platform() -> None:
    edges: dict[str, set[str]] = defaultdict(set)
    why: dict[tuple[str, str], str] = {}
    for item in IMPORTS:
        source, target = _stage(item.source), _stage(item.target)
        if source and target and source != target and not item.type_checking:
            edges[source].add(target)
            why.setdefault((source, target), _where(item))
    cycles = _cycles(edges)
    assert not cycles, [(cycle, [why[(a, b)] for a in cycle for b in cycle if (a, b) in why])
                        for cycle in cycles]


def test_no_arrow_runs_back_up_the_flow() -> None:
    wrong = []
    for item in IMPORTS:
        source, target = item.source.split("."), item.target.split(".")
        if source[0] in ("models", "data_pipeline") and target[0] == "platform":
            wrong.append(f"{_where(item)}: {source[0]} never imports platform")
        if source[0] == "data_pipeline" and target[0] == "models":
            wrong.append(f"{_where(item)}: data_pipeline never imports models")
        stage, other = _stage(item.source), _stage(item.target)
        if stage and other in FORBIDDEN_STAGE_ARROWS.get(stage, ()) and not item.type_checking:
            wrong.append(f"{_where(item)}: {stage} never imports {other}")
    assert wrong == []


@pytest.mark.parametrize("library", sorted(THIRD_PARTY_HOMES))
def test_each_adapted_library_is_imported_by_its_adapter_only(library: str) -> None:
    homes = THIRD_PARTY_HOMES[library]
    wrong = []
    for module, path in MODULES.items():
        for node, names, _, type_checking, _ in _imports(module, path):
            top = {name.split(".")[0] for name in names if name}
            if library in top and not type_checking and not module.startswith(homes):
                wrong.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {library}")
    assert wrong == [], f"only {', '.join(homes)} may import {library}"


def test_tracking_never_draws() -> None:
    wrong = [f"{path.relative_to(ROOT)}:{node.lineno}"
             for module, path in MODULES.items() if module.startswith("platform.tracking")
             for node, names, _, type_checking, _ in _imports(module, path)
             if not type_checking and any(n.split(".")[0] == "matplotlib" for n in names)]
    assert wrong == []


def test_an_import_inside_a_function_says_why() -> None:
    """Imports sit at module level; one inside a function keeps a heavy dependency out of
    a command that does not need it, and a comment beside it says which."""
    silent = [_where(i) for i in IMPORTS if i.in_function and not i.commented]
    assert silent == []


def test_the_top_of_platform_holds_entry_points_and_the_shim_only() -> None:
    top = sorted(p for p in (ROOT / "platform").glob("*.py")
                 if p.name not in ("__init__.py", "_stdlib.py"))
    not_entries = [p.name for p in top if 'if __name__ == "__main__":' not in p.read_text()
                   or "main(" not in p.read_text()]
    assert top and not_entries == []
    assert {p.name for p in (ROOT / "platform").iterdir() if p.is_dir()} - {"__pycache__"} \
        == set(STAGES)


def test_modules_and_functions_stay_small() -> None:
    too_big = []
    for path in MODULES.values():
        source = path.read_text()
        where = path.relative_to(ROOT)
        if source.count("\n") > MAX_MODULE_LINES:
            too_big.append(f"{where}: {source.count(chr(10))} lines")
        for node in ast.walk(ast.parse(source)):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            args = node.args
            names = [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)
                     if a.arg not in ("self", "cls")]
            count = len(names) + (args.vararg is not None) + (args.kwarg is not None)
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > MAX_FUNCTION_LINES or count > MAX_PARAMETERS:
                too_big.append(f"{where}:{node.lineno} {node.name}: {length} lines, "
                               f"{count} parameters")
    assert too_big == []


def test_every_module_has_a_test_file_at_its_mirrored_path() -> None:
    """``tests/`` mirrors the packages file for file (``../shared/STYLE.md``)."""
    missing = [f"{path.relative_to(ROOT)} -> tests/{path.parent.relative_to(ROOT)}/"
               f"test_{path.name}" for path in MODULES.values()
               if path.name != "__init__.py" and not (
                   ROOT / "tests" / path.parent.relative_to(ROOT) / f"test_{path.name}").exists()]
    assert missing == []
