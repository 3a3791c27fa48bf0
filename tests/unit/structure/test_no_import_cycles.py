"""No import cycle among the modules of ``probe`` and ``extract``, counting imports inside
functions too (those hide a cycle from Python's import machinery, not from a reader)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.torch_free

ROOT = Path(__file__).resolve().parents[3]
PACKAGES = ("probe", "extract")


def module_files() -> dict[str, Path]:
    files = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            files[name] = path
    return files


def import_graph() -> dict[str, set[str]]:
    """module -> the project modules it imports (``from a import b``: ``a.b`` if a module)."""
    files = module_files()
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [
                    f"{node.module}.{alias.name}"
                    if f"{node.module}.{alias.name}" in files
                    else node.module
                    for alias in node.names
                ]
            graph[name].update(t for t in targets if t in files and t != name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_scan_sees_the_packages():
    graph = import_graph()
    assert "probe.sweep" in graph["probe.commands.probe"]
    assert len(graph) > 40


def test_no_import_cycle():
    assert cycles(import_graph()) == []


FRESH_IMPORTS = """
import importlib, sys
for name in sys.argv[1:]:
    for loaded in [m for m in sys.modules if m.split(".")[0] in ("probe", "extract")]:
        del sys.modules[loaded]
    importlib.import_module(name)
"""


def test_each_probe_module_imports_first():
    """Every module imported with no project module loaded before it: an import that only
    works in some order (the symptom of a cycle) fails here."""
    names = [name for name in module_files() if name.startswith("probe")]
    completed = subprocess.run(
        [sys.executable, "-c", FRESH_IMPORTS, *names], capture_output=True, text=True, cwd=ROOT
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
