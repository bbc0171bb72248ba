"""Plugin manifests: the ``plugin.toml`` at the root of every plugin folder.

A plugin is a folder holding ``plugin.toml`` and its Python code. The host
reads only the manifest; plugin code is imported by the child, inside the
sandbox. The manifest format (TOML)::

    [plugin]
    name = "boids"                 # required: lowercase identifier, [a-z][a-z0-9_]*
    version = "1.2.0"              # required: PEP 440 version
    abi = 1                        # required: must equal ABI_VERSION
    entry = "main"                 # required: module in the folder (main.py or main/)
    description = "Flocking"       # optional string
    capabilities = ["draw", "spawn"]  # optional, from CAPABILITIES
    authors = ["Ada"]              # optional list of strings
    license = "MIT"                # optional string
    kind = "python"                # optional: "python" (default), "native" or "wasm"
    library = "boids_native"       # kind = "native": the shared library (file, or lib<name>.so);
                                   # kind = "wasm": the module (file, or <name>.wasm / <name>.wat)
    env = ["GPI_BOIDS_DEBUG"]      # optional: host variables the child receives (GPI_* names only)

    [dependencies]                 # optional: plugin name = PEP 440 specifier
    physics = ">=1.0,<2"

    [sandbox]                      # optional per-plugin limits (see SANDBOX_KEYS)
    memory_mb = 512
    cpu_seconds = 30
    open_files = 64
    budget_ms = 4.0
    threads = 2                    # threads the plugin may start (default 0: none)
    cpu_quota = 0.5                # CPUs per tick (cgroup quota; default 1)
    fuel = 100000000               # kind = "wasm": fuel (~instructions) per system call

Validation is strict: unknown tables and keys are errors (they are almost
always typos), and every :class:`~gpi.plugins.errors.ManifestError` names the
file, the field and what was expected.
"""

from __future__ import annotations

import difflib
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from gpi.plugins.errors import ManifestError, ManifestNotFoundError
from gpi.version import ABI_VERSION

__all__ = [
    "CAPABILITIES",
    "MANIFEST_NAME",
    "NAME_PATTERN",
    "SANDBOX_KEYS",
    "Manifest",
    "load_manifest",
    "parse_manifest",
]

#: File name of the manifest inside a plugin folder.
MANIFEST_NAME = "plugin.toml"

#: Capabilities a plugin may request; the host grants or refuses each at handshake.
CAPABILITIES: frozenset[str] = frozenset(
    {"spawn", "despawn", "draw", "input", "events", "resources", "save", "log"}
)

#: Plugin names: lowercase identifiers, so they are valid module and key names everywhere.
NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,63}")

#: ``[sandbox]`` keys: name -> (type accepted, description for messages).
SANDBOX_KEYS: Mapping[str, tuple[type, str]] = MappingProxyType(
    {
        "memory_mb": (int, "a positive integer (address-space limit in MiB)"),
        "cpu_seconds": (float, "a positive number (CPU time limit in seconds)"),
        "open_files": (int, "a positive integer (open file descriptor limit)"),
        "budget_ms": (float, "a positive number (per-tick time budget in ms)"),
        "threads": (int, "an integer from 0 to 64 (threads the plugin may start; 0 = none)"),
        "cpu_quota": (float, "a positive number (CPUs per tick, the cgroup quota)"),
        "spawn_per_call": (int, "a positive integer (entities one call may spawn)"),
        "spawn_per_tick": (int, "a positive integer (entities the plugin may spawn per tick)"),
        "max_entities": (int, "a positive integer (live entities past which the plugin's spawns are refused)"),
        "fuel": (int, "a positive integer (wasm fuel, about one unit per instruction, per system call)"),
    }
)

