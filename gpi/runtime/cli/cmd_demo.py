"""``gpi demo``: the example simulation (spawner, movement, boids, player), headless for now.

Runs the plugins in ``examples/plugins`` for ``--ticks`` ticks with a scripted
player input and prints the summary of :func:`gpi.runtime.cli.cmd_run.run_headless`:
entities, ticks per second, per-system mean times and the world checksum.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gpi.runtime.cli.cmd_run import add_common, run_headless

__all__ = ["DEMO_PLUGINS", "examples_dir", "register"]

DEMO_PLUGINS = ("movement", "spawner", "boids", "player")


def examples_dir() -> Path:
    """The ``examples/plugins`` folder of this source tree."""
    return Path(__file__).resolve().parents[3] / "examples" / "plugins"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``gpi demo``."""
    p = subparsers.add_parser("demo", help="run the example simulation headless",
                              description="Run the example plugins (spawner, movement, boids, player) headless.")
    add_common(p, ticks=600)
    p.set_defaults(handler=_demo, population=None)
    p.add_argument("--entities", type=int, default=10_000, help="population the spawner keeps (default 10000)")


def _demo(args: argparse.Namespace) -> int:
    root = examples_dir()
    dirs = [root / name for name in DEMO_PLUGINS]
    missing = [d for d in dirs if not (d / "plugin.toml").is_file()]
    if missing:
        print(f"gpi demo: example plugins not found: {', '.join(map(str, missing))}; "
              "run the demo from a source checkout of gpi-sandbox")
        return 1
    if args.population is None:
        args.population = args.entities
    return run_headless(dirs, args, title="gpi demo")
