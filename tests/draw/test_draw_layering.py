"""Layering of the lower packages: ``draw`` beside ``ecs``, both above ``cython_ext`` only (read from the source)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import gpi

ROOT = Path(gpi.__file__).parent
# What each package may import from gpi (besides itself): DESIGN.md's layering, bottom up.
ALLOWED = {
    "cython_ext": {"gpi.errors"},
    "draw": {"gpi.errors", "gpi.cython_ext"},
    "ecs": {"gpi.errors", "gpi.cython_ext", "gpi.shm"},
}


def _gpi_imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """``(line, module, names)`` of every ``gpi`` import in ``path``, relative imports resolved."""
    out = []
    pkg = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts[:-1])
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name, []) for a in node.names if a.name.split(".")[0] == "gpi"]
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level:
                base = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                mod = ".".join([*base, mod] if mod else base)
            if mod.split(".")[0] == "gpi":
                out.append((node.lineno, mod, [a.name for a in node.names]))
    return out


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_point_down_and_name_no_private(package: str) -> None:
    own = f"gpi.{package}"
    allowed = ALLOWED[package] | {own}
    problems = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for line, mod, names in _gpi_imports(path):
            if not any(mod == a or mod.startswith(a + ".") for a in allowed):
                problems.append(f"{path.relative_to(ROOT)}:{line} imports {mod}")
            private = [n for n in names if n.startswith("_")]
            if private:  # another module's private names, even within the package
                problems.append(f"{path.relative_to(ROOT)}:{line} imports private {private} from {mod}")
    assert not problems, "\n".join(problems)
