"""The package's shape: layering, no import cycles, no borrowed privates, small modules.

DESIGN.md's rule is that dependencies point one way (``runtime -> plugins,
replays -> ecs -> shm -> cython_ext``, ``draw`` beside ``ecs``), that no two
modules import each other, and that no module imports another's ``_private``
names. This test reads every module of ``gpi/`` with :mod:`ast` and fails on
each breach, naming the modules. For layering and private names every import
counts, inside functions and under ``TYPE_CHECKING`` too; for cycles, every
import that runs (module level and inside functions): an annotation-only
import under ``TYPE_CHECKING`` never executes, so it cannot close a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "gpi"

# Rank of each top-level part: a module may import its own part or a lower rank (plugins and
# replays are siblings: neither imports the other; what needs both lives in runtime/replay).
LAYERS = {
    "fsio": 0,
    "errors": 0,
    "safetext": 0,
    "version": 0,
    "cython_ext": 1,
    "shm": 2,
    "draw": 3,
    "ecs": 3,
    "replays": 5,
    "plugins": 5,
    "sdk": 0,
    "testing": 6,
    "runtime": 7,
    "__main__": 8,
}
# The front door re-exports from below; it is not a layer anyone imports from.
FRONT_DOOR = "gpi"
MAX_LINES = 600


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


# Compiled kernels are modules too (imported by their wrappers), but have no Python source to read.
KERNELS = {_module_name(p) for p in ROOT.rglob("*.pyx")}


def _resolve(mod: str, is_pkg: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = mod.split(".")
    if not is_pkg:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _typing_only(tree: ast.Module) -> set[int]:
    """ids of the import nodes under an ``if TYPE_CHECKING:`` block."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for stmt in node.body:
                out.update(id(n) for n in ast.walk(stmt) if isinstance(n, ast.Import | ast.ImportFrom))
    return out


def _imports(mods: dict[str, Path], *, typing: bool = True) -> dict[str, set[tuple[str, str]]]:
    """module -> {(imported module, imported name or '')} for imports inside gpi (``typing``: with annotation-only ones)."""
    out: dict[str, set[tuple[str, str]]] = {}
    for mod, path in mods.items():
        tree = ast.parse(path.read_text(), str(path))
        skip = set() if typing else _typing_only(tree)
        is_pkg = path.name == "__init__.py"
        found: set[tuple[str, str]] = set()
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name == "gpi" or a.name.startswith("gpi."):
                        found.add((a.name, ""))
            elif isinstance(node, ast.ImportFrom):
                target = _resolve(mod, is_pkg, node)
                if not (target == "gpi" or target.startswith("gpi.")):
                    continue
                for a in node.names:
                    sub = f"{target}.{a.name}"
                    if sub in mods or sub in KERNELS:
                        found.add((sub, ""))
                    else:
                        found.add((target, a.name))
        out[mod] = {(m, n) for m, n in found if m != mod}
    return out


MODS = _modules()
IMPORTS = _imports(MODS)
RUNTIME_IMPORTS = _imports(MODS, typing=False)


def _known(target: str) -> str:
    """The longest module of gpi that ``target`` names (``gpi.ecs.world.World`` -> ``gpi.ecs.world``)."""
    parts = target.split(".")
    while parts and ".".join(parts) not in MODS and ".".join(parts) not in KERNELS:
        parts.pop()
    return ".".join(parts)


def _part(mod: str) -> str:
    parts = mod.split(".")
    return parts[1] if len(parts) > 1 else FRONT_DOOR


def test_every_part_has_a_layer() -> None:
    parts = {_part(m) for m in MODS} - {FRONT_DOOR}
    assert parts <= set(LAYERS), f"parts of gpi/ with no layer in this test: {sorted(parts - set(LAYERS))}"


def test_imports_point_down_the_layers() -> None:
    bad = []
    for mod, deps in IMPORTS.items():
        src = _part(mod)
        if src == FRONT_DOOR:
            continue
        for target, _name in deps:
            dst = _part(_known(target))
            if dst == FRONT_DOOR:
                bad.append(f"{mod} imports the front door gpi/__init__.py")
            elif dst != src and LAYERS[dst] >= LAYERS[src]:
                bad.append(f"{mod} ({src}) imports {target} ({dst}): runs up or across the layering")
    assert not bad, "\n".join(sorted(bad))


def test_no_import_cycles() -> None:
    graph = {m: {_known(t) for t, _ in deps} - {m, ""} - KERNELS for m, deps in RUNTIME_IMPORTS.items()}
    # A package's __init__ re-exporting its own submodules is not a cycle with them.
    for m in graph:
        graph[m] = {d for d in graph[m] if not (m.startswith(d + ".") and MODS[d].name == "__init__.py")}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
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
                cycles.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_no_module_imports_another_modules_private_names() -> None:
    bad = []
    for mod, deps in IMPORTS.items():
        for target, name in deps:
            owner = _known(target)
            same_package = owner.rsplit(".", 1)[0] == mod.rsplit(".", 1)[0] or owner.startswith(mod + ".")
            private_module = any(p.startswith("_") and p != "__init__" for p in target.split(".")[1:])
            if name.startswith("_") and not name.startswith("__"):
                bad.append(f"{mod} imports {name} from {target}")
            elif private_module and not same_package:
                bad.append(f"{mod} imports the private module {target}")
    assert not bad, "\n".join(sorted(bad))


@pytest.mark.parametrize("mod", sorted(MODS))
def test_module_is_small(mod: str) -> None:
    n = len(MODS[mod].read_text().splitlines())
    assert n <= MAX_LINES, f"{MODS[mod].relative_to(ROOT.parent)} has {n} lines (at most {MAX_LINES}): split it by concept"
