"""The folders are the layers: imports point down only, and nothing imports in a circle.

Every import counts, also those inside functions: an import moved into a function to
dodge a circle is still a circle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

# Lower numbers are lower layers; a module may import its own layer or a lower one. The
# kernel (pipeline) sits below the configuration: it takes the configuration as an opaque
# value and its executor settings as plain values. The domain packages are ranked as
# they build on each other: images and models, then the probes on them, then what
# evaluates and explains models on probes, then the analysis, then the report.
LAYERS = {
    "errors": 0, "console": 0,
    "io": 1, "trust": 1,
    "pipeline": 2,
    "config": 3, "labels": 3,
    "data": 4, "models": 4,
    "probes": 5, "toyworld": 5,
    "evaluation": 6, "attribution": 6,
    "analysis": 7,
    "report": 8,
    "stages": 9,
    "run": 10, "api": 10, "demo": 10,
    "cli": 11, "__init__": 11, "__main__": 11,
}


def module_name(path: Path) -> str:
    name = ".".join(path.relative_to(SRC).with_suffix("").parts)
    return name.removesuffix(".__init__")


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """Every localglobal module ``path`` imports, wherever in the file."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name and not name.startswith(target + "."):
                found.add(target)
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    files = {module_name(f): f for f in SRC.rglob("*.py")}
    modules = set(files)
    return {name: imports_of(path, modules) for name, path in files.items()}


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's components with more than one member: the import circles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return circles


def layer_of(module: str) -> tuple[str, int]:
    top = module.split(".")[1] if "." in module else "__init__"
    return top, LAYERS[top]


def test_no_module_imports_in_a_circle(graph):
    assert strongly_connected(graph) == []


def test_no_package_imports_in_a_circle(graph):
    packages: dict[str, set[str]] = {}
    for module, targets in graph.items():
        top = layer_of(module)[0]
        packages.setdefault(top, set()).update(
            layer_of(t)[0] for t in targets if layer_of(t)[0] != top)
    assert strongly_connected(packages) == []


def test_every_module_belongs_to_a_layer(graph):
    unknown = sorted({layer_of(m)[0] for m in graph} - set(LAYERS))
    assert unknown == []


def test_imports_point_down(graph):
    upward = []
    for module, targets in graph.items():
        rank = layer_of(module)[1]
        for target in targets:
            other_rank = layer_of(target)[1]
            if other_rank > rank:
                upward.append(f"{module} -> {target}")
    assert upward == []


def test_the_circle_finder_finds_a_circle():
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [
        ["a", "b", "c"]]
