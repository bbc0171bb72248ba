"""What every benchmark shares: its flags, its targets, interleaved medians and its report.

A benchmark script (``benchmarks/NAME_bench.py``) measures, then reports as
``/work/shared/BENCHMARKS.md`` says: a rich table of figures, a table of
targets, and with ``--json`` a last line holding one JSON object::

    {"figures": {"name": number, ...},
     "targets": {"name": {"value": v, "op": "<=", "target": t, "met": true}, ...}}

Scripts import this module as ``_common``. Run as ``python benchmarks/NAME.py``,
the script's own folder is already ``sys.path[0]``; :func:`use` also puts it
there, for scripts loaded some other way::

    import _common as bc   # after benchmarks/ is on sys.path

    args = bc.parse_args(__doc__)
    med = bc.interleaved_medians({"gpi": tick_gpi, "numpy": tick_numpy}, reps=5, time_calls=True)
    targets = {"speedup": bc.target(med["numpy"] / med["gpi"], ">=", 2)}
    bc.report(figures, targets, bc.figures_table(figures, "title"), json_line=args.json)
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": lambda v, t: v <= t,
    "<": lambda v, t: v < t,
    ">=": lambda v, t: v >= t,
    ">": lambda v, t: v > t,
}


def use() -> Path:
    """Put the repository root on ``sys.path`` (so ``import gpi`` works); returns the root."""
    for p in (str(ROOT), str(HERE)):
        if p not in sys.path:
            sys.path.insert(0, p)
    return ROOT


def parse_args(
    doc: str | None,
    argv: Sequence[str] | None = None,
    *,
    quick_help: str = "smaller sizes, fewer repetitions (CI)",
    add: Callable[[argparse.ArgumentParser], Any] | None = None,
) -> argparse.Namespace:
    """The flags every benchmark takes: ``--quick`` and ``--json`` (``add`` adds its own)."""
    ap = argparse.ArgumentParser(description=(doc or "").strip().splitlines()[0] if doc else None)
    ap.add_argument("--quick", action="store_true", help=quick_help)
    ap.add_argument("--json", action="store_true", help="end with one JSON line of figures and targets")
    if add is not None:
        add(ap)
    return ap.parse_args(argv)


def met(value: float, op: str, goal: float) -> bool:
    """Whether ``value op goal`` holds (``op`` one of ``<= < >= >``)."""
    try:
        return bool(OPS[op](value, goal))
    except KeyError:
        raise ValueError(f"target op must be one of {sorted(OPS)}, got {op!r}") from None


def target(value: Any, op: str, goal: float, **extra: Any) -> dict[str, Any]:
    """A target entry ``{value, op, target, met}`` (plus ``extra`` keys, e.g. a note)."""
    return {"value": value, "op": op, "target": goal, "met": met(value, op, goal), **extra}


def timed(fn: Callable[[], Any], calls: int = 1) -> Callable[[], float]:
    """A side for :func:`interleaved_medians`: seconds per call of ``fn`` over ``calls`` calls."""

    def side() -> float:
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        return (time.perf_counter() - t0) / calls

    return side


def interleaved_medians(
    sides: Mapping[str, Callable[[], Any]],
    reps: int,
    *,
    time_calls: bool = False,
    calls: int | Mapping[str, int] = 1,
    warmup: bool = False,
    gc_off: bool = False,
) -> dict[str, float]:
    """Median per side over ``reps`` rounds, the sides taking turns (A B A B ...).

    ``time_calls=False``: each side returns its own measurement (a number).
    ``time_calls=True``: each side is timed, seconds per call over ``calls``
    calls (one count for all, or one per side). ``warmup``: every side runs
    once, untimed, first. ``gc_off``: the collector is paused while measuring.
    """
    if reps < 1:
        raise ValueError(f"reps must be >= 1, got {reps}")
    run: dict[str, Callable[[], Any]] = {}
    for name, fn in sides.items():
        n = calls if isinstance(calls, int) else calls[name]
        run[name] = timed(fn, n) if time_calls else fn
    if warmup:
        for fn in sides.values():
            fn()
    samples: dict[str, list[float]] = {k: [] for k in run}
    was_enabled = gc.isenabled()
    if gc_off:
        gc.disable()
    try:
        for _ in range(reps):
            for name, fn in run.items():
                samples[name].append(float(fn()))
    finally:
        if gc_off and was_enabled:
            gc.enable()
    return {k: statistics.median(v) for k, v in samples.items()}


def label(n: int) -> str:
    """``10_000 -> "10k"``, ``1_000_000 -> "1m"`` (figure-name sizes)."""
    return f"{n // 1_000_000}m" if n >= 1_000_000 else f"{n // 1000}k"


def rows_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]], *,
               first: str = "left") -> Any:
    """A rich table: ``columns`` (the first justified ``first``, the rest right) and ``rows``."""
    from rich.table import Table

    t = Table(title=title)
    for i, col in enumerate(columns):
        t.add_column(col, justify=first if i == 0 else "right")  # type: ignore[arg-type]
    for row in rows:
        t.add_row(*(str(cell) for cell in row))
    return t


def _fmt(v: Any) -> str:
    return f"{v:,}" if isinstance(v, int | float) and not isinstance(v, bool) else str(v)


def figures_table(figures: Mapping[str, Any], title: str, keys: Iterable[str] | None = None) -> Any:
    """A two-column table (figure, value) of ``figures`` (or of ``keys`` only)."""
    return rows_table(title, ("figure", "value"),
                      ((k, _fmt(figures[k])) for k in (figures if keys is None else keys)))


def targets_table(targets: Mapping[str, Mapping[str, Any]], title: str = "targets") -> Any:
    """The table of targets: name, value, goal, met."""
    return rows_table(title, ("target", "value", "goal", "met"), (
        (name, tg["value"], f"{tg['op']} {tg['target']}",
         "[green]yes[/green]" if tg["met"] else "[red]MISSED[/red]")
        for name, tg in targets.items()))


def report(
    figures: Mapping[str, Any],
    targets: Mapping[str, Mapping[str, Any]],
    table: Any = None,
    *,
    json_line: bool = False,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Print ``table`` (a rich renderable, a list of them, or None: every figure), the targets, and
    with ``json_line`` the last line: ``{"figures": ..., "targets": ..., **extra}``."""
    from rich.console import Console

    console = Console()
    if table is None:
        table = figures_table(figures, "figures")
    for part in table if isinstance(table, list | tuple) else (table,):
        console.print(part)
    if targets:
        console.print(targets_table(targets))
    if json_line:
        sys.stdout.flush()
        print(json.dumps({"figures": dict(figures), "targets": dict(targets), **(extra or {})}), flush=True)
