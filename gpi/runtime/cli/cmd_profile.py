"""``gpi profile``: run plugins headless for N ticks and report what every system costs.

``gpi profile PLUGIN_DIR... --ticks N [--out DIR] [--leak-check]`` loads the
plugins into a :class:`~gpi.runtime.app.App` with no window, runs N ticks as
fast as they go (one telemetry frame per tick) with a progress bar, then
prints the per-system table and writes under ``--out`` (default
``out/profile``): ``trace.json`` (Chrome trace; open it in Perfetto),
``frame_times.png``, ``systems.txt`` and, with ``--leak-check``,
``leaks.txt``: the RSS growth of the host and each child (sampled every
``--memory-every`` ticks, first 20 % skipped as warm-up; a line fitted
through the rest, suspect above ``--max-growth`` MiB per 1000 ticks, see
:mod:`gpi.runtime.telemetry.memory`) and how many records the app, its
telemetry and its host retain at the end of the warm-up and at the end. A
suspect leak makes the exit status 3 so CI can gate on it; a plugin
disabled by the circuit breaker makes it 1, and with ``--strict`` any fault does. The trace is
streamed to disk as the run goes (every call of the run, held nowhere in
memory). With ``--leak-check`` the statistics windows are as long as the
warm-up (at most 600 ticks), so they are full before the measured part. ``--render`` draws every tick
offscreen (scene and overlay, SDL + EGL) so frame times include rendering.

The helpers here (:func:`check_plugin_dirs`, :func:`progress_bar`) are shared
by ``gpi run`` and ``gpi demo``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gpi.runtime.telemetry.memory import DEFAULT_MAX_SLOPE_MIB

__all__ = ["check_plugin_dirs", "positive_int", "progress_bar", "register"]


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def check_plugin_dirs(dirs: Sequence[str]) -> list[Path] | str:
    """The folders as paths, or an error message naming the first one that is not a plugin."""
    out = []
    for d in dirs:
        p = Path(d)
        if not p.is_dir():
            return f"plugin folder {d!r} does not exist"
        if not (p / "plugin.toml").is_file():
            return f"{d!r} is not a plugin folder (no plugin.toml); create one with `gpi new NAME`"
        out.append(p)
    return out


@contextmanager
def progress_bar(total: int, description: str, *, enabled: bool = True) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on stderr; yields ``update(done)``."""
    if not enabled:
        yield lambda done: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("ticks"),
                  TimeRemainingColumn(), console=Console(stderr=True), transient=False) as prog:
        task = prog.add_task(description, total=total)
        yield lambda done: prog.update(task, completed=done)


LEAK_WARMUP = 0.2
"""Fraction of the ticks the leak check skips (caches and bounded windows fill first)."""


