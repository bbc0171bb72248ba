"""``gpi replay``: inspect, verify, compare, play and render ``.gpir`` replays.

- ``gpi replay info FILE [--json]``: header, tick count, keyframes, bytes per
  tick, and where a damaged (truncated or corrupt) tail starts;
- ``gpi replay verify FILE [--jobs N] [--isolation confined|process|none]
  [--all-systems]``: re-simulate and compare every tick; names the first
  divergent tick and what differs (exit 1 on divergence). By default the
  plugins run inside sandboxed worker processes (``confined``), one per CPU
  for long replays, each re-simulating the segments between keyframes (see
  :mod:`gpi.replays.parallel`), and systems that cannot change the world
  (draw-only) are skipped;
- ``gpi replay diff A B``: the first tick where two recordings part;
- ``gpi replay play FILE [--to TICK] [--window]``: re-simulate headless to a
  tick and print its checksum, or play in a window
  (:func:`gpi.runtime.replay.render.play`);
- ``gpi replay render FILE --ticks 10,50 --out DIR`` (or ``--tick T`` repeated):
  PNGs of chosen ticks (:func:`gpi.runtime.replay.render.render`).

``--plugins DIR`` (repeatable) tells the simulator where to look for the
replay's plugins when the recorded folders are gone.

Re-simulation needs a simulator, built by a factory ``f(header) ->
Simulator`` (see :mod:`gpi.replays.verify`). ``--simulator module:function``
or ``path/to/file.py:function`` names it; the default is
``$GPI_REPLAY_SIMULATOR`` or ``gpi.runtime.replay.simulation:make_simulator``.
A factory may take keyword arguments ``force``, ``plugins``, ``isolation``,
``skip_effect_free`` and ``data_dir``; it gets those it names. Playing in a
window and rendering draw the simulator's ``world`` through the app's scene
(:mod:`gpi.runtime.scene`). When no simulator can be built, or it has no
world to draw, the command says so and exits 2.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import importlib.util
import inspect
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from gpi.replays import (
    Replay,
    ReplayError,
    ReplayHeader,
    SimulatorUnavailableError,
    VerifyPool,
    VerifyResult,
    diff,
    diff_simulated,
    seek,
    verify,
    verify_parallel,
)
from gpi.replays.parallel import segments
from gpi.runtime.cli.replay_info import info_dict, print_info
from gpi.safetext import neutralise

__all__ = ["DEFAULT_SIMULATOR", "load_simulator", "register", "worker_simulator"]

DEFAULT_SIMULATOR = "gpi.runtime.replay.simulation:make_simulator"
#: ``verify --jobs auto`` goes parallel from this many ticks (30 s at 60 Hz):
#: below it, starting the workers costs more than they save
AUTO_PARALLEL_TICKS = 1800


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``gpi replay`` and its sub-commands."""
    p = subparsers.add_parser(
        "replay",
        help="inspect, verify, compare, play and render .gpir replays",
        description="Inspect, verify, compare, play and render deterministic replays (.gpir).",
    )
    sub = p.add_subparsers(dest="replay_command", metavar="ACTION")
    sub.required = True

    def sim_opts(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "--simulator",
            default=os.environ.get("GPI_REPLAY_SIMULATOR", DEFAULT_SIMULATOR),
            help="simulator factory, module:function or file.py:function "
            f"(default: $GPI_REPLAY_SIMULATOR or {DEFAULT_SIMULATOR})",
        )
        sp.add_argument(
            "--force",
            action="store_true",
            help="replay even if the loaded plugins differ from the recorded ones",
        )
        sp.add_argument(
            "--plugins",
            action="append",
            default=[],
            metavar="DIR",
            help="where to look for the replay's plugins (a plugin folder or a folder of them; "
            "repeat); the folders recorded in the replay are tried first",
        )

    info = sub.add_parser("info", help="header, ticks, keyframes, size and damage of a replay")
    info.add_argument("file", type=Path)
    info.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    info.set_defaults(handler=_info)

    ver = sub.add_parser("verify", help="re-simulate and compare every tick's checksum")
    ver.add_argument("file", type=Path)
    ver.add_argument("--no-progress", action="store_true", help="no progress bar")
    ver.add_argument(
        "--jobs",
        type=_jobs,
        default="auto",
        metavar="N",
        help="worker processes re-simulating the segments between keyframes in parallel "
        f"(default auto: one per CPU for replays of {AUTO_PARALLEL_TICKS}+ ticks, else 1)",
    )
    ver.add_argument(
        "--isolation",
        choices=("confined", "process", "none"),
        default=None,
        help="confined (default, or $GPI_REPLAY_ISOLATION): all plugins inside sandboxed worker "
        "processes, no per-call IPC; "
        "process: each plugin in its own sandboxed child with per-call deadlines, as the host "
        "runs them; none: in this process, unconfined (only for plugins you trust)",
    )
    ver.add_argument(
        "--all-systems",
        action="store_true",
        help="also run systems that cannot change the world (no writes, spawns, resources, "
        "events or saves: draw-only systems), which verify skips by default",
    )
    sim_opts(ver)
    ver.set_defaults(handler=_verify)

    dif = sub.add_parser("diff", help="the first tick where two recordings part")
    dif.add_argument("a", type=Path)
    dif.add_argument("b", type=Path)
    dif.add_argument(
        "--simulator",
        default=None,
        help="re-simulate both side by side with this factory (exact, names components); "
        "without it the files are compared as recorded",
    )
    dif.add_argument("--force", action="store_true", help="ignore plugin mismatches")
    dif.add_argument(
        "--plugins", action="append", default=[], metavar="DIR", help="where to look for plugins"
    )
    dif.set_defaults(handler=_diff)

    play = sub.add_parser("play", help="re-simulate to a tick (headless) or play in the window")
    play.add_argument("file", type=Path)
    play.add_argument("--to", type=int, default=None, help="tick to stop at (default: the last)")
    play.add_argument(
        "--window", action="store_true", help="play in the window (needs the runtime)"
    )
    sim_opts(play)
    play.set_defaults(handler=_play)

    ren = sub.add_parser("render", help="write PNGs of chosen ticks")
    ren.add_argument("file", type=Path)
    ren.add_argument(
        "--tick", type=int, action="append", default=[], help="tick to render (repeat)"
    )
    ren.add_argument("--ticks", default="", help="ticks to render, comma-separated (e.g. 10,50)")
    ren.add_argument("--out", type=Path, default=Path("."), help="folder for the PNGs")
    sim_opts(ren)
    ren.set_defaults(handler=_render)


