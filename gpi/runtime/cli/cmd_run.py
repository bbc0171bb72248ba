"""``gpi run``: run plugins (or a scene file) in a window, or headless, and print what they cost.

::

    gpi run PLUGIN_DIR... | --scene FILE [--headless] [--ticks N] [--record FILE]
            [--screenshot TICK:FILE]... [--isolation process|none] [--seed S] ...

Builds a :class:`~gpi.runtime.app.App`: a world, the plugins in sandboxed
children (or in this process with ``--isolation none``), the fixed-step loop,
telemetry and, when there is a screen and ``--headless`` is not given, an
SDL2 window with the ImGui overlay (F1 toggles it) running in real time until
the window closes or ``--ticks`` ticks ran. Headless (no screen, or
``--headless``) runs ``--ticks`` ticks (default: the scene's, else 600) as fast
as they go with a progress bar, rendering offscreen (SDL + EGL) only for
``--screenshot`` ticks. Headless input is a fixed script (:func:`scripted_keys`)
so runs are repeatable; a window uses the keyboard and mouse.

Plugin log lines (``ctx.log``) and fault lines are printed as they happen
at or above ``--log-level``, naming plugin and system, identical repeats
counted. At the end it prints the per-system table (calls, host mean/p95/max, child
CPU, IPC share, KiB per call, faults) and a summary with the entity count,
ticks per second and the world checksum: the same seed and inputs always give
the same checksum. Wrong arguments print a message and exit 2; plugins that
fail to load exit 1, and so does a run in which a plugin was disabled
(circuit breaker) or, with ``--strict``, any fault was recorded.

:func:`run_app` is the engine; ``gpi demo`` uses it with the example plugins.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from gpi.runtime.cli.outcome import run_outcome
from gpi.runtime.cli.terminal import LEVELS, LogPrinter, resource_rows
from gpi.safetext import neutralise

__all__ = ["add_common", "register", "run_app", "scripted_keys"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``gpi run``."""
    p = subparsers.add_parser(
        "run",
        help="run plugin folders or a scene file, in a window or headless",
        description="Load plugin folders (or a scene file) into a world and run them: in a window with "
                    "the profiling overlay when there is a screen, headless otherwise or with --headless.",
    )
    p.add_argument("plugins", nargs="*", type=Path, metavar="PLUGIN_DIR", help="plugin folders (with plugin.toml)")
    p.add_argument("--scene", type=Path, default=None, metavar="FILE",
                   help="a scene TOML file (plugins, seed, ticks, population, camera) instead of PLUGIN_DIRs")
    add_common(p)
    p.set_defaults(handler=_run)


def _positive_int(text: str) -> int:
    from gpi.runtime.cli.cmd_profile import positive_int

    return positive_int(text)


def _non_negative_int(text: str) -> int:
    from gpi.runtime.cli.cmd_profile import non_negative_int

    return non_negative_int(text)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _screenshot(text: str) -> tuple[int, Path]:
    from gpi.runtime.config import parse_screenshot

    try:
        return parse_screenshot(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_common(p: argparse.ArgumentParser, *, ticks_help: str = "the scene's, else 600") -> None:
    """Options shared by ``gpi run`` and ``gpi demo``."""
    p.add_argument("--ticks", type=_positive_int, default=None,
                   help=f"ticks to run (headless default: {ticks_help}; a window runs until closed)")
    p.add_argument("--headless", action="store_true",
                   help="no window even if there is a screen (offscreen rendering for screenshots)")
    p.add_argument("--realtime", action="store_true",
                   help="headless too: pace ticks at the tick rate and draw frames as a window would")
    p.add_argument("--screenshot", type=_screenshot, action="append", default=[], metavar="TICK:FILE",
                   help="save a PNG (with the overlay) once TICK ticks have run; repeatable")
    p.add_argument("--record", type=Path, default=None, metavar="FILE", help="record a replay (.gpir) to FILE")
    p.add_argument("--load", type=Path, default=None, metavar="SNAPSHOT",
                   help="start from a world snapshot (PluginHost.save_world / gpi.plugins.snapshots)")
    p.add_argument("--save", type=Path, default=None, metavar="SNAPSHOT",
                   help="write a world snapshot at the end of the run (load it with --load)")
    p.add_argument("--isolation", choices=("process", "none"), default="process",
                   help="run plugins in sandboxed child processes (default) or in this process")
    p.add_argument("--no-sandbox", action="store_true", help="do not confine plugin children")
    p.add_argument("--no-overlay", action="store_true", help="no profiling overlay (window and screenshots)")
    p.add_argument("--serial", action="store_true", help="run the systems of a wave one after another")
    p.add_argument("--seed", type=_non_negative_int, default=None, help="world seed (default: the scene's, else 0)")
    p.add_argument("--dt", type=_positive_float, default=1 / 60, help="fixed step in seconds (default 1/60)")
    p.add_argument("--population", type=int, default=None, help="set the 'population' resource")
    p.add_argument("--size", default="1280x720", metavar="WxH", help="window size (default 1280x720)")
    p.add_argument("--profile-out", type=Path, default=None, metavar="DIR",
                   help="also write the trace JSON, frame-time PNG and tables to DIR")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--log-level", choices=(*LEVELS, "off"), default="info",
                   help="print plugin log lines (ctx.log) and fault lines at or above this level as they "
                        "happen, naming plugin and system; repeats are counted (default info)")
    p.add_argument("--strict", action="store_true",
                   help="exit 1 on any plugin fault (without it: only when a plugin was disabled)")


