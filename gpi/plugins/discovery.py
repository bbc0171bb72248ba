"""Plugin discovery: find plugin folders on search paths and in installed packages.

A *search path* is a folder that is either a plugin folder itself (it holds
``plugin.toml``) or contains plugin folders as immediate sub-folders. Paths
are searched in this order, and the first plugin of a given name wins (later
ones are reported as shadowed duplicates):

1. explicit paths (command line ``--path``, a scene file), in the order given;
2. ``$GPI_PLUGIN_PATH`` (``os.pathsep``-separated);
3. the project folder's ``plugins/`` (``./plugins`` by default);
4. the user data folder: ``$XDG_DATA_HOME/gpi/plugins``, else
   ``~/.local/share/gpi/plugins``;
5. Python packages that declare an entry point in the group ``gpi.plugins``.

An entry point's value names where the plugin folder is, without running
plugin code where possible:

- ``"pkg.sub"`` (no attribute): the folder of that module (the package folder
  for a package, the containing folder for a module file), located with the
  import machinery's finders; nothing is imported.
- ``"pkg.sub:attr"``: the module is imported and ``attr`` is a path (``str`` or
  ``os.PathLike``) or a callable returning one.

Each found plugin becomes a :class:`DiscoveredPlugin` with its validated
manifest, where it came from and its signature state (from
:func:`gpi.plugins.signing.verify`). A broken plugin (bad manifest, wrong ABI)
does not stop discovery: it is recorded as a :class:`Problem`.
"""

from __future__ import annotations

import importlib.machinery
import importlib.metadata
import os
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gpi.plugins.errors import DiscoveryError, PluginError
from gpi.plugins.manifest import MANIFEST_NAME, Manifest, load_manifest
from gpi.plugins.signing import Keyring, VerifyResult, default_keyring_dir, verify

__all__ = [
    "ENTRY_POINT_GROUP",
    "DiscoveredPlugin",
    "DiscoveryReport",
    "DiscoveryWarning",
    "Problem",
    "default_search_paths",
    "discover",
    "find_plugins",
    "user_plugin_dir",
]

#: Entry point group installed packages use to declare plugins.
ENTRY_POINT_GROUP = "gpi.plugins"


class DiscoveryWarning(UserWarning):
    """A plugin was skipped (broken manifest) or shadowed by another of the same name."""


@dataclass(frozen=True)
class DiscoveredPlugin:
    """A plugin found by discovery: manifest, where it came from, signature state."""

    manifest: Manifest
    source: str  # "path", "env", "project", "user" or "entry_point"
    origin: str  # the search path, or "entry point NAME = VALUE (dist VERSION)"
    signature: VerifyResult

    @property
    def name(self) -> str:
        """The plugin's name."""
        return self.manifest.name

    @property
    def path(self) -> Path:
        """The plugin folder."""
        return self.manifest.path

    @property
    def signature_state(self) -> str:
        """``valid``, ``unsigned``, ``tampered``, ``unknown_key`` or ``bad_signature``."""
        return self.signature.state


@dataclass(frozen=True)
class Problem:
    """Something discovery skipped: ``where`` (folder or entry point) and why."""

    kind: str  # "manifest", "duplicate", "path" or "entry_point"
    where: str
    message: str


@dataclass
class DiscoveryReport:
    """Every plugin found (first of each name) and every problem met on the way."""

    plugins: list[DiscoveredPlugin] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def by_name(self) -> dict[str, DiscoveredPlugin]:
        """The plugins keyed by name."""
        return {p.name: p for p in self.plugins}

    def manifests(self) -> list[Manifest]:
        """The manifests, for :func:`gpi.plugins.resolve.resolve`."""
        return [p.manifest for p in self.plugins]


