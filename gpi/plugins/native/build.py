"""Building native plugins with CMake (``find_package(gpi)`` + ``gpi_add_plugin``).

:func:`build_project` configures and builds a CMake project that uses the
shipped CMake package and returns its build folder; the plugin folders that
``gpi_add_plugin`` laid out are under ``<build>/plugins/<name>`` (see
:func:`plugin_dirs`). Builds are cached: the build folder's name carries a
hash of the project's sources and of the SDK, so an unchanged project is
built once (tests, the demo's ``--native`` flag and the benchmark share it).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from gpi.plugins.errors import PluginError
from gpi.sdk import cmake_dir, sdk_dir

__all__ = ["BuildError", "build_project", "cache_root", "plugin_dirs", "source_hash"]

_SOURCE_SUFFIXES = (".c", ".h", ".cc", ".cpp", ".hpp", ".cmake", ".txt")


class BuildError(PluginError, RuntimeError):
    """CMake or the compiler failed (the message holds their output) or is not installed."""


def cache_root() -> Path:
    """Where cached builds go: ``$GPI_BUILD_CACHE`` or ``$XDG_CACHE_HOME/gpi/native``."""
    env = os.environ.get("GPI_BUILD_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gpi" / "native"


def source_hash(project: str | Path) -> str:
    """A hash of the project's source files and of the SDK (header, CMake package)."""
    h = hashlib.blake2b(digest_size=8)
    for root in (Path(project), sdk_dir() / "include", sdk_dir() / "cmake"):
        for p in sorted(root.rglob("*")):
            if p.is_file() and p.suffix in _SOURCE_SUFFIXES and "build" not in p.relative_to(root).parts[:1]:
                h.update(str(p.relative_to(root)).encode())
                h.update(p.read_bytes())
    return h.hexdigest()


def _run(cmd: list[str], cwd: Path) -> None:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BuildError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")


def build_project(project: str | Path, build_dir: str | Path | None = None, *,
                  build_type: str = "Release", defines: dict[str, str] | None = None) -> Path:
    """Configure and build the CMake project ``project``; returns the build folder.

    Without ``build_dir`` the build goes to the cache (:func:`cache_root`) under
    a name made of the project's name and :func:`source_hash`, and is reused
    when it already finished. Raises :class:`BuildError` when cmake is missing
    or the build fails.
    """
    project = Path(project).resolve()
    if shutil.which("cmake") is None:
        raise BuildError("cmake is not installed: apt-get install cmake gcc (or pip install cmake)")
    extra = sorted((defines or {}).items())
    if build_dir is None:
        tag = hashlib.blake2b(repr((extra, build_type)).encode(), digest_size=4).hexdigest()
        build_dir = cache_root() / f"{project.name}-{source_hash(project)}-{tag}"
    out = Path(build_dir)
    stamp = out / ".gpi-built"
    if stamp.is_file():
        return out
    out.mkdir(parents=True, exist_ok=True)
    cmd = ["cmake", "-S", str(project), "-B", str(out), f"-Dgpi_DIR={cmake_dir()}",
           f"-DCMAKE_BUILD_TYPE={build_type}", f"-DGPI_PYTHON={sys.executable}"]
    cmd += [f"-D{k}={v}" for k, v in extra]
    _run(cmd, project)
    _run(["cmake", "--build", str(out), "--parallel", "2"], project)
    stamp.write_text("ok\n")
    return out


def plugin_dirs(build: str | Path) -> dict[str, Path]:
    """The plugin folders ``gpi_add_plugin`` laid out in a build: name -> folder."""
    root = Path(build) / "plugins"
    if not root.is_dir():
        return {}
    return {p.name: p for p in sorted(root.iterdir()) if (p / "plugin.toml").is_file()}
