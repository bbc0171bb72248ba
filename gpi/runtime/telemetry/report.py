"""Everything ``gpi profile`` leaves behind, written in one call.

:func:`write_profile` takes a filled :class:`~.core.Telemetry` and an output
directory and writes:

- ``trace.json``: the Chrome trace (open it in https://ui.perfetto.dev):
  the whole run when the telemetry streamed it (``trace_path``; the stream
  is closed here and ``out_dir/trace.json`` is where it should point), else
  what its bounded history holds;
- ``frame_times.png``: the frame-time plot;
- ``systems.txt``: the per-system table as plain text (the same table
  :func:`~.table.system_table` prints in colour);
- ``leaks.txt``: the RSS growth table, when memory was sampled.

It returns a :class:`ProfileReport` with the paths and the tables, so the
CLI can print them with rich.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from gpi.runtime.telemetry.core import Telemetry
from gpi.runtime.telemetry.memory import DEFAULT_MAX_SLOPE_MIB, LeakReport
from gpi.runtime.telemetry.plot import plot_frame_times
from gpi.runtime.telemetry.table import leak_table, system_table
from gpi.runtime.telemetry.trace import write_chrome_trace

__all__ = ["ProfileReport", "write_profile"]


@dataclass(slots=True)
class ProfileReport:
    """Paths written by :func:`write_profile` and the tables to print."""

    trace: Path
    plot: Path | None
    systems_txt: Path
    systems: Table
    leaks: list[LeakReport] = field(default_factory=list)
    leaks_table: Table | None = None
    leaks_txt: Path | None = None

    @property
    def suspect_leaks(self) -> list[LeakReport]:
        """Processes whose RSS grew past the leak thresholds."""
        return [r for r in self.leaks if r.suspect]


def _as_text(table: Table) -> str:
    console = Console(width=140, record=True, file=io.StringIO())
    console.print(table)
    return console.export_text()


def write_profile(
    telemetry: Telemetry,
    out_dir: str | os.PathLike[str],
    *,
    budget_ms: float | None = 1000.0 / 60.0,
    metadata: dict[str, Any] | None = None,
    leak_warmup: float = 0.2,
    max_slope_mib: float = DEFAULT_MAX_SLOPE_MIB,
) -> ProfileReport:
    """Write the trace, the frame-time PNG and the tables under ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    streamed = telemetry.finish_trace(metadata)
    trace = streamed if streamed is not None else write_chrome_trace(telemetry, out / "trace.json",
                                                                     metadata=metadata)
    frames = [f.dur_ns * 1e-6 for f in telemetry.frames]
    plot = plot_frame_times(frames, out / "frame_times.png", budget_ms=budget_ms) if frames else None
    systems = system_table(telemetry)
    systems_txt = out / "systems.txt"
    systems_txt.write_text(_as_text(systems), encoding="utf-8")
    report = ProfileReport(trace=trace, plot=plot, systems_txt=systems_txt, systems=systems)
    if len(telemetry.memory) >= 2:
        report.leaks = telemetry.leak_report(warmup=leak_warmup, max_slope_mib=max_slope_mib)
        report.leaks_table = leak_table(report.leaks)
        report.leaks_txt = out / "leaks.txt"
        report.leaks_txt.write_text(_as_text(report.leaks_table), encoding="utf-8")
    return report
