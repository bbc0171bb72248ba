"""``gpi demo``: the example simulation (spawner, movement, boids, player) with the profiler.

Runs the plugins in ``examples/plugins`` (10 000 boids by default, each plugin
in its own sandboxed child). Where there is a screen (``DISPLAY`` or
``WAYLAND_DISPLAY``) it opens a window in real time with the ImGui overlay
(F1 toggles it; arrow keys or WASD steer the player) until the window closes or
``--ticks`` ran; elsewhere it runs ``--ticks`` (default 600) headless with
SDL's offscreen driver and Mesa EGL, drawing a frame every few ticks. Either
way it leaves a screenshot with the overlay (``out/demo.png``), the profile
files (``out/demo_profile/``: Chrome trace, frame-time PNG, tables) and prints
the per-system table and a summary.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gpi.runtime.cli.cmd_run import add_common, run_app

__all__ = ["DEMO_PLUGINS", "examples_dir", "register"]

DEMO_PLUGINS = ("movement", "spawner", "boids", "player")


def examples_dir() -> Path:
    """The ``examples/plugins`` folder of this source tree."""
    return Path(__file__).resolve().parents[3] / "examples" / "plugins"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``gpi demo``."""
    p = subparsers.add_parser(
        "demo", help="run the example simulation with the profiling overlay (window or headless)",
        description="Run the example plugins (spawner, movement, boids, player): in a window where there "
                    "is a screen, headless otherwise; leaves a screenshot with the overlay and the profile.")
    add_common(p, ticks_help="600")
    p.add_argument("--entities", type=int, default=10_000, help="population the spawner keeps (default 10000)")
    p.add_argument("--out", type=Path, default=Path("out"), help="folder for demo.png and demo_profile/ (default out)")
    p.add_argument("--render-every", type=int, default=6, metavar="N",
                   help="headless: draw a frame every N ticks (default 6; 0: only the screenshot)")
    p.add_argument("--native", action="store_true",
                   help="use the C boids plugin (examples/plugins/boids_native, built with CMake on first use) "
                        "instead of the Python one")
    p.add_argument("--wasm", action="store_true",
                   help="use the same C boids plugin built for WebAssembly (ziglang, on first use), run by "
                        "wasmtime under fuel and memory limits")
    p.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace) -> int:
    root = examples_dir()
    dirs = [root / name for name in DEMO_PLUGINS]
    missing = [d for d in dirs if not (d / "plugin.toml").is_file()]
    if missing:
        print(f"gpi demo: example plugins not found: {', '.join(map(str, missing))}; "
              "run the demo from a source checkout of gpi-sandbox", file=sys.stderr)
        return 1
    if args.native:  # boids steering in C: same behaviour class, faster (docs/plugin-guide.md)
        from gpi.plugins.native.build import BuildError, build_project, plugin_dirs

        try:
            built = plugin_dirs(build_project(root / "boids_native"))["boids_native"]
        except (BuildError, KeyError) as exc:
            print(f"gpi demo: error: cannot build examples/plugins/boids_native: {exc}", file=sys.stderr)
            return 1
        dirs = [built if d.name == "boids" else d for d in dirs]
    elif args.wasm:  # the same C, compiled to wasm32 (docs/abi.md, "WebAssembly")
        from gpi.plugins.native.build import BuildError
        from gpi.plugins.wasm.build import build_plugin

        try:
            built = build_plugin("boids_wasm", [root / "boids_native" / "src" / "boids_native.c"],
                                 capabilities=["draw"], dependencies={"movement": ">=1.0,<2"},
                                 description="boids_native.c built for wasm32")
        except BuildError as exc:
            print(f"gpi demo: error: cannot build the wasm boids plugin: {exc}", file=sys.stderr)
            return 1
        dirs = [built if d.name == "boids" else d for d in dirs]
    if args.entities < 0:
        print(f"gpi demo: error: --entities must be >= 0, got {args.entities}", file=sys.stderr)
        return 2
    if args.render_every < 0:
        print(f"gpi demo: error: --render-every must be >= 0, got {args.render_every}", file=sys.stderr)
        return 2
    if args.population is None:
        args.population = args.entities
    return run_app(dirs, args, title="gpi demo", final_screenshot=args.out / "demo.png",
                   profile_out=args.out / "demo_profile", render_every=args.render_every)
