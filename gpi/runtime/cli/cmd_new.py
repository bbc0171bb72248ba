"""``gpi new plugin NAME [--dir PARENT]``: create a plugin folder from the template.

See :mod:`gpi.plugins.scaffold` for what the folder holds.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gpi.plugins.errors import PluginError

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``gpi new`` and its ``plugin`` sub-command."""
    p = subparsers.add_parser(
        "new",
        help="create a new plugin from a template",
        description="Create new things from templates.",
    )
    sub = p.add_subparsers(dest="new_command", metavar="WHAT")
    sub.required = True
    plug = sub.add_parser(
        "plugin",
        help="create PARENT/NAME: manifest, systems, a draw call and a test",
        description="Create a plugin folder: plugin.toml, main.py (components, systems with "
        "queries and commands, a draw call) and tests/test_NAME.py.",
    )
    plug.add_argument("name", help="plugin name: lowercase identifier, e.g. my_plugin")
    plug.add_argument(
        "--dir", type=Path, default=Path("."), help="parent folder (default: current folder)"
    )
    plug.add_argument("--force", action="store_true", help="overwrite files in an existing folder")
    plug.add_argument("--lang", choices=("python", "c"), default="python",
                      help="python (default): a plugin folder; c: a CMake project building a native plugin")
    plug.add_argument("--wasm", action="store_true",
                      help="with --lang c: build the plugin as a WebAssembly module (gpi_add_plugin(... WASM), "
                           "compiled with ziglang, run by wasmtime)")
    plug.set_defaults(handler=_new_plugin)


def _new_plugin(args: argparse.Namespace) -> int:
    from gpi.plugins.scaffold import C_TEMPLATE_FILES, TEMPLATE_FILES, create_plugin

    lang = getattr(args, "lang", "python")
    try:
        folder = create_plugin(args.name, args.dir, force=args.force, lang=lang,
                               wasm=bool(getattr(args, "wasm", False)))
    except (PluginError, OSError) as exc:
        print(f"gpi new plugin: error: {exc}", file=sys.stderr)
        return 1
    print(f"created plugin {args.name!r} in {folder}:")
    for dest in (C_TEMPLATE_FILES if lang == "c" else TEMPLATE_FILES).values():
        print(f"  {folder / dest.format(name=args.name)}")
    if lang == "c":
        print(f'next: cmake -S {folder} -B {folder / "build"} -Dgpi_DIR="$(gpi sdk --cmakedir)" && '
              f"cmake --build {folder / 'build'} && ctest --test-dir {folder / 'build'}")
    else:
        print(f"next: python -m pytest {folder / 'tests'}")
    return 0