# -- helpers -------------------------------------------------------------------


def _err(msg: str) -> None:
    print(f"gpi replay: {msg}", file=sys.stderr)


def _open(path: Path) -> Replay:
    """Open a replay; an unreadable one is reported and ends the command with status 1."""
    try:
        return Replay.open(path)
    except FileNotFoundError as exc:
        _err(f"{path}: no such file")
        raise _Exit(1) from exc
    except IsADirectoryError as exc:
        _err(f"{path}: is a folder, not a replay file")
        raise _Exit(1) from exc
    except (ReplayError, OSError) as exc:
        _err(str(exc))
        raise _Exit(1) from exc


def _load_hook(spec: str) -> tuple[ModuleType, str]:
    if ":" not in spec:
        raise SimulatorUnavailableError(f"simulator spec {spec!r} must look like module:function")
    mod_name, _, attr = spec.rpartition(":")
    try:
        if mod_name.endswith(".py"):
            path = Path(mod_name)
            uspec = importlib.util.spec_from_file_location(f"_gpi_replay_sim_{path.stem}", path)
            if uspec is None or uspec.loader is None or not path.is_file():
                raise ImportError(f"no file {path}")
            module = importlib.util.module_from_spec(uspec)
            sys.path.insert(0, str(path.resolve().parent))
            try:
                uspec.loader.exec_module(module)
            finally:
                sys.path.remove(str(path.resolve().parent))
        else:
            module = importlib.import_module(mod_name)
    except ImportError as exc:
        raise SimulatorUnavailableError(
            f"cannot import the simulator module {mod_name!r} ({exc}); "
            "pass --simulator module:function, or set GPI_REPLAY_SIMULATOR"
        ) from exc
    return module, attr


