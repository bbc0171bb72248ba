"""The ``gpi`` command line.

Each sub-command lives in its own module ``gpi/runtime/cli/cmd_<name>.py`` that
defines ``register(subparsers)``; this module finds them, so adding a command
never touches a shared file. A handler returns the process exit code.
Wrong arguments print a clear message and exit with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The full ``gpi`` parser with every ``cmd_*`` module registered."""
    parser = argparse.ArgumentParser(
        prog="gpi",
        description="GPI Sandbox: an ECS game runtime with sandboxed plugin systems.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("cmd_"):
            module = importlib.import_module(f"{__name__}.{info.name}")
            module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gpi`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = args.handler(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
