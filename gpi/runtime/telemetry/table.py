"""Telemetry as rich tables for the terminal (``gpi profile``).

:func:`system_table` is the per-system table the overlay also shows: one row
per ``plugin/system`` with host-observed wall time (mean, p95, max), the
child's own CPU time, the IPC share of the host-observed time and the
command bytes per call, plus a footer with frame-time statistics.
:func:`leak_table` prints a leak-check report.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table

from gpi.runtime.telemetry.core import SystemRow, Telemetry
from gpi.runtime.telemetry.memory import LeakReport

__all__ = ["leak_table", "system_table"]

_MIB = 1024 * 1024


def system_table(
    telemetry: Telemetry,
    *,
    sort_by: str = "host_mean",
    rows: Sequence[SystemRow] | None = None,
    title: str = "per-system timings",
) -> Table:
    """A rich Table of the per-system statistics over the rolling window."""
    rows = list(rows) if rows is not None else telemetry.system_rows(sort_by)
    frame = telemetry.frame_stats()
    table = Table(
        title=title,
        caption=(
            f"frames {frame.count}: mean {frame.mean:.3f} ms, p95 {frame.p95:.3f} ms, "
            f"max {frame.max:.3f} ms; {telemetry.ticks_per_second():.1f} ticks/s"
        ),
        show_footer=False,
    )
    table.add_column("plugin/system", style="bold")
    table.add_column("calls", justify="right")
    for name in ("host mean ms", "host p95 ms", "host max ms", "child cpu ms", "ipc share", "cmd bytes"):
        table.add_column(name, justify="right")
    for r in rows:
        table.add_row(*r.cells())
    return table


def leak_table(reports: Sequence[LeakReport], title: str = "RSS growth") -> Table:
    """A rich Table of a leak-check report (MiB)."""
    table = Table(title=title)
    table.add_column("process", style="bold")
    for name in ("samples", "ticks", "start MiB", "end MiB", "peak MiB", "growth MiB",
                 "MiB / 1k ticks", "verdict"):
        table.add_column(name, justify="right")
    for r in reports:
        table.add_row(
            r.label,
            str(r.samples),
            f"{r.first_tick}-{r.last_tick}",
            f"{r.start_bytes / _MIB:.1f}",
            f"{r.end_bytes / _MIB:.1f}",
            f"{r.peak_bytes / _MIB:.1f}",
            f"{r.growth_bytes / _MIB:+.2f}",
            f"{r.slope_bytes_per_1k_ticks / _MIB:+.3f}",
            "[red]suspect[/red]" if r.suspect else "[green]ok[/green]",
        )
    return table