def load_simulator(
    spec: str,
    header: ReplayHeader,
    *,
    force: bool = False,
    plugins: list[str] | None = None,
    **options: Any,
) -> tuple[Any, ModuleType]:
    """Build a simulator for ``header`` from a factory spec; returns it and its module.

    ``plugins`` (``--plugins``) and each of ``options`` (e.g. ``isolation``,
    ``skip_effect_free``) go to factories that take an argument of that name.
    """
    module, attr = _load_hook(spec)
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise SimulatorUnavailableError(
            f"the simulator module {module.__name__} has no function {attr!r}; "
            "pass --simulator module:function, or set GPI_REPLAY_SIMULATOR"
        )
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        params = {}  # type: ignore[assignment]
    kwargs: dict[str, Any] = {"force": force} if "force" in params else {}
    if plugins and "plugins" in params:
        kwargs["plugins"] = list(plugins)
    kwargs.update({k: v for k, v in options.items() if v is not None and k in params})
    sim = factory(header, **kwargs)
    return sim, module


def worker_simulator(header: ReplayHeader, spec: str, options: dict[str, Any]) -> Any:
    """A parallel-verify worker's factory: :func:`load_simulator`'s simulator alone (it pickles)."""
    return load_simulator(spec, header, **options)[0]


class _Exit(Exception):
    """Ends a sub-command with an exit code; the message has been printed already."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def _exits(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Turn an :class:`_Exit` raised by ``handler`` into its exit code."""

    @functools.wraps(handler)
    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except _Exit as stop:
            return stop.code

    return run


@contextlib.contextmanager
def _simulator_errors() -> Iterator[None]:
    """Print a simulator's error and exit: 2 when none is available, 1 when the replay is refused."""
    try:
        yield
    except SimulatorUnavailableError as exc:
        _err(str(exc))
        raise _Exit(2) from exc
    except ReplayError as exc:
        _err(str(exc))
        raise _Exit(1) from exc


def _simulator(args: argparse.Namespace, header: ReplayHeader, **options: Any) -> tuple[Any, ModuleType]:
    """The ``--simulator`` for ``header`` (see :func:`_simulator_errors`)."""
    options.setdefault("force", args.force)
    options.setdefault("plugins", args.plugins)
    with _simulator_errors():
        return load_simulator(args.simulator, header, **options)


@_exits
def _info(args: argparse.Namespace) -> int:
    rp = _open(args.file)
    with rp:
        d = info_dict(rp)
    if args.json:
        print(json.dumps(d))
    else:
        print_info(d, str(args.file))
    return 0


def _jobs(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"--jobs takes a positive number or 'auto', not {text!r}")
    return n


def _factory_accepts(spec: str, name: str) -> bool:
    """Whether the simulator factory ``spec`` takes an argument called ``name``."""
    try:
        module, attr = _load_hook(spec)
        return name in inspect.signature(getattr(module, attr)).parameters
    except (ReplayError, AttributeError, TypeError, ValueError):
        return False


def _verify_jobs(args: argparse.Namespace, rp: Replay) -> int:
    """Worker processes for ``verify``: never more than there are keyframe segments."""
    n_segments = len(segments(rp))
    if args.jobs == "auto":
        wanted = (os.cpu_count() or 1) if rp.tick_count >= AUTO_PARALLEL_TICKS else 1
    else:
        wanted = int(args.jobs)
    return max(1, min(wanted, n_segments))


