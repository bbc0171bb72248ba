"""``gpi new plugin NAME``: create a ready-to-run plugin folder from templates.

The new folder ``PARENT/NAME`` holds::

    plugin.toml           manifest (capabilities spawn, draw, log; sandbox limits)
    main.py               components, a spawning system, a moving system with a
                          query and commands, and a render system with a draw call
    tests/test_NAME.py    runs the systems through gpi.testing.run_system
    README.md             what is where, and how to sign it

Templates live in :mod:`gpi.plugins.template` as ``string.Template`` text
(``$name``, ``$title``, ``$abi``). The generated plugin loads with
:func:`~gpi.plugins.manifest.load_manifest` and its own test passes as
generated.

With ``lang="c"`` (``gpi new plugin NAME --lang c``) the folder is a CMake
project instead (templates in ``gpi/sdk/templates/c``, ``@name@`` style so
CMake's own ``${...}`` stays as it is)::

    CMakeLists.txt        find_package(gpi) + gpi_add_plugin(NAME ...) + a ctest
    src/NAME.c            one system (spawn, then move) and one draw call
    tests/test_NAME.py    builds it with CMake and runs it through the host
    README.md
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from string import Template

from gpi.plugins.errors import PluginError
from gpi.plugins.manifest import NAME_PATTERN
from gpi.version import ABI_VERSION

__all__ = ["C_TEMPLATE_FILES", "TEMPLATE_FILES", "ScaffoldError", "create_plugin"]

#: template file -> path inside the new plugin folder (``{name}`` is substituted).
TEMPLATE_FILES: dict[str, str] = {
    "plugin.toml.txt": "plugin.toml",
    "main.py.txt": "main.py",
    "test_plugin.py.txt": "tests/test_{name}.py",
    "README.md.txt": "README.md",
}


#: ``gpi/sdk/templates/c`` file -> path inside the new CMake project (``lang="c"``).
C_TEMPLATE_FILES: dict[str, str] = {
    "CMakeLists.txt.in": "CMakeLists.txt",
    "src/plugin.c.in": "src/{name}.c",
    "tests/test_plugin.py.in": "tests/test_{name}.py",
    "README.md.in": "README.md",
}


class ScaffoldError(PluginError, ValueError):
    """The plugin name is invalid or the target folder is not empty."""


def _title(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_") if part) or name


def create_plugin(name: str, parent: str | Path = ".", *, force: bool = False, lang: str = "python",
                  wasm: bool = False) -> Path:
    """Create ``parent/name`` from the templates and return it; refuses to overwrite files.

    ``lang`` is ``"python"`` (a plugin folder) or ``"c"`` (a CMake project
    whose build lays out a native plugin folder; with ``wasm`` it builds a
    ``kind = "wasm"`` module instead, through ``gpi_add_plugin(... WASM)``).
    """
    if wasm and lang != "c":
        raise ScaffoldError("--wasm needs --lang c (the wasm plugin is the C plugin compiled to wasm32)")
    if lang not in ("python", "c"):
        raise ScaffoldError(f"unknown plugin language {lang!r}; use 'python' or 'c'")
    if not NAME_PATTERN.fullmatch(name):
        raise ScaffoldError(
            f"invalid plugin name {name!r}: use a lowercase identifier (letters a-z, digits, "
            f"'_', starting with a letter, at most 64 characters), e.g. 'my_plugin'"
        )
    folder = Path(parent) / name
    if folder.exists() and not folder.is_dir():
        raise ScaffoldError(f"{folder}: exists and is not a folder; choose another --dir or name")
    if folder.is_dir() and any(folder.iterdir()) and not force:
        raise ScaffoldError(
            f"{folder}: folder exists and is not empty; choose another --dir or name "
            f"(or pass --force to overwrite the template files)"
        )
    values = {"name": name, "title": _title(name), "abi": str(ABI_VERSION), "wasm": " WASM" if wasm else ""}
    if lang == "c":
        return _create_c(folder, values)
    templates = resources.files("gpi.plugins.template")
    written: list[Path] = []
    for src, dest in TEMPLATE_FILES.items():
        text = Template(templates.joinpath(src).read_text(encoding="utf-8")).substitute(values)
        target = folder / dest.format(name=name)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        written.append(target)
    return folder


def _create_c(folder: Path, values: dict[str, str]) -> Path:
    """Write the CMake project of a native plugin (``@key@`` placeholders)."""
    from gpi.sdk import templates_dir

    root = templates_dir() / "c"
    for src, dest in C_TEMPLATE_FILES.items():
        text = (root / src).read_text(encoding="utf-8")
        for key, value in values.items():
            text = text.replace(f"@{key}@", value)
        target = folder / dest.format(name=values["name"])
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return folder