_PLUGIN_KEYS = {
    "name",
    "version",
    "abi",
    "entry",
    "description",
    "capabilities",
    "authors",
    "license",
    "kind",
    "library",
    "env",
}
#: Host environment variables a manifest may ask for (``[plugin].env``): the runtime's own
#: namespace, so a plugin cannot ask for the user's tokens and keys by name.
ENV_NAME_PATTERN = re.compile(r"GPI_[A-Z0-9_]{1,60}")
#: Plugin kinds: Python code, or a shared library implementing gpi/sdk/include/gpi_plugin.h.
KINDS = ("python", "native", "wasm")
_TABLES = {"plugin", "dependencies", "sandbox"}
_ENTRY_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


@dataclass(frozen=True, eq=True)
class Manifest:
    """A validated ``plugin.toml``; ``path`` is the plugin folder."""

    name: str
    version: str
    abi: int
    entry: str
    path: Path
    description: str = ""
    capabilities: tuple[str, ...] = ()
    dependencies: Mapping[str, SpecifierSet] = field(default_factory=dict)
    sandbox: Mapping[str, int | float] = field(default_factory=dict)
    authors: tuple[str, ...] = ()
    license: str = ""
    kind: str = "python"
    library: str = ""
    env: tuple[str, ...] = ()
    """Host environment variables passed to the child (if set): a child gets no other of the host's."""

    __hash__ = None  # type: ignore[assignment]  # mappings inside; compare, don't hash

    @property
    def manifest_path(self) -> Path:
        """The ``plugin.toml`` file this manifest was read from."""
        return self.path / MANIFEST_NAME

    @property
    def parsed_version(self) -> Version:
        """The version as a :class:`packaging.version.Version` (for comparisons)."""
        return Version(self.version)

    @property
    def limits(self) -> Mapping[str, int | float]:
        """Alias of :attr:`sandbox`: the per-plugin sandbox limits."""
        return self.sandbox

    def entry_path(self) -> Path:
        """The file or package folder the entry module resolves to."""
        return _entry_target(self.path, self.entry)

    def to_dict(self) -> dict[str, Any]:
        """Plain, msgpack/JSON-serialisable form (strings, ints, lists, dicts)."""
        return {
            "name": self.name,
            "version": self.version,
            "abi": self.abi,
            "entry": self.entry,
            "path": str(self.path),
            "description": self.description,
            "capabilities": list(self.capabilities),
            "dependencies": {k: str(v) for k, v in self.dependencies.items()},
            "sandbox": dict(self.sandbox),
            "authors": list(self.authors),
            "license": self.license,
            "kind": self.kind,
            "library": self.library,
            "env": list(self.env),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Manifest:
        """Rebuild a manifest from :meth:`to_dict` output (no file-system checks)."""
        return cls(
            name=str(data["name"]),
            version=str(data["version"]),
            abi=int(data["abi"]),
            entry=str(data["entry"]),
            path=Path(data["path"]),
            description=str(data.get("description", "")),
            capabilities=tuple(data.get("capabilities", ())),
            dependencies=MappingProxyType(
                {k: SpecifierSet(v) for k, v in dict(data.get("dependencies", {})).items()}
            ),
            sandbox=MappingProxyType(dict(data.get("sandbox", {}))),
            authors=tuple(data.get("authors", ())),
            license=str(data.get("license", "")),
            kind=str(data.get("kind", "python")),
            library=str(data.get("library", "")),
            env=tuple(data.get("env", ())),
        )

    def __repr__(self) -> str:
        return f"Manifest({self.name!r} {self.version}, path={str(self.path)!r})"


def load_manifest(
    plugin_dir: str | Path, *, abi: int | None = None, check_entry: bool = True
) -> Manifest:
    """Read and validate ``plugin_dir/plugin.toml``; raises :class:`ManifestError`.

    ``abi`` defaults to :data:`ABI_VERSION`; ``check_entry=False`` skips the
    check that the entry module exists (for manifests shipped without code).
    """
    folder = Path(plugin_dir)
    path = folder / MANIFEST_NAME
    if not folder.is_dir():
        raise ManifestNotFoundError(
            f"{folder}: not a plugin folder (it does not exist or is not a directory); "
            f"a plugin is a folder holding {MANIFEST_NAME}",
            path=path,
        )
    if not path.is_file():
        raise ManifestNotFoundError(
            f"{path}: missing; every plugin folder needs a {MANIFEST_NAME} "
            f"(create one with `gpi new plugin NAME`)",
            path=path,
        )
    try:
        from gpi.plugins.safewalk import read_file  # no link out of the folder, no FIFO, no device

        text = read_file(folder, MANIFEST_NAME, limit=1 << 20).decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path}: cannot read: {exc}", path=path) from exc
    return parse_manifest(text, folder, abi=abi, check_entry=check_entry)


