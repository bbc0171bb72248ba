"""``gpi run PLUGIN_DIR... --ticks N``: run plugins headless and print what they cost.

Builds a world, loads the plugin folders into a
:class:`~gpi.plugins.host.PluginHost` (children in the sandbox by default, or
``--isolation none``), runs ``N`` fixed ticks as fast as they go with a rich
progress bar, and prints a summary: entities, ticks per second, per-system
mean times (host-observed and child-reported), faults, and the final world
checksum (the same seed and inputs always give the same checksum).

:func:`run_headless` is the engine; ``gpi demo`` uses it with the example plugins.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["register", "run_headless", "scripted_keys"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``gpi run``."""
    p = subparsers.add_parser(
        "run",
        help="run plugin folders headless for N ticks and print a summary",
        description="Load plugin folders into a world and run them headless.",
    )
    p.add_argument("plugins", nargs="+", type=Path, metavar="PLUGIN_DIR", help="plugin folders (with plugin.toml)")
    add_common(p, ticks=600)
    p.set_defaults(handler=_run)


def add_common(p: argparse.ArgumentParser, *, ticks: int) -> None:
    """Options shared by ``gpi run`` and ``gpi demo``."""
    p.add_argument("--ticks", type=int, default=ticks, help=f"ticks to run (default {ticks})")
    p.add_argument("--isolation", choices=("process", "none"), default="process",
                   help="run plugins in child processes (default) or in this process")
    p.add_argument("--no-sandbox", action="store_true", help="do not confine plugin children")
    p.add_argument("--serial", action="store_true", help="run the systems of a wave one after another")
    p.add_argument("--seed", type=int, default=0, help="world seed (default 0)")
    p.add_argument("--dt", type=float, default=1 / 60, help="fixed step in seconds (default 1/60)")
    p.add_argument("--population", type=int, default=None, help="set the 'population' resource")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def scripted_keys(tick: int) -> dict[str, Any]:
    """A fixed input script: the held arrow key turns every second, with pauses."""
    if tick % 90 >= 75:
        return {"keys": []}
    return {"keys": [("right", "up", "left", "down")[(tick // 90) % 4]]}


def _run(args: argparse.Namespace) -> int:
    return run_headless(args.plugins, args)


def run_headless(
    plugin_dirs: Sequence[Path],
    args: argparse.Namespace,
    *,
    title: str = "gpi run",
    resources: Mapping[str, Any] | None = None,
    input_script: Callable[[int], Mapping[str, Any]] = scripted_keys,
) -> int:
    """Run ``plugin_dirs`` for ``args.ticks`` ticks and print the summary; returns the exit code."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )
    from rich.table import Table

    from gpi.ecs import World
    from gpi.errors import GpiError
    from gpi.plugins.host import PluginHost

    console = Console()
    stats: dict[str, list[int]] = {}

    def on_record(rec: dict[str, Any]) -> None:
        s = stats.setdefault(f"{rec['plugin']}.{rec['system']}", [0, 0, 0, 0, 0])
        s[0] += 1
        s[1] += rec["host_ns"]
        s[2] += rec["child_ns"]
        s[3] += rec["cmd_bytes"]
        s[4] += rec["status"] != "ok"

    sandbox = False if args.no_sandbox else None
    with World(seed=args.seed) as world, PluginHost(
        world, isolation=args.isolation, dt=args.dt, sandbox=sandbox, parallel=not args.serial,
        on_call_record=on_record,
    ) as host:
        try:
            host.load(*plugin_dirs)
        except GpiError as exc:
            console.print(f"[red]error:[/red] {exc}")
            return 1
        for name, value in (resources or {}).items():
            world.insert_resource(name, value)
        if args.population is not None:
            world.insert_resource("population", int(args.population))
        console.print(f"[bold]{title}[/bold]: {len(host.plugins)} plugins, {len(host.schedule)} systems, "
                      f"isolation={host.isolation}, sandbox={'on' if host.sandbox and host.isolation == 'process' else 'off'}")
        progress = Progress(TextColumn("[progress.description]{task.description}"), BarColumn(),
                            MofNCompleteColumn(), TextColumn("{task.fields[rate]}"), TimeRemainingColumn(),
                            console=console, disable=args.quiet, transient=True)
        t0 = time.perf_counter()
        with progress:
            task = progress.add_task("ticking", total=args.ticks, rate="")
            for t in range(args.ticks):
                host.tick(input_script(t))
                if t % 10 == 9 or t == args.ticks - 1:
                    rate = (t + 1) / max(time.perf_counter() - t0, 1e-9)
                    progress.update(task, completed=t + 1, rate=f"{rate:,.0f} ticks/s  {world.entity_count:,} entities")
        elapsed = time.perf_counter() - t0
        checksum = world.checksum()

        table = Table(title=f"{title}: {args.ticks} ticks in {elapsed:.2f} s")
        width = max((len(k) for k in host.system_keys()), default=6)
        table.add_column("system", no_wrap=True, min_width=width)
        for col in ("calls", "host mean ms", "child mean ms", "KiB/call", "faults"):
            table.add_column(col, justify="right")
        for key in host.system_keys():
            n, host_ns, child_ns, nbytes, bad = stats.get(key, [0, 0, 0, 0, 0])
            d = max(n, 1)
            table.add_row(key, str(n), f"{host_ns / d / 1e6:.3f}", f"{child_ns / d / 1e6:.3f}",
                          f"{nbytes / d / 1024:.1f}", str(bad))
        console.print(table)
        summary = Table(show_header=False, title="summary")
        summary.add_column("what")
        summary.add_column("value", justify="right")
        summary.add_row("entities", f"{world.entity_count:,}")
        summary.add_row("ticks/s", f"{args.ticks / max(elapsed, 1e-9):,.1f}")
        summary.add_row("faults", str(len(host.faults)))
        summary.add_row("checksum", f"{checksum:#018x}")
        for lp in host.plugins.values():
            layers = (lp.sandbox or {}).get("layers") or {}
            active = [n for n, layer in layers.items() if layer.get("active")]
            summary.add_row(f"plugin {lp.name}", f"{lp.status}, restarts {lp.restarts}, sandbox: {', '.join(active) or 'none'}")
        console.print(summary)
        for f in host.faults[:5]:
            console.print(f"[yellow]fault[/yellow] tick {f['tick']} {f['kind']}: {f['error'].splitlines()[0]}")
    return 0
