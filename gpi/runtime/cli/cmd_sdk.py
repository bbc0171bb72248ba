"""``gpi sdk``: where the native-plugin SDK is (like ``pybind11 --cmakedir``).

``gpi sdk --cmakedir`` prints the folder to pass to CMake as ``-Dgpi_DIR=``;
``--include`` prints the folder of ``gpi_plugin.h``; ``--abi`` the header's ABI
version. With no flag it prints all three.
"""

from __future__ import annotations

import argparse

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``gpi sdk``."""
    p = subparsers.add_parser("sdk", help="print where the native-plugin SDK (C header, CMake package) is",
                              description="Print the folders of the native-plugin SDK shipped with gpi.")
    p.add_argument("--cmakedir", action="store_true", help="the CMake package folder (for -Dgpi_DIR=...)")
    p.add_argument("--include", action="store_true", help="the folder holding gpi_plugin.h")
    p.add_argument("--abi", action="store_true", help="the C ABI version of the header (major.minor)")
    p.set_defaults(handler=_sdk)


def _sdk(args: argparse.Namespace) -> int:
    from gpi.plugins.native import ABI_MAJOR, ABI_MINOR
    from gpi.sdk import cmake_dir, include_dir

    abi = f"{ABI_MAJOR}.{ABI_MINOR}"
    if args.cmakedir:
        print(cmake_dir())
    if args.include:
        print(include_dir())
    if args.abi:
        print(abi)
    if not (args.cmakedir or args.include or args.abi):
        print(f"cmakedir: {cmake_dir()}\ninclude:  {include_dir()}\nabi:      {abi}")
    return 0