@_exits
def _verify(args: argparse.Namespace) -> int:
    rp = _open(args.file)
    with rp:
        args.isolation = args.isolation or os.environ.get("GPI_REPLAY_ISOLATION") or "confined"
        options: dict[str, Any] = {"force": args.force, "plugins": args.plugins,
                                   "isolation": args.isolation,
                                   "skip_effect_free": not args.all_systems}
        jobs = _verify_jobs(args, rp)
        # only a factory that knows isolation modes can confine (the default one does)
        confined = args.isolation == "confined" and _factory_accepts(args.simulator, "isolation")
        local: list[Any] = []

        def simulator() -> Any:  # the one that runs serially, or localises a divergence
            if not local:  # confinement is for workers: this process localises with sandboxed children
                here = {**options, "isolation": "process"} if confined else options
                local.append(_simulator(args, rp.header, **here)[0])
            return local[0]

        from rich.console import Console

        con = Console()

        def run(progress: Callable[[int, int], None] | None) -> VerifyResult:
            if jobs == 1 and not confined:
                return verify(rp, simulator(), progress=progress)
            with tempfile.TemporaryDirectory(prefix="gpi-verify-") as tmp:
                factory = functools.partial(worker_simulator, spec=args.simulator,
                                            options={**options, "data_dir": tmp})
                with _simulator_errors(), VerifyPool(rp.path, factory, jobs) as pool:
                    return verify_parallel(rp, pool, simulator, progress=progress)

        if args.no_progress or rp.tick_count < 600:
            res = run(None)
        else:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

            with Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=con,
                transient=True,
            ) as bar:
                label = "verifying" if jobs == 1 else f"verifying ({jobs} workers)"
                task = bar.add_task(label, total=rp.tick_count)
                res = run(lambda done, total: bar.update(task, completed=done))
        if res.ok and res.incomplete:  # every tick it holds matched, but it holds too few
            con.print(f"[yellow]INCOMPLETE[/yellow] {neutralise(res.message, markup=True)}", highlight=False,
                      soft_wrap=True)
            return 1
        if res.ok:
            con.print(f"[green]OK[/green] {neutralise(res.message, markup=True)}")
            return 0
        con.print(f"[red]DIVERGED[/red] {neutralise(res.message, markup=True)}")
        if res.details:
            from rich.table import Table

            t = Table(title=f"differences ({res.details_source})")
            for col in ("component", "entity", "expected", "actual", "written by"):
                t.add_column(col)
            for dd in res.details[:50]:
                t.add_row(*(neutralise(cell, markup=True, limit=200) for cell in (  # plugin-written values
                    dd.component, str(dd.entity), repr(dd.expected), repr(dd.actual), ", ".join(dd.systems))))
            con.print(t)
            if len(res.details) > 50:
                con.print(f"... and {len(res.details) - 50} more")
        elif res.details_source:
            con.print(neutralise(res.details_source, markup=True))
        return 1


@_exits
def _diff(args: argparse.Namespace) -> int:
    ra = _open(args.a)
    with ra:
        rb = _open(args.b)
        with rb:
            if args.simulator:
                sim_a, _ = _simulator(args, ra.header)
                sim_b, _ = _simulator(args, rb.header)
                res = diff_simulated(ra, sim_a, rb, sim_b)
            else:
                res = diff(ra, rb)
    for line in res.header_differences:
        print(f"header: {line}")
    print(res.message)
    for d in res.details[:50]:
        print(f"  {d.describe()}")
    return 0 if res.same else 1


def _drawable(args: argparse.Namespace, sim: Any, what: str) -> bool:
    """Whether ``sim`` has a world to draw; says so (for ``what``) when it has none."""
    if hasattr(sim, "world"):
        return True
    _err(f"{what} draws the simulator's world, and the one from {args.simulator} has none")
    return False


@_exits
def _play(args: argparse.Namespace) -> int:
    rp = _open(args.file)
    with rp:
        sim, _ = _simulator(args, rp.header)
        if args.window:
            if not _drawable(args, sim, "windowed playback"):
                return 2
            from gpi.runtime.replay.render import play

            return play(rp, sim, to=args.to)
        last = rp.last_tick
        if last is None:
            _err(f"{args.file}: the replay holds no ticks")
            return 1
        to: int = last if args.to is None else int(args.to)
        try:
            seek(rp, sim, to)
        except ReplayError as exc:
            _err(str(exc))
            return 1
        print(f"simulated to tick {to}, checksum {sim.checksum():#018x}")
        return 0


@_exits
def _render(args: argparse.Namespace) -> int:
    rp = _open(args.file)
    with rp:
        sim, _ = _simulator(args, rp.header)
        if not _drawable(args, sim, "rendering"):
            return 2
        ticks = list(args.tick)
        try:
            ticks += [int(t) for t in args.ticks.split(",") if t.strip()]
        except ValueError:
            _err(f"--ticks {args.ticks!r}: expected comma-separated tick numbers, e.g. 10,50")
            return 1
        if not ticks:
            _err("name the ticks to render with --ticks 10,50 or --tick T (repeat)")
            return 1
        from gpi.runtime.replay.render import render

        for path in render(rp, sim, ticks, args.out):
            print(path)
        return 0