def user_plugin_dir() -> Path:
    """``$XDG_DATA_HOME/gpi/plugins``, else ``~/.local/share/gpi/plugins``."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "gpi" / "plugins"


def default_search_paths(
    project_dir: str | Path | None = None, *, include_user: bool = True
) -> list[tuple[str, Path]]:
    """``(source, folder)`` pairs searched after explicit paths: env, project, user."""
    out: list[tuple[str, Path]] = []
    for entry in os.environ.get("GPI_PLUGIN_PATH", "").split(os.pathsep):
        if entry.strip():
            out.append(("env", Path(entry)))
    out.append(("project", Path(project_dir if project_dir is not None else ".") / "plugins"))
    if include_user:
        out.append(("user", user_plugin_dir()))
    return out


def _plugin_folders(folder: Path) -> list[Path]:
    """The folder itself if it is a plugin, else its immediate plugin sub-folders (sorted)."""
    if (folder / MANIFEST_NAME).is_file():
        return [folder]
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_dir() and not p.name.startswith(".") and (p / MANIFEST_NAME).is_file()
    )


def _module_folder(module: str, search: Sequence[str] | None) -> Path | None:
    """The folder of ``module`` found through the path finders, importing nothing."""
    parts = module.split(".")
    locations: list[str] | None = list(search) if search is not None else None
    spec = None
    for i in range(len(parts)):
        name = ".".join(parts[: i + 1])
        spec = importlib.machinery.PathFinder.find_spec(name, locations)
        if spec is None:
            return None
        if i < len(parts) - 1:
            if not spec.submodule_search_locations:
                return None
            locations = list(spec.submodule_search_locations)
    assert spec is not None
    if spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    if spec.origin and spec.origin not in ("built-in", "frozen"):
        return Path(spec.origin).parent
    return None


def _entry_point_folder(ep: importlib.metadata.EntryPoint, search: Sequence[str] | None) -> Path:
    """Where an entry point says its plugin folder is (see the module docstring)."""
    if not ep.attr:
        folder = _module_folder(ep.module, search)
        if folder is None:
            raise DiscoveryError(f"module {ep.module!r} not found")
        return folder
    obj: Any = ep.load()
    if callable(obj):
        obj = obj()
    if not isinstance(obj, str | os.PathLike):
        raise DiscoveryError(
            f"{ep.value!r} gave {type(obj).__name__}; expected a folder path (str or PathLike) "
            f"or a callable returning one"
        )
    return Path(obj)


def _entry_points(search: Sequence[str] | None) -> list[tuple[importlib.metadata.EntryPoint, str]]:
    dists = (
        importlib.metadata.distributions(path=list(search))
        if search is not None
        else importlib.metadata.distributions()
    )
    seen: set[tuple[str, str]] = set()
    out: list[tuple[importlib.metadata.EntryPoint, str]] = []
    for dist in dists:
        dist_name = dist.metadata["Name"] or "?"
        for ep in dist.entry_points.select(group=ENTRY_POINT_GROUP):
            key = (dist_name, ep.name)
            if key in seen:
                continue
            seen.add(key)
            out.append((ep, f"{dist_name} {dist.version}"))
    return sorted(out, key=lambda item: (item[0].name, item[1]))


def find_plugins(
    paths: Iterable[str | Path] = (),
    *,
    project_dir: str | Path | None = None,
    include_defaults: bool = True,
    include_user: bool = True,
    entry_points: bool = True,
    entry_point_path: Sequence[str] | None = None,
    keyring: Keyring | None = None,
) -> DiscoveryReport:
    """Search explicit ``paths``, then the default paths and entry points; never raises for a bad plugin.

    ``entry_point_path`` limits the entry-point scan to those ``sys.path``-like
    folders (default: ``sys.path``). ``keyring`` defaults to the folder
    :func:`gpi.plugins.signing.default_keyring_dir` names.
    """
    ring = keyring if keyring is not None else Keyring.load(default_keyring_dir())
    report = DiscoveryReport()
    found: dict[str, DiscoveredPlugin] = {}
    seen_dirs: set[Path] = set()

    def consider(folder: Path, source: str, origin: str) -> None:
        try:
            real = folder.resolve()
        except OSError:
            real = folder
        if real in seen_dirs:
            return  # the same folder reached twice (e.g. '.' and its absolute path)
        seen_dirs.add(real)
        try:
            manifest = load_manifest(folder)
        except PluginError as exc:
            report.problems.append(Problem("manifest", str(folder), str(exc)))
            return
        if manifest.name in found:
            first = found[manifest.name]
            report.problems.append(
                Problem(
                    "duplicate",
                    str(folder),
                    f"plugin {manifest.name!r} at {folder} ({source}) is shadowed by the one "
                    f"at {first.path} ({first.source}), which was found first",
                )
            )
            return
        plugin = DiscoveredPlugin(manifest, source, origin, verify(folder, ring))
        found[manifest.name] = plugin
        report.plugins.append(plugin)

    searched: list[tuple[str, Path, bool]] = [("path", Path(p), True) for p in paths]
    if include_defaults:
        searched += [
            (src, p, src == "env")
            for src, p in default_search_paths(project_dir, include_user=include_user)
        ]
    for source, folder, must_exist in searched:
        if not folder.is_dir():
            if must_exist:
                report.problems.append(
                    Problem(
                        "path",
                        str(folder),
                        f"{folder}: plugin search path is not a folder (does it exist?)",
                    )
                )
            continue
        try:
            sub = _plugin_folders(folder)
        except OSError as exc:
            report.problems.append(
                Problem("path", str(folder), f"{folder}: cannot list plugin folders: {exc}")
            )
            continue
        if not sub and must_exist and source == "path":
            report.problems.append(
                Problem(
                    "path",
                    str(folder),
                    f"{folder}: no {MANIFEST_NAME} here or in its immediate sub-folders",
                )
            )
        for plugin_dir in sub:
            consider(plugin_dir, source, str(folder))

    if entry_points:
        for ep, dist in _entry_points(entry_point_path):
            origin = f"entry point {ep.name} = {ep.value} ({dist})"
            try:
                folder = _entry_point_folder(ep, entry_point_path)
            except Exception as exc:  # plugin package code may raise anything
                report.problems.append(
                    Problem("entry_point", origin, f"{origin}: cannot locate plugin folder: {exc}")
                )
                continue
            if not (folder / MANIFEST_NAME).is_file():
                report.problems.append(
                    Problem(
                        "entry_point",
                        origin,
                        f"{origin}: {folder} has no {MANIFEST_NAME}; the entry point must name "
                        f"the module whose folder holds {MANIFEST_NAME}",
                    )
                )
                continue
            consider(folder, "entry_point", origin)
    return report


def discover(
    paths: Iterable[str | Path] = (),
    *,
    strict: bool = False,
    **kwargs: Any,
) -> list[DiscoveredPlugin]:
    """Like :func:`find_plugins`, returning the plugins; problems become warnings.

    With ``strict=True`` the first problem raises :class:`DiscoveryError`
    instead. Keyword arguments are those of :func:`find_plugins`.
    """
    report = find_plugins(paths, **kwargs)
    for problem in report.problems:
        if strict:
            raise DiscoveryError(problem.message)
        warnings.warn(problem.message, DiscoveryWarning, stacklevel=2)
    return report.plugins
