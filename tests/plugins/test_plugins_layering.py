"""Layering of ``gpi.plugins`` read from the source: imports point down, no cycles, no private names.

DESIGN.md: ``runtime -> plugins, replays -> ecs -> shm -> cython_ext``
(``draw`` beside ``ecs``); no two modules import each other and none
imports another's ``_private`` names. Imports under ``if TYPE_CHECKING:``
are annotations only and do not count; function-level imports do.
"""

from __future__ import annotations

import ast
from pathlib import Path

import gpi

ROOT = Path(gpi.__file__).parent
PLUGINS = ROOT / "plugins"
#: What gpi.plugins may import from gpi besides itself: the layers below it and the leaf modules
#: that import nothing of gpi (errors, fsio, safetext, and sdk: the C header, CMake files, templates).
ALLOWED = ("gpi.plugins", "gpi.ecs", "gpi.draw", "gpi.shm", "gpi.cython_ext", "gpi.errors", "gpi.fsio",
           "gpi.safetext", "gpi.sdk")


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module(p): p for p in sorted(PLUGINS.rglob("*.py"))}


def _imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """``(line, module, names)`` of every ``gpi`` import outside ``if TYPE_CHECKING:`` blocks."""
    tree = ast.parse(path.read_text(), str(path))
    typing_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.dump(node.test):
            typing_only.update(id(n) for n in ast.walk(node))
    out: list[tuple[int, str, list[str]]] = []
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name, []) for a in node.names if a.name.split(".")[0] == "gpi"]
        elif isinstance(node, ast.ImportFrom) and not node.level and (node.module or "").split(".")[0] == "gpi":
            out.append((node.lineno, str(node.module), [a.name for a in node.names]))
    return out


def _graph() -> dict[str, set[str]]:
    """Module -> the gpi.plugins modules it imports (``from pkg import submodule`` names the submodule)."""
    graph: dict[str, set[str]] = {}
    for mod, path in MODULES.items():
        deps: set[str] = set()
        for _, target, names in _imports(path):
            subs = [f"{target}.{n}" for n in names if f"{target}.{n}" in MODULES]
            deps.update(subs)
            if target in MODULES and len(subs) < max(len(names), 1):  # a name of the module itself
                deps.add(target)
        deps.discard(mod)
        graph[mod] = deps
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative enough for this size)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
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
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_plugins_import_only_what_lies_below_and_no_private_names() -> None:
    problems = []
    for mod, path in MODULES.items():
        for line, target, names in _imports(path):
            if target != "gpi" and not any(target == a or target.startswith(a + ".") for a in ALLOWED):
                problems.append(f"{mod}:{line} imports {target} (above or beside gpi.plugins)")
            private = [n for n in names if n.startswith("_")]
            if private:
                problems.append(f"{mod}:{line} imports private {private} from {target}")
    assert not problems, "\n".join(problems)


def test_no_import_cycle_between_plugin_modules() -> None:
    graph = _graph()
    assert graph["gpi.plugins.host.pluginhost"] >= {"gpi.plugins.host.worker", "gpi.plugins.supervision"}  # sees imports
    assert _cycles(graph) == []


def test_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_plugin_module_over_600_lines() -> None:
    long = {mod: n for mod, path in MODULES.items() if (n := len(path.read_text().splitlines())) > 600}
    assert not long, f"split these modules by concept: {long}"
