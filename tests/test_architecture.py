"""The folders are the architecture: every import runs down ``minidock.LAYERS``, and no module cycles.

Every ``import`` and ``from ... import`` of every module is read with ``ast``: those at the top,
inside functions and under ``if TYPE_CHECKING:`` alike.  ``from . import x`` is an import of
module ``x`` when ``x`` is a module, else of the package itself.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from minidock import FLAT, LAYERS

PACKAGE = Path(__file__).resolve().parent.parent / "minidock"
ROOT = ("minidock", "minidock.__main__")   # the package itself: `minidock.from_env` and `python -m minidock`


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(name: str, source: str, modules=MODULES) -> set[str]:
    """The minidock modules that the module ``name`` (with ``source``) imports, anywhere in it."""
    package = name if MODULES.get(name, Path()).name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            for alias in node.names:
                found.add(f"{origin}.{alias.name}" if f"{origin}.{alias.name}" in modules else origin)
    return {m for m in found if m == "minidock" or m.startswith("minidock.")}


def layer_of(module: str) -> str:
    """``minidock.images.store`` -> ``images``; the flat modules are their own layer."""
    return "<root>" if module in ROOT else module.split(".")[1]


def allowed(importer: str, imported: str) -> bool:
    """Whether module ``importer`` may import module ``imported`` by the table."""
    if layer_of(imported) in FLAT:
        return True
    if layer_of(importer) in FLAT:
        return False           # the flat modules use only one another
    if importer in ROOT:
        return layer_of(imported) in ("api", "cli") or imported == "minidock"
    if imported == "minidock":
        return True            # the parent package, loaded first anyway: __version__ and the table
    mine = layer_of(importer)
    return layer_of(imported) == mine or layer_of(imported) in LAYERS[mine]


def violations(graph: dict[str, set[str]]) -> list[str]:
    return sorted(f"{a} imports {b}" for a, targets in graph.items() for b in targets if not allowed(a, b))


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), or a module importing itself."""
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph.get(v, ()):
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


GRAPH = {name: imports_of(name, path.read_text()) for name, path in MODULES.items()}


def test_every_package_of_the_table_exists_with_a_docstring_that_says_what_it_may_use():
    for package in LAYERS:
        init = PACKAGE / package / "__init__.py"
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        assert "May use" in doc, f"{init} must say what the package may use"
    flat = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem not in ("__init__", "__main__"))
    assert flat == sorted(FLAT), "only the flat modules of minidock.FLAT stay beside __init__.py"


def test_every_import_runs_down_the_table():
    assert violations(GRAPH) == []


def test_no_module_imports_itself_round_a_cycle():
    assert cycles(GRAPH) == []


# The docker-py-shaped public calls keep docker-py's keyword arguments (the API maps them into
# Config/HostConfig/ExecConfig in one place); every other function takes at most 7 besides self.
DOCKER_PY_SHAPED = {"minidock.api.containers.Container.exec_run"}
MOST_PARAMETERS = 7


def wide_functions(name: str, source: str) -> list[str]:
    """``module.[Class.]function (N)`` for each function of ``source`` with more than 7 parameters besides self."""
    found = []

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                args = child.args
                names = [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs]
                count = len(names) - (names[:1] in (["self"], ["cls"]))
                if count > MOST_PARAMETERS and f"{name}.{prefix}{child.name}" not in DOCKER_PY_SHAPED:
                    found.append(f"{name}.{prefix}{child.name} ({count})")
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)
    visit(ast.parse(source), "")
    return found


def test_no_function_takes_more_than_seven_parameters():
    wide = [f for name, path in MODULES.items() for f in wide_functions(name, path.read_text())]
    assert wide == []


def test_a_wide_function_is_caught():
    source = "class Engine:\n    def create(self, a, b, c, d, e, f, g, *, h=1):\n        pass\n"
    assert wide_functions("minidock.containers.container", source) == ["minidock.containers.container.Engine.create (8)"]
    assert wide_functions("minidock.x", "def f(a, b, c, d, e, f, g): pass") == []


@pytest.mark.parametrize("module, source", [
    ("minidock.runtime.shim", "from ..containers.container import Containers"),     # upward, at the top
    ("minidock.images.store", "def f():\n    from ..api import client"),             # upward, in a function
    ("minidock.api.images", "TYPE_CHECKING = False\nif TYPE_CHECKING:\n    from ..cli import base"),
    ("minidock.errors", "from .images import digest"),                               # a flat module reaching up
])
def test_an_upward_import_is_caught_wherever_it_hides(module, source):
    graph = {**GRAPH, module: GRAPH[module] | imports_of(module, source)}
    assert violations(graph), f"{source!r} in {module} should break the table"


def test_a_cycle_is_caught():
    graph = {**GRAPH, "minidock.images.digest": GRAPH["minidock.images.digest"] | {"minidock.images.store"}}
    assert ["minidock.images.digest", "minidock.images.store"] in cycles(graph)