def scripted_keys(tick: int) -> dict[str, Any]:
    """A fixed input script: the held arrow key turns every second and a half, with pauses."""
    if tick % 90 >= 75:
        return {"keys": []}
    return {"keys": [("right", "up", "left", "down")[(tick // 90) % 4]]}


def _fail(title: str, message: str, code: int = 2) -> int:
    print(f"{title}: error: {message}", file=sys.stderr)
    return code


def _size(text: str) -> tuple[int, int] | None:
    w, sep, h = text.lower().partition("x")
    try:
        size = (int(w), int(h))
    except ValueError:
        return None
    return size if sep and size[0] >= 64 and size[1] >= 64 else None


def _run(args: argparse.Namespace) -> int:
    from gpi.runtime.config import load_scene
    from gpi.runtime.errors import SceneError

    title = "gpi run"
    if args.scene is not None and args.plugins:
        return _fail(title, "give plugin folders or --scene FILE, not both")
    if args.scene is None and not args.plugins:
        return _fail(title, "nothing to run: give plugin folders (with plugin.toml) or --scene FILE")
    scene = None
    if args.scene is not None:
        try:
            scene = load_scene(args.scene)
        except SceneError as exc:
            return _fail(title, str(exc))
        dirs = list(scene.plugins)
    else:
        found = _discovered()
        dirs = []
        for d in args.plugins:
            if d.is_dir():
                dirs.append(d)
            elif str(d) in found:  # a plugin name, found where `gpi plugins list` looks
                dirs.append(found[str(d)])
            else:
                return _fail(title, f"plugin folder {str(d)!r} does not exist and no plugin of that name "
                                    "was found on the search paths (see `gpi plugins list`)")
    return run_app(dirs, args, title=title, scene=scene)


def _discovered() -> dict[str, Path]:
    """Plugin name -> folder, through the same search paths as ``gpi plugins list`` (gpi.plugins.discovery)."""
    from gpi.plugins.discovery import find_plugins

    try:
        report = find_plugins(project_dir=Path.cwd())
    except OSError:
        return {}
    return {name: Path(p.path) for name, p in report.by_name().items()}


def run_app(
    plugin_dirs: Sequence[Path],
    args: argparse.Namespace,
    *,
    title: str = "gpi run",
    scene: Any = None,
    resources: Mapping[str, Any] | None = None,
    input_script: Callable[[int], Mapping[str, Any]] | None = scripted_keys,
    default_ticks: int = 600,
    final_screenshot: Path | None = None,
    profile_out: Path | None = None,
    render_every: int = 0,
) -> int:
    """Run ``plugin_dirs`` as ``args`` say (see the module docstring); returns the exit code."""
    from rich.console import Console

    from gpi.errors import GpiError
    from gpi.runtime.app import App, AppConfig
    from gpi.runtime.cli.cmd_profile import progress_bar
    from gpi.runtime.window import headless_default

    size = _size(args.size)
    if size is None:
        return _fail(title, f"--size {args.size!r}: expected WxH with both at least 64, e.g. 1280x720")
    console = Console(width=None if sys.stdout.isatty() else 140)
    headless = bool(args.headless or headless_default())
    ticks = args.ticks
    if ticks is None and scene is not None:
        ticks = scene.ticks
    if ticks is None and headless:
        ticks = default_ticks
    shots = {int(t): Path(f) for t, f in args.screenshot}
    if ticks is not None:
        late = sorted(t for t in shots if t > ticks)
        if late:
            return _fail(title, f"--screenshot ticks {late} lie after the last tick ({ticks}); raise --ticks")
    if final_screenshot is not None and ticks is not None:
        shots.setdefault(ticks, final_screenshot)
    realtime = not headless or bool(getattr(args, "realtime", False))
    render = realtime or bool(shots) or render_every > 0
    given = {Path(d).resolve() for d in plugin_dirs}
    cfg = AppConfig(
        plugins=list(plugin_dirs), available=[p for p in _discovered().values() if p.resolve() not in given],
        seed=args.seed if args.seed is not None else (scene.seed if scene else 0),
        isolation=args.isolation, render=render, headless=headless, overlay=not args.no_overlay,
        width=size[0], height=size[1], title=title, tick_rate=1.0 / args.dt,
        population=args.population if args.population is not None else (scene.population if scene else None),
        sandbox=False if args.no_sandbox else None, parallel=not args.serial,
        telemetry_window=max(600, min(ticks or 600, 3600)),  # statistics over the last minute at most
    )
    if scene is not None:
        cfg.camera_center, cfg.camera_zoom = scene.camera_center, scene.camera_zoom
    try:
        app = App(cfg)
    except GpiError as exc:
        return _fail(title, str(exc))
    printer = LogPrinter(console, getattr(args, "log_level", "info"))
    app.host.events.on_log(printer)
    with app:
        try:
            app.start()
        except (GpiError, OSError) as exc:
            console.print(f"[red]error:[/red] {neutralise(exc, markup=True)}", highlight=False, soft_wrap=True)
            return 1
        for name, value in (resources or {}).items():
            app.world.insert_resource(name, value)
        if getattr(args, "load", None) is not None:  # --load SNAPSHOT: world and tick from a snapshot file
            try:
                app.host.load_snapshot(args.load)
            except (GpiError, OSError) as exc:
                return _fail(title, str(exc))
        if headless and input_script is not None:
            app.input_source = input_script
        if args.record is not None and not app.start_recording(args.record):
            return _fail(title, f"cannot record to {str(args.record)!r}: {app.logs[-1] if app.logs else ''}", 1)
        mode = "window" if not headless else ("headless, offscreen rendering" if render else "headless")
        if realtime:
            mode += f", real time at {1.0 / args.dt:g} Hz"
        sandbox = "on" if app.host.sandbox and app.host.isolation == "process" else "off"
        console.print(f"[bold]{title}[/bold]: {len(app.host.plugins)} plugins, {len(app.host.schedule)} systems, "
                      f"isolation={app.host.isolation}, sandbox={sandbox}, {mode}")
        t0 = time.perf_counter()
        try:
            with progress_bar(ticks or 0, "ticking", enabled=not args.quiet and ticks is not None) as update:
                if not realtime:
                    assert ticks is not None
                    app.run_headless(ticks, render_every=render_every, screenshots=shots, progress=update)
                else:
                    app.run_window(ticks, screenshots=shots, progress=update)
                    if final_screenshot is not None and not any(p == final_screenshot for p in app.screenshots_taken):
                        app.render_frame(fresh_overlay=True)
                        app.save_screenshot(final_screenshot)
        except GpiError as exc:
            console.print(f"[red]error:[/red] {neutralise(exc, markup=True)}", highlight=False, soft_wrap=True)
            return 1
        elapsed = time.perf_counter() - t0
        app.stop_recording()
        if getattr(args, "save", None) is not None:  # --save SNAPSHOT: the world as the run ends
            try:
                console.print(f"snapshot: {os.fspath(app.host.save_world(args.save))} (tick {app.host.tick_count})")
            except OSError as exc:
                return _fail(title, f"cannot write snapshot {os.fspath(args.save)!r}: {exc}", 1)
        printer.finish()
        _print_summary(console, app, title, elapsed)
        out_dir = profile_out or getattr(args, "profile_out", None)
        if out_dir is not None:
            report = app.write_profile(out_dir)
            console.print(f"profile: {report.trace} (Perfetto), {report.plot}, {report.systems_txt}")
        for path in app.screenshots_taken:
            console.print(f"screenshot: {os.fspath(path)}")
        if args.record is not None:
            console.print(f"replay: {os.fspath(args.record)}")
        code, reasons = run_outcome(app.host, strict=bool(getattr(args, "strict", False)))
        for reason in reasons:
            console.print(f"[red]failed:[/red] {neutralise(reason, markup=True)}", highlight=False, soft_wrap=True)
    return code


def _print_summary(console: Any, app: Any, title: str, elapsed: float) -> None:
    from rich.markup import escape
    from rich.table import Table

    ticks = app.tick
    faults: dict[str, int] = {}
    for f in app.host.faults:
        key = f"{f.get('plugin')}.{f.get('system')}"
        faults[key] = faults.get(key, 0) + 1
    rows = {f"{r.plugin}.{r.system}": r for r in app.telemetry.system_rows()}
    table = Table(title=f"{title}: {ticks} ticks in {elapsed:.2f} s")
    width = max((len(k) for k in app.host.system_keys()), default=6)
    table.add_column("system", no_wrap=True, min_width=width)
    for col in ("calls", "host mean ms", "p95 ms", "max ms", "child cpu ms", "ipc share", "KiB/call", "faults"):
        table.add_column(col, justify="right")
    for key in app.host.system_keys():
        r = rows.get(key)
        if r is None:
            table.add_row(key, "0", "-", "-", "-", "-", "-", "-", str(faults.get(key, 0)))
            continue
        table.add_row(key, str(r.calls), f"{r.host.mean:.3f}", f"{r.host.p95:.3f}", f"{r.host.max:.3f}",
                      f"{r.child_cpu.mean:.3f}", f"{r.ipc_share:.0%}", f"{r.cmd_bytes.mean / 1024:.1f}",
                      str(faults.get(key, 0)))
    console.print(table)
    summary = Table(show_header=False, title="summary")
    summary.add_column("what")
    summary.add_column("value", justify="right")
    summary.add_row("entities", f"{app.world.entity_count:,}")
    summary.add_row("ticks/s", f"{ticks / max(elapsed, 1e-9):,.1f}")
    frame = app.telemetry.frame_stats()
    summary.add_row("frame ms (mean / p95 / max)", f"{frame.mean:.2f} / {frame.p95:.2f} / {frame.max:.2f}")
    summary.add_row("faults", str(app.host.events.fault_count))
    summary.add_row("checksum", f"{app.world.checksum():#018x}")
    for lp in app.host.plugins.values():
        layers = (lp.sandbox or {}).get("layers") or {}
        active = [n for n, layer in layers.items() if isinstance(layer, Mapping) and layer.get("active")]
        where = ""
        if lp.manifest.kind == "wasm":  # the module is a sandbox of its own, in-process or in a child
            inproc = getattr(app.host, "isolation", "process") == "none"
            where = f"wasm (fuel, memory cap) {'in-process' if inproc else 'in a child'}, "
        summary.add_row(f"plugin {neutralise(lp.name, markup=True)}", f"{lp.status}, restarts {lp.restarts}, "
                        f"{where}sandbox: {neutralise(', '.join(active) or 'none', markup=True)}")
    console.print(summary)
    res = resource_rows(dict(app.world.resources))
    if res:
        table = Table(title="resources")
        table.add_column("resource", no_wrap=True)
        table.add_column("value")
        for name, value in res:
            table.add_row(escape(name), escape(value))
        console.print(table)
    for f in app.host.faults[:5]:  # plugin text: control characters and rich markup neutralised
        first = (str(f["error"]).splitlines() or [""])[0]
        console.print(f"[yellow]fault[/yellow] tick {f['tick']} {neutralise(f['kind'], markup=True)}: "
                      f"{neutralise(first, markup=True, limit=500)}", highlight=False, soft_wrap=True)
    for line in app.logs:
        if "not available" in line or "failed" in line or "recording stopped early" in line:
            console.print(f"[yellow]note[/yellow] {neutralise(line, markup=True)}", highlight=False, soft_wrap=True)
