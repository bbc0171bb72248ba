"""Compiling C plugins to WebAssembly with zig's clang (the ``ziglang`` PyPI wheel) or clang + lld.

:func:`compile_c` builds ``gpi_plugin.h`` sources into one ``.wasm`` module:
``wasm32-wasi`` reactor (libc without WASI imports), the function table exported (the
loader calls ``init`` and each system through it). :func:`build_plugin` lays
out a plugin folder (module + ``kind = "wasm"`` manifest), cached by a hash
of the sources and the header, so tests, the demo and the benchmark share it.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from gpi.plugins.native.build import BuildError, cache_root
from gpi.sdk import sdk_dir

__all__ = ["WASM_FLAGS", "build_plugin", "compiler", "compile_c"]

#: Flags every wasm plugin is built with (the CMake package uses the same).
#: wasm32-wasi as a *reactor* links wasi-libc's malloc, string and math (no WASI import is left: they
#: need none) and exports ``_initialize`` (C constructors), which the loader calls first.
WASM_FLAGS = ["--target=wasm32-wasi", "-mexec-model=reactor", "-O2", "-fno-math-errno", "-fno-trapping-math",
              "-Wl,--export-table", "-Wl,--growable-table", "-Wl,--export=gpi_plugin_entry"]


def compiler() -> list[str]:
    """The C-to-wasm compiler command: ``python -m ziglang cc``, else ``zig cc``, else clang (with lld)."""
    try:
        import ziglang  # noqa: F401
    except ImportError:
        pass
    else:
        return [sys.executable, "-m", "ziglang", "cc"]
    if shutil.which("zig"):
        return ["zig", "cc"]
    for clang in ("clang", "clang-14"):
        if shutil.which(clang) and (shutil.which("wasm-ld") or shutil.which("wasm-ld-14")):
            return [clang]
    raise BuildError("no C-to-wasm compiler: pip install ziglang (or install clang and lld)")


def compile_c(sources: Sequence[str | Path], out: str | Path, *, flags: Sequence[str] = ()) -> Path:
    """Compile ``sources`` into the wasm module ``out``; raises :class:`BuildError` with the compiler's output."""
    cmd = [*compiler(), *WASM_FLAGS, f"-I{sdk_dir() / 'include'}", *flags, "-o", str(out),
           *(str(s) for s in sources)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise BuildError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return Path(out)


def build_plugin(name: str, sources: Sequence[str | Path], *, capabilities: Sequence[str] = (),
                 dependencies: dict[str, str] | None = None, description: str = "") -> Path:
    """A cached plugin folder ``name`` holding ``name.wasm`` built from ``sources`` and its manifest."""
    h = hashlib.blake2b(digest_size=8)
    for s in [*sources, sdk_dir() / "include" / "gpi_plugin.h"]:
        h.update(Path(s).read_bytes())
    h.update(repr((name, list(capabilities), dependencies, WASM_FLAGS)).encode())
    folder = cache_root().parent / "wasm" / f"{name}-{h.hexdigest()}" / name
    if (folder / "plugin.toml").is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    compile_c(sources, folder / f"{name}.wasm")
    caps = ", ".join(f'"{c}"' for c in capabilities)
    deps = "".join(f'{k} = "{v}"\n' for k, v in (dependencies or {}).items())
    (folder / "plugin.toml").write_text(
        f'[plugin]\nname = "{name}"\nversion = "1.0.0"\nabi = 1\nkind = "wasm"\nlibrary = "{name}.wasm"\n'
        f'description = "{description}"\ncapabilities = [{caps}]\n' + (f"\n[dependencies]\n{deps}" if deps else ""))
    return folder
