"""The layering of docs/architecture.md, read from the source: a package imports only the
layers below it, nothing imports in a circle, and no project module is loaded by name."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Lower imports nothing higher; equal ranks are separate layers that must not import each other.
RANKS = {
    "harness": 0,  # terms, errors, files, lifetime (the root modules) and the package itself
    "harness._native": 0,
    "harness.config": 1,
    "harness.cpu": 2,
    "harness.data": 2,
    "harness.models": 3,
    "harness.engine": 4,
    "harness.results": 5,
    "harness.loadgen": 6,
    "harness.report": 7,
    "harness.cli": 8,
    "harness.__main__": 9,  # `python -m harness`, above the cli it starts
    "audit": 9,
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    return {module_name(p): p for top in ("harness", "audit") for p in sorted((ROOT / top).rglob("*.py"))}


def layer(module: str) -> str:
    """The package of RANKS a module belongs to (the longest matching prefix)."""
    return max((name for name in RANKS if module == name or module.startswith(name + ".")), key=len)


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules `path` imports, anywhere in the file (function bodies included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from harness.results import stats` imports the module harness.results.stats
            names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                     for a in node.names]
        found |= {name for name in names if name.split(".")[0] in ("harness", "audit")}
    return found


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {name: imports_of(path, modules) for name, path in modules.items()}


def rank_violations(graph: dict[str, set[str]]) -> list[str]:
    bad = []
    for importer, imported in graph.items():
        for target in imported:
            a, b = layer(importer), layer(target)
            if a != b and RANKS[b] >= RANKS[a]:
                bad.append(f"{importer} ({a}, rank {RANKS[a]}) imports {target} ({b}, rank {RANKS[b]})")
    return sorted(bad)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import cycle found by depth-first search (each reported once per entry point)."""
    found, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if nxt not in graph:
                continue
            if state.get(nxt) == "open":
                found.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def test_every_package_imports_only_layers_below_it():
    assert rank_violations(import_graph()) == []


def test_no_module_imports_in_a_circle():
    assert cycles(import_graph()) == []


def test_harness_never_imports_audit():
    graph = import_graph()
    assert [m for m, imported in graph.items() if m.startswith("harness")
            and any(t.split(".")[0] == "audit" for t in imported)] == []


def loaded_by_name(path: Path) -> list[str]:
    """The project modules `path` hands to importlib or __import__ as a string literal."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            name = str(node.args[0].value)
            if func in ("import_module", "__import__") and name.split(".")[0] in ("harness", "audit"):
                found.append(name)
    return found


def test_no_project_module_is_loaded_by_name():
    assert {name: loaded_by_name(path) for name, path in project_modules().items() if loaded_by_name(path)} == {}


def test_every_module_belongs_to_a_layer():
    assert all(layer(m) in RANKS for m in project_modules())
    assert {layer(m) for m in project_modules()} == set(RANKS)  # no layer in the table is stale


# ---------------------------------------------------------------- the checks themselves

def test_an_upward_import_and_a_cycle_are_caught():
    graph = {"harness.config.runconfig": {"harness.cpu.sysinfo"},  # config reaching up into cpu
             "harness.cpu.sysinfo": {"harness.config.runconfig"}}
    assert rank_violations(graph) == [
        "harness.config.runconfig (harness.config, rank 1) imports harness.cpu.sysinfo (harness.cpu, rank 2)"]
    assert cycles(graph) == [["harness.config.runconfig", "harness.cpu.sysinfo", "harness.config.runconfig"]]
    peers = {"harness.cpu.topology": {"harness.data.cache"}}  # same rank, different layers
    assert len(rank_violations(peers)) == 1


def test_a_module_loaded_by_name_is_caught(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("import importlib\nimportlib.import_module('harness.cli.sweep')\n__import__('json')\n")
    assert loaded_by_name(source) == ["harness.cli.sweep"]
