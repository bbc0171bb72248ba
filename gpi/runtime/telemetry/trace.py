"""Chrome trace (Perfetto) export of telemetry.

The file is the JSON Object Format of the Trace Event Format that
``chrome://tracing`` and https://ui.perfetto.dev open::

    {"traceEvents": [...], "displayTimeUnit": "ms", "otherData": {...}}

Timestamps ``ts`` and durations ``dur`` are microseconds (floats), relative
to the earliest record so numbers stay small.

Track layout (``pid`` / ``tid``):

- ``pid 1`` is the host process (named ``gpi host``): ``tid 1`` "frames",
  one ``X`` (complete) event per frame; ``tid 2`` "waves", one ``X`` event
  per wave (named ``tick T wave W``); memory samples of the host are a
  ``C`` (counter) event ``rss MiB``.
- each plugin gets ``pid 100 + i`` (named ``plugin <name>``, in first-seen
  order) with one thread per system (``tid 1 + j``, named after the system):
  one ``X`` event per system call, whose duration is the host-observed wall
  time and whose ``args`` carry ``tick``, ``wave``, ``child_cpu_us``,
  ``ipc_us`` and ``cmd_bytes``. A plugin child's memory is a counter on the
  plugin's process.

``M`` (metadata) events name every process and thread and fix their order,
so Perfetto shows the host on top and one track per system below it.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from gpi.runtime.telemetry.core import Telemetry
from gpi.runtime.telemetry.errors import TraceWriteError

__all__ = ["HOST_PID", "chrome_trace", "write_chrome_trace"]

HOST_PID = 1
FRAMES_TID = 1
WAVES_TID = 2
_PLUGIN_PID_BASE = 100


def _meta(name: str, pid: int, tid: int, args: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "ph": "M", "pid": pid, "tid": tid, "args": args}


def chrome_trace(telemetry: Telemetry, *, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """The telemetry history as a Chrome trace object (``{"traceEvents": [...]}``)."""
    starts = [r.start_ns for r in telemetry.frames]
    starts += [r.start_ns for r in telemetry.waves]
    starts += [r.start_ns for r in telemetry.calls]
    starts += [s.t_ns for s in telemetry.memory]
    origin = min(starts) if starts else 0

    def us(ns: int) -> float:
        return round((ns - origin) / 1000.0, 3)

    events: list[dict[str, Any]] = [
        _meta("process_name", HOST_PID, 0, {"name": "gpi host"}),
        _meta("process_sort_index", HOST_PID, 0, {"sort_index": 0}),
        _meta("thread_name", HOST_PID, FRAMES_TID, {"name": "frames"}),
        _meta("thread_sort_index", HOST_PID, FRAMES_TID, {"sort_index": 0}),
        _meta("thread_name", HOST_PID, WAVES_TID, {"name": "waves"}),
        _meta("thread_sort_index", HOST_PID, WAVES_TID, {"sort_index": 1}),
    ]
    plugin_pid: dict[str, int] = {}
    system_tid: dict[tuple[str, str], int] = {}

    def pid_of(plugin: str) -> int:
        pid = plugin_pid.get(plugin)
        if pid is None:
            pid = plugin_pid[plugin] = _PLUGIN_PID_BASE + len(plugin_pid)
            events.append(_meta("process_name", pid, 0, {"name": f"plugin {plugin}"}))
            events.append(_meta("process_sort_index", pid, 0, {"sort_index": len(plugin_pid)}))
        return pid

    for f in telemetry.frames:
        events.append(
            {
                "name": "frame",
                "cat": "frame",
                "ph": "X",
                "ts": us(f.start_ns),
                "dur": round(f.dur_ns / 1000.0, 3),
                "pid": HOST_PID,
                "tid": FRAMES_TID,
                "args": {"index": f.index, "tick": f.tick, "ticks": f.ticks,
                         "systems_us": round(f.systems_ns / 1000.0, 3)},
            }
        )
    for w in telemetry.waves:
        events.append(
            {
                "name": f"tick {w.tick} wave {w.wave}",
                "cat": "wave",
                "ph": "X",
                "ts": us(w.start_ns),
                "dur": round(w.dur_ns / 1000.0, 3),
                "pid": HOST_PID,
                "tid": WAVES_TID,
                "args": {"tick": w.tick, "wave": w.wave, "stage": w.stage},
            }
        )
    for c in telemetry.calls:
        pid = pid_of(c.plugin)
        key = (c.plugin, c.system)
        tid = system_tid.get(key)
        if tid is None:
            tid = system_tid[key] = 1 + sum(1 for k in system_tid if k[0] == c.plugin)
            events.append(_meta("thread_name", pid, tid, {"name": c.system}))
            events.append(_meta("thread_sort_index", pid, tid, {"sort_index": tid}))
        events.append(
            {
                "name": c.system,
                "cat": "system",
                "ph": "X",
                "ts": us(c.start_ns),
                "dur": round(c.host_wall_ns / 1000.0, 3),
                "pid": pid,
                "tid": tid,
                "args": {
                    "plugin": c.plugin,
                    "tick": c.tick,
                    "wave": c.wave,
                    "child_cpu_us": round(c.child_cpu_ns / 1000.0, 3),
                    "ipc_us": round(c.ipc_ns / 1000.0, 3),
                    "cmd_bytes": c.cmd_bytes,
                },
            }
        )
    for s in telemetry.memory:
        for label, value in s.rss.items():
            pid = HOST_PID if label == "host" else pid_of(label)
            events.append(
                {
                    "name": "rss MiB",
                    "ph": "C",
                    "ts": us(s.t_ns),
                    "pid": pid,
                    "tid": 0,
                    "args": {"rss": round(value / (1024 * 1024), 3)},
                }
            )
    other = {"frames": telemetry.frame_count, "history_dropped": telemetry.history_dropped}
    other.update(metadata or {})
    return {"traceEvents": events, "displayTimeUnit": "ms", "otherData": other}


def write_chrome_trace(
    telemetry: Telemetry, path: str | os.PathLike[str], *, metadata: dict[str, Any] | None = None
) -> Path:
    """Write the trace JSON to ``path`` atomically (temp file + rename); return the path."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(chrome_trace(telemetry, metadata=metadata), fh, separators=(",", ":"))
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise TraceWriteError(
            f"cannot write the Chrome trace to {str(path)!r}: {exc.strerror or exc}; "
            "check that the directory exists and is writable"
        ) from exc
    return path
