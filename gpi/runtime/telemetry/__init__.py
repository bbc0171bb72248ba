"""Telemetry: per-call, per-wave and per-frame timings and process memory, as data.

The host feeds a :class:`Telemetry`; everything else reads it: the overlay,
:func:`system_table` (rich, for ``gpi profile``), :func:`write_chrome_trace`
(Perfetto), :func:`plot_frame_times` (PNG), :func:`leak_check`, and
:func:`write_profile`, which writes all of them for ``gpi profile``.
:class:`TelemetryBridge` turns the plugin host's per-call records into
telemetry records; :class:`TraceStream` writes a trace to disk as it goes.
"""

from gpi.runtime.telemetry.bridge import TelemetryBridge
from gpi.runtime.telemetry.core import SYSTEM_SORT_KEYS, SystemRow, Telemetry, sort_rows
from gpi.runtime.telemetry.errors import PlotError, TelemetryError, TraceWriteError
from gpi.runtime.telemetry.memory import LeakReport, leak_check, rss_bytes
from gpi.runtime.telemetry.plot import plot_frame_times
from gpi.runtime.telemetry.records import CallRecord, FrameRecord, MemorySample, WaveRecord
from gpi.runtime.telemetry.report import ProfileReport, write_profile
from gpi.runtime.telemetry.stats import Stats, summarize
from gpi.runtime.telemetry.table import leak_table, system_table
from gpi.runtime.telemetry.trace import TraceStream, chrome_trace, write_chrome_trace

__all__ = [
    "SYSTEM_SORT_KEYS",
    "CallRecord",
    "FrameRecord",
    "LeakReport",
    "MemorySample",
    "PlotError",
    "ProfileReport",
    "Stats",
    "SystemRow",
    "Telemetry",
    "TelemetryBridge",
    "TelemetryError",
    "TraceStream",
    "TraceWriteError",
    "WaveRecord",
    "chrome_trace",
    "leak_check",
    "leak_table",
    "plot_frame_times",
    "rss_bytes",
    "sort_rows",
    "summarize",
    "system_table",
    "write_chrome_trace",
    "write_profile",
]
