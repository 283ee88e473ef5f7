"""The package's structure (docs/architecture.md): no import cycles, imports run one way.

Every import of an ``ipdmeta`` module is read from the source, at module level and
inside functions (only ``if TYPE_CHECKING:`` blocks are skipped), so a cycle
hidden behind a function-level import is found too.  The one allowed exception:
a function-level import of ``ipdmeta.plots`` or ``ipdmeta.report`` (a result
method such as ``MetaResult.forest()`` delegating to its drawing).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "ipdmeta"
#: function-level imports of these rooms are delegations of result methods
DELEGATION_ROOMS = ("ipdmeta.plots", "ipdmeta.report")
#: room -> rooms it must never import (module or function level): the one-way flow
FORBIDDEN = {
    "ipdmeta.models": ("ipdmeta.stage1", "ipdmeta.pooling", "ipdmeta.analysis",
                       "ipdmeta.plots", "ipdmeta.report", "ipdmeta.stata", "ipdmeta.cli"),
    "ipdmeta.effects": ("ipdmeta.stage1", "ipdmeta.pooling", "ipdmeta.analysis",
                        "ipdmeta.plots", "ipdmeta.report", "ipdmeta.stata", "ipdmeta.cli"),
    "ipdmeta.pooling": ("ipdmeta.stage1", "ipdmeta.onestage", "ipdmeta.analysis",
                        "ipdmeta.stata", "ipdmeta.cli"),
    "ipdmeta.stage1": ("ipdmeta.analysis", "ipdmeta.stata", "ipdmeta.cli",
                       "ipdmeta.plots", "ipdmeta.report"),
    "ipdmeta.onestage": ("ipdmeta.analysis", "ipdmeta.stata", "ipdmeta.cli"),
    "ipdmeta.plots": ("ipdmeta.pooling", "ipdmeta.stage1", "ipdmeta.onestage",
                      "ipdmeta.analysis", "ipdmeta.stata", "ipdmeta.cli", "ipdmeta.models"),
    "ipdmeta.report": ("ipdmeta.pooling", "ipdmeta.stage1", "ipdmeta.analysis",
                       "ipdmeta.stata", "ipdmeta.cli", "ipdmeta.models"),
    "ipdmeta.io": ("ipdmeta.stage1", "ipdmeta.pooling", "ipdmeta.analysis", "ipdmeta.plots",
                   "ipdmeta.report", "ipdmeta.stata", "ipdmeta.cli", "ipdmeta.models"),
    "ipdmeta.stata": ("ipdmeta.cli",),
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, module: str, is_package: bool):
    """(target module, function-level?) of every ipdmeta import, TYPE_CHECKING skipped."""
    def visit(node: ast.AST, in_function: bool):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for other in child.orelse:
                    yield from visit(other, in_function)
                continue
            inner = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef
                                                     | ast.Lambda)
            if isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name.startswith("ipdmeta"):
                        yield alias.name, inner
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = module.split(".")
                    anchor = anchor if is_package else anchor[:-1]
                    anchor = anchor[: len(anchor) - (child.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                if not base.startswith("ipdmeta"):
                    continue
                for alias in child.names:
                    sub = f"{base}.{alias.name}"
                    yield (sub if sub in MODULES else base), inner
            else:
                yield from visit(child, inner)
    yield from visit(tree, False)


def _graph(include_delegations: bool = False) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for mod, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for target, in_function in _imports(tree, mod, path.name == "__init__.py"):
            if in_function and target.startswith(DELEGATION_ROOMS) and not include_delegations:
                continue
            targets = [target]
            # importing a.b.c runs the __init__ of a.b first (the root package excepted,
            # and the packages that hold the importing module: they are already running)
            parts = target.split(".")
            targets += [p for i in range(2, len(parts))
                        if not (mod + ".").startswith((p := ".".join(parts[:i])) + ".")]
            for t in targets:
                if t in MODULES and t != mod and t != "ipdmeta":
                    graph[mod].add(t)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    sys.setrecursionlimit(10_000)

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def test_the_graph_sees_function_level_imports() -> None:
    """The checker itself: a lazy import inside a function is an edge."""
    tree = ast.parse("def f():\n    from ipdmeta.stage1.run import stage1\n")
    assert list(_imports(tree, "ipdmeta.x", False)) == [("ipdmeta.stage1.run", True)]
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"]]


def test_no_import_cycles() -> None:
    cycles = _cycles(_graph())
    assert not cycles, f"import cycles: {cycles}"


@pytest.mark.parametrize("room", sorted(FORBIDDEN))
def test_imports_run_one_way(room: str) -> None:
    graph = _graph(include_delegations=True)
    bad = sorted((m, t) for m, targets in graph.items() if m.startswith(room)
                 for t in targets if t.startswith(FORBIDDEN[room]))
    assert not bad, f"{room} imports a room it must not: {bad}"


def test_no_submodule_imports_the_package_back() -> None:
    """``from ipdmeta import X`` inside the package is allowed only for submodules."""
    offenders = []
    for mod, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "ipdmeta" and not node.level:
                offenders += [f"{mod}: {a.name}" for a in node.names
                              if f"ipdmeta.{a.name}" not in MODULES]
    assert not offenders


def test_import_ipdmeta_in_a_fresh_interpreter() -> None:
    code = ("import sys, ipdmeta; "
            "print(sorted(m for m in sys.modules if m.startswith('ipdmeta.cli')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.strip() == "[]"   # the library does not load the command line


def test_modules_stay_small() -> None:
    """Modules under ~600 lines (the style rule; a file over it is split by job)."""
    big = {m: n for m, p in MODULES.items()
           if (n := len(p.read_text(encoding="utf-8").splitlines())) > 650}
    assert not big, f"modules over 650 lines: {big}"


def test_docstring_cross_references_resolve() -> None:
    """Every ``:mod:``/``:func:``/``:class:``/``:meth:`` reference to ipdmeta names an object
    that exists (so moved code leaves no stale pointers)."""
    import importlib
    import re

    refs = set()
    for path in MODULES.values():
        refs |= set(re.findall(r":(?:mod|func|class|meth|data):`~?(ipdmeta[\w.]*)`",
                               path.read_text(encoding="utf-8")))
    missing = []
    for ref in sorted(refs):
        parts = ref.split(".")
        for i in range(len(parts), 0, -1):
            try:
                obj = importlib.import_module(".".join(parts[:i]))
            except ImportError:
                continue
            for attr in parts[i:]:
                obj = getattr(obj, attr, None)
            if obj is None:
                missing.append(ref)
            break
    assert refs and not missing, f"stale references: {missing}"