def _retained_table(retained: dict[str, tuple[int, int]], warm: int) -> Any:
    """Records held at the end of the warm-up and at the end, per store."""
    from rich.table import Table

    table = Table(title="retained records")
    for col, justify in (("store", "left"), (f"tick {warm}", "right"), ("end", "right"), ("growth", "right")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for name, (a, b) in sorted(retained.items()):
        table.add_row(name, str(a), str(b), f"{b - a:+d}")
    return table


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``gpi profile``."""
    p = subparsers.add_parser(
        "profile",
        help="run plugins headless for N ticks; per-system table, Chrome trace, frame-time plot",
        description="Run plugins headless for N ticks and report per-system timings: a table, a "
                    "Chrome trace (Perfetto), a frame-time PNG and optionally an RSS leak check.",
    )
    p.add_argument("plugins", nargs="+", metavar="PLUGIN_DIR", help="plugin folders to load")
    p.add_argument("--ticks", type=positive_int, required=True, help="ticks to run")
    p.add_argument("--out", default="out/profile", help="output folder (default: out/profile)")
    p.add_argument("--leak-check", action="store_true", help="report RSS growth of host and children")
    p.add_argument("--max-growth", type=float, default=DEFAULT_MAX_SLOPE_MIB, metavar="MIB",
                   help=f"leak check: suspect above this many MiB per 1000 ticks (default {DEFAULT_MAX_SLOPE_MIB})")
    p.add_argument("--memory-every", type=non_negative_int, default=None,
                   help="ticks between RSS samples (default: 60, or ticks/100 with --leak-check)")
    p.add_argument("--isolation", choices=("process", "none"), default="process",
                   help="run plugins in sandboxed children (process) or in the host (none)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="world seed (default 0)")
    p.add_argument("--population", type=non_negative_int, default=None,
                   help="set the 'population' resource (the spawner example's target)")
    p.add_argument("--render", action="store_true",
                   help="draw every tick offscreen (scene + overlay) so frame times include rendering")
    p.add_argument("--screenshot", default=None, metavar="FILE",
                   help="with --render: save the last frame (scene + overlay) as a PNG")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--strict", action="store_true",
                   help="exit 1 on any plugin fault (without it: only when a plugin was disabled)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Handler of ``gpi profile``."""
    from rich.console import Console

    from gpi.errors import GpiError
    from gpi.runtime.app import App, AppConfig
    from gpi.runtime.cli.outcome import run_outcome

    # Messages are whole lines: no wrapping at the terminal width, no markup in paths.
    err = Console(stderr=True, soft_wrap=True, markup=False, highlight=False)
    dirs = check_plugin_dirs(args.plugins)
    if isinstance(dirs, str):
        err.print(f"gpi profile: error: {dirs}")
        return 2
    if args.screenshot is not None and not args.render:
        err.print("gpi profile: error: --screenshot needs --render")
        return 2
    every = args.memory_every
    if every is None:
        every = max(1, args.ticks // 100) if args.leak_check else 60
    warm = int(args.ticks * LEAK_WARMUP)
    # a leak check measures after the warm-up, so every bounded window must be full by then
    window = max(60, min(warm, 600)) if args.leak_check else max(600, min(args.ticks, 10_000))
    cfg = AppConfig(plugins=dirs, seed=args.seed, isolation=args.isolation, render=args.render,
                    headless=True, overlay=args.render,
                    population=args.population, memory_every=every,
                    telemetry_window=window, telemetry_history=window, host_records=window,
                    trace_path=Path(args.out) / "trace.json")
    try:
        with App(cfg) as app:
            app.start()
            retained: dict[str, tuple[int, int]] = {}
            with progress_bar(args.ticks, "profiling", enabled=not args.no_progress) as update:
                shots = {app.tick + args.ticks: args.screenshot} if args.screenshot else None
                first = app.retained()
                if warm:  # the retained counts once warm, then at the end
                    app.run_headless(warm, render_every=1 if args.render else 0, progress=update)
                    first = app.retained()
                app.run_headless(args.ticks - warm, render_every=1 if args.render else 0, screenshots=shots,
                                 progress=lambda done: update(warm + done))
                retained = {k: (first.get(k, 0), v) for k, v in app.retained().items()}
            app.telemetry.sample_memory(app.tick, app.child_pids())
            report = app.write_profile(args.out, leak_warmup=LEAK_WARMUP, max_slope_mib=args.max_growth)
            problems = app.telemetry.validate()
            code, reasons = run_outcome(app.host, strict=args.strict)
    except (GpiError, OSError) as exc:
        err.print(f"gpi profile: error: {exc}")
        return 1
    out = Console(width=None if sys.stdout.isatty() else 140)
    out.print(report.systems)
    out.print(f"trace: {report.trace} (open in https://ui.perfetto.dev)")
    if report.plot is not None:
        out.print(f"frame times: {report.plot}")
    out.print(f"table: {report.systems_txt}")
    for problem in problems[:5]:
        err.print(f"telemetry warning: {problem}")
    if args.leak_check:
        if report.leaks_table is not None:
            out.print(report.leaks_table)
            out.print(f"leak report: {report.leaks_txt}")
        else:
            err.print("leak check: fewer than two memory samples; run more ticks or lower --memory-every")
        out.print(_retained_table(retained, warm))
        if report.suspect_leaks:
            names = ", ".join(r.label for r in report.suspect_leaks)
            err.print(f"leak check: suspect RSS growth in {names}")
            return 3
    for reason in reasons:
        err.print(f"gpi profile: failed: {reason}")
    return code


if __name__ == "__main__":  # pragma: no cover
    from gpi.runtime.cli import main

    sys.exit(main(["profile", *sys.argv[1:]]))