def parse_manifest(
    text: str, plugin_dir: str | Path, *, abi: int | None = None, check_entry: bool = True
) -> Manifest:
    """Validate manifest ``text`` as if it were ``plugin_dir/plugin.toml``."""
    folder = Path(plugin_dir)
    path = folder / MANIFEST_NAME
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(
            f"{path}: invalid TOML: {exc}; fix the syntax at that position", path=path
        ) from exc
    if abi is None:

        abi = ABI_VERSION
    return _Validator(path, folder, abi, check_entry).run(data)


def _entry_target(folder: Path, entry: str) -> Path:
    parts = entry.split(".")
    base = folder.joinpath(*parts)
    if base.is_dir():
        return base
    return base.with_name(base.name + ".py")


class _Validator:
    """Turns parsed TOML into a :class:`Manifest`, raising on the first problem."""

    def __init__(self, path: Path, folder: Path, abi: int, check_entry: bool):
        self.path = path
        self.folder = folder
        self.abi = abi
        self.check_entry = check_entry

    def fail(self, fld: str | None, expected: str) -> ManifestError:
        where = f"{self.path}: {fld}: " if fld else f"{self.path}: "
        return ManifestError(where + expected, path=self.path, field=fld)

    def expect(self, fld: str, expected: str, got: Any) -> ManifestError:
        return self.fail(fld, f"expected {expected}, got {_show(got)}")

    def unknown(self, fld: str, key: str, known: set[str] | frozenset[str]) -> ManifestError:
        close = difflib.get_close_matches(key, sorted(known), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        return self.fail(fld, f"unknown key {key!r}; {hint}known keys: {', '.join(sorted(known))}")

    def run(self, data: dict[str, Any]) -> Manifest:
        for key in data:
            if key not in _TABLES:
                raise self.unknown("top level", key, _TABLES)
        plugin = data.get("plugin")
        if plugin is None:
            raise self.fail(
                "[plugin]",
                "missing table; expected a [plugin] table with name, version, abi and entry",
            )
        if not isinstance(plugin, dict):
            raise self.expect("[plugin]", "a table", plugin)
        for key in plugin:
            if key not in _PLUGIN_KEYS:
                raise self.unknown("[plugin]", key, _PLUGIN_KEYS)

        name = self.required_str(plugin, "name", "a plugin name like 'boids'")
        if not NAME_PATTERN.fullmatch(name):
            raise self.expect(
                "[plugin].name",
                "a lowercase identifier (letters a-z, digits, '_', starting with a letter, "
                "at most 64 characters) like 'boids'",
                name,
            )
        version = self.required_str(plugin, "version", "a PEP 440 version like '1.2.0'")
        try:
            Version(version)
        except InvalidVersion:
            raise self.expect(
                "[plugin].version", "a PEP 440 version like '1.2.0'", version
            ) from None
        if "abi" not in plugin:
            raise self.fail(
                "[plugin].abi",
                f"missing; expected an integer ABI version (this GPI speaks abi = {self.abi})",
            )
        abi = plugin["abi"]
        if isinstance(abi, bool) or not isinstance(abi, int):
            raise self.expect("[plugin].abi", f"an integer like {self.abi}", abi)
        if abi != self.abi:
            raise self.fail(
                "[plugin].abi",
                f"ABI mismatch: plugin {name!r} was built for abi = {abi} but this GPI "
                f"speaks abi = {self.abi}; update the plugin for ABI {self.abi} "
                f"(or use a GPI release that speaks ABI {abi})",
            )
        kind = self.optional_str(plugin, "kind") or "python"
        if kind not in KINDS:
            raise self.expect("[plugin].kind", f"one of {', '.join(KINDS)}", kind)
        library = self.optional_str(plugin, "library")
        if kind in ("native", "wasm"):
            entry = self.native_library(plugin, library, kind)
        else:
            entry = self.python_entry(plugin)
        description = self.optional_str(plugin, "description")
        license_ = self.optional_str(plugin, "license")
        authors = self.str_list(plugin, "authors", "a list of author names")
        caps = self.str_list(
            plugin, "capabilities", f"a list of capability names from {sorted(CAPABILITIES)}"
        )
        for i, cap in enumerate(caps):
            if cap not in CAPABILITIES:
                close = difflib.get_close_matches(cap, sorted(CAPABILITIES), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise self.fail(
                    f"[plugin].capabilities[{i}]",
                    f"unknown capability {cap!r}{hint}; expected one of "
                    f"{', '.join(sorted(CAPABILITIES))}",
                )
        caps = list(dict.fromkeys(caps))  # de-duplicate, keep order
        env = self.str_list(plugin, "env", "a list of environment variable names like 'GPI_MY_PLUGIN_LEVEL'")
        for i, var in enumerate(env):
            if not ENV_NAME_PATTERN.fullmatch(var):
                raise self.fail(
                    f"[plugin].env[{i}]",
                    f"{var!r} is not a name a plugin may receive: only GPI_* names (upper case, digits, "
                    f"underscores) pass to a child, never the host's other variables",
                )

        deps = self.dependencies(data.get("dependencies", {}), name)
        sandbox = self.sandbox(data.get("sandbox", {}))
        return Manifest(
            name=name,
            version=version,
            abi=abi,
            entry=entry,
            path=self.folder,
            description=description,
            capabilities=tuple(caps),
            dependencies=MappingProxyType(deps),
            sandbox=MappingProxyType(sandbox),
            authors=tuple(authors),
            license=license_,
            kind=kind,
            library=library,
            env=tuple(dict.fromkeys(env)),
        )

    def python_entry(self, plugin: dict[str, Any]) -> str:
        entry = self.required_str(plugin, "entry", "a module name like 'main'")
        if entry.endswith(".py") or not _ENTRY_PATTERN.fullmatch(entry):
            raise self.expect(
                "[plugin].entry",
                "a module name like 'main' or 'pkg.module' (no '.py', no slashes)",
                entry,
            )
        if self.check_entry:
            target = _entry_target(self.folder, entry)
            if not target.exists():
                raise self.fail(
                    "[plugin].entry",
                    f"entry module {entry!r} not found: expected "
                    f"{target.relative_to(self.folder)} in {self.folder} "
                    f"(or a package folder {entry.replace('.', '/')}/ with __init__.py)",
                )
        return entry

    def native_library(self, plugin: dict[str, Any], library: str, kind: str = "native") -> str:
        if kind == "wasm":
            return self.wasm_module(plugin, library)
        if not library:
            raise self.fail("[plugin].library", "missing; kind = \"native\" needs the shared library's name, "
                            "like library = \"libboids_native.so\" (or \"boids_native\")")
        if "/" in library or library.startswith("."):
            raise self.expect("[plugin].library", "a file name in the plugin folder (no slashes)", library)
        if "entry" in plugin:
            raise self.fail("[plugin].entry", "not used by kind = \"native\" (the library's entry symbol is "
                            "gpi_plugin_entry); remove it")
        if self.check_entry:
            from gpi.plugins.native.loader import library_path

            if not library_path(self.folder, library).is_file():
                raise self.fail("[plugin].library", f"library {library!r} not found in {self.folder} "
                                "(build the plugin first)")
        return ""

    def wasm_module(self, plugin: dict[str, Any], library: str) -> str:
        if not library or "/" in library or library.startswith("."):
            raise self.expect("[plugin].library", "the wasm module's file name in the plugin folder, like "
                              "library = \"movement.wasm\"", library)
        if "entry" in plugin:
            raise self.fail("[plugin].entry", "not used by kind = \"wasm\" (the module exports "
                            "gpi_plugin_entry); remove it")
        if self.check_entry:
            from gpi.plugins.wasm.loader import module_path

            if not module_path(self.folder, library).is_file():
                raise self.fail("[plugin].library", f"wasm module {library!r} not found in {self.folder} "
                                "(build the plugin first)")
        return ""

    def required_str(self, table: dict[str, Any], key: str, expected: str) -> str:
        fld = f"[plugin].{key}"
        if key not in table:
            raise self.fail(fld, f"missing; expected {expected}")
        value = table[key]
        if not isinstance(value, str):
            raise self.expect(fld, f"a string: {expected}", value)
        if not value.strip():
            raise self.expect(fld, expected, value)
        return value

    def optional_str(self, table: dict[str, Any], key: str) -> str:
        value = table.get(key, "")
        if not isinstance(value, str):
            raise self.expect(f"[plugin].{key}", "a string", value)
        return value

    def str_list(self, table: dict[str, Any], key: str, expected: str) -> list[str]:
        value = table.get(key, [])
        fld = f"[plugin].{key}"
        if not isinstance(value, list):
            raise self.expect(fld, expected, value)
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise self.expect(f"{fld}[{i}]", "a string", item)
        return list(value)

    def dependencies(self, table: Any, own_name: str) -> dict[str, SpecifierSet]:
        if not isinstance(table, dict):
            raise self.expect("[dependencies]", 'a table of name = "specifier"', table)
        deps: dict[str, SpecifierSet] = {}
        for dep, spec in table.items():
            fld = f"[dependencies].{dep}"
            if not NAME_PATTERN.fullmatch(dep):
                raise self.fail(fld, f"expected a plugin name (lowercase identifier), got {dep!r}")
            if dep == own_name:
                raise self.fail(fld, f"plugin {own_name!r} cannot depend on itself")
            if not isinstance(spec, str):
                raise self.expect(
                    fld, "a version specifier string like '>=1.0,<2' (or '*' for any)", spec
                )
            text = "" if spec.strip() in ("", "*") else spec
            try:
                deps[dep] = SpecifierSet(text)
            except InvalidSpecifier:
                raise self.expect(
                    fld, "a PEP 440 version specifier like '>=1.0,<2' (or '*' for any)", spec
                ) from None
        return deps

    def sandbox(self, table: Any) -> dict[str, int | float]:
        if not isinstance(table, dict):
            raise self.expect("[sandbox]", "a table of limits", table)
        out: dict[str, int | float] = {}
        for key, value in table.items():
            fld = f"[sandbox].{key}"
            if key not in SANDBOX_KEYS:
                raise self.unknown("[sandbox]", key, set(SANDBOX_KEYS))
            kind, expected = SANDBOX_KEYS[key]
            ok_type = (int,) if kind is int else (int, float)
            if isinstance(value, bool) or not isinstance(value, ok_type):
                raise self.expect(fld, expected, value)
            if key == "threads":
                if not 0 <= value <= 64:
                    raise self.expect(fld, expected, value)
            elif not math.isfinite(value) or value <= 0:
                raise self.expect(fld, expected, value)
            out[key] = value
        return out


def _show(value: Any) -> str:
    """A value as it looks in TOML-ish terms, with its type for non-strings."""
    if isinstance(value, str):
        return repr(value)
    kind = {bool: "boolean", int: "integer", float: "float", list: "array", dict: "table"}.get(
        type(value), type(value).__name__
    )
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{kind} {text}"
