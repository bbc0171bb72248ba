"""Chrome trace (Perfetto) export of telemetry: built in memory, or streamed to disk.

The file is the JSON Object Format of the Trace Event Format that
``chrome://tracing`` and https://ui.perfetto.dev open::

    {"traceEvents": [...], "displayTimeUnit": "ms", "otherData": {...}}

Timestamps ``ts`` and durations ``dur`` are microseconds (floats), relative
to an origin so numbers stay small: the earliest record for
:func:`chrome_trace`, the moment the stream opened for :class:`TraceStream`.

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

Two ways to get the file. :func:`write_chrome_trace` writes what the
telemetry's bounded history still holds (the last records of a long run).
A :class:`TraceStream` (``Telemetry(trace_path=...)``) writes every record
as it is made, so a trace of any length costs the host no memory; the file
appears, complete, when the stream is closed (an atomic rename: a crash
leaves no half-written trace).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

from gpi.fsio import AtomicFile
from gpi.runtime.telemetry.errors import TraceWriteError
from gpi.runtime.telemetry.records import CallRecord, FrameRecord, MemorySample, WaveRecord

__all__ = ["HOST_PID", "History", "TraceStream", "chrome_trace", "write_chrome_trace"]

HOST_PID = 1
FRAMES_TID = 1
WAVES_TID = 2
_PLUGIN_PID_BASE = 100


def _meta(name: str, pid: int, tid: int, args: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "ph": "M", "pid": pid, "tid": tid, "args": args}


def _write_error(path: Path, exc: OSError) -> TraceWriteError:
    return TraceWriteError(
        f"cannot write the Chrome trace to {str(path)!r}: {exc.strerror or exc}; "
        "check that the directory exists and is writable"
    )


class _Events:
    """Turns records into trace events, naming processes and threads the first time they appear."""

    def __init__(self, origin_ns: int, emit: Callable[[dict[str, Any]], None]) -> None:
        self.origin = origin_ns
        self.emit = emit
        self._plugin_pid: dict[str, int] = {}
        self._system_tid: dict[tuple[str, str], int] = {}
        for ev in (
            _meta("process_name", HOST_PID, 0, {"name": "gpi host"}),
            _meta("process_sort_index", HOST_PID, 0, {"sort_index": 0}),
            _meta("thread_name", HOST_PID, FRAMES_TID, {"name": "frames"}),
            _meta("thread_sort_index", HOST_PID, FRAMES_TID, {"sort_index": 0}),
            _meta("thread_name", HOST_PID, WAVES_TID, {"name": "waves"}),
            _meta("thread_sort_index", HOST_PID, WAVES_TID, {"sort_index": 1}),
        ):
            emit(ev)

    def _us(self, ns: int) -> float:
        return round((ns - self.origin) / 1000.0, 3)

    def _pid(self, plugin: str) -> int:
        pid = self._plugin_pid.get(plugin)
        if pid is None:
            pid = self._plugin_pid[plugin] = _PLUGIN_PID_BASE + len(self._plugin_pid)
            self.emit(_meta("process_name", pid, 0, {"name": f"plugin {plugin}"}))
            self.emit(_meta("process_sort_index", pid, 0, {"sort_index": len(self._plugin_pid)}))
        return pid

    def frame(self, f: FrameRecord) -> None:
        self.emit({"name": "frame", "cat": "frame", "ph": "X", "ts": self._us(f.start_ns),
                   "dur": round(f.dur_ns / 1000.0, 3), "pid": HOST_PID, "tid": FRAMES_TID,
                   "args": {"index": f.index, "tick": f.tick, "ticks": f.ticks,
                            "systems_us": round(f.systems_ns / 1000.0, 3)}})

    def wave(self, w: WaveRecord) -> None:
        self.emit({"name": f"tick {w.tick} wave {w.wave}", "cat": "wave", "ph": "X", "ts": self._us(w.start_ns),
                   "dur": round(w.dur_ns / 1000.0, 3), "pid": HOST_PID, "tid": WAVES_TID,
                   "args": {"tick": w.tick, "wave": w.wave, "stage": w.stage}})

    def call(self, c: CallRecord) -> None:
        pid = self._pid(c.plugin)
        key = (c.plugin, c.system)
        tid = self._system_tid.get(key)
        if tid is None:
            tid = self._system_tid[key] = 1 + sum(1 for k in self._system_tid if k[0] == c.plugin)
            self.emit(_meta("thread_name", pid, tid, {"name": c.system}))
            self.emit(_meta("thread_sort_index", pid, tid, {"sort_index": tid}))
        self.emit({"name": c.system, "cat": "system", "ph": "X", "ts": self._us(c.start_ns),
                   "dur": round(c.host_wall_ns / 1000.0, 3), "pid": pid, "tid": tid,
                   "args": {"plugin": c.plugin, "tick": c.tick, "wave": c.wave,
                            "child_cpu_us": round(c.child_cpu_ns / 1000.0, 3),
                            "ipc_us": round(c.ipc_ns / 1000.0, 3), "cmd_bytes": c.cmd_bytes}})

    def memory(self, s: MemorySample) -> None:
        for label, value in s.rss.items():
            pid = HOST_PID if label == "host" else self._pid(label)
            self.emit({"name": "rss MiB", "ph": "C", "ts": self._us(s.t_ns), "pid": pid, "tid": 0,
                       "args": {"rss": round(value / (1024 * 1024), 3)}})


class History(Protocol):
    """What :func:`chrome_trace` reads: a :class:`~gpi.runtime.telemetry.core.Telemetry`'s history."""

    @property
    def frames(self) -> Iterable[FrameRecord]: ...
    @property
    def waves(self) -> Iterable[WaveRecord]: ...
    @property
    def calls(self) -> Iterable[CallRecord]: ...
    @property
    def memory(self) -> Iterable[MemorySample]: ...
    @property
    def history_dropped(self) -> int: ...
    @property
    def frame_count(self) -> int: ...


def chrome_trace(telemetry: History, *, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """The telemetry's history as a Chrome trace object (``{"traceEvents": [...]}``)."""
    starts = [r.start_ns for r in telemetry.frames]
    starts += [r.start_ns for r in telemetry.waves]
    starts += [r.start_ns for r in telemetry.calls]
    starts += [s.t_ns for s in telemetry.memory]
    events: list[dict[str, Any]] = []
    ev = _Events(min(starts) if starts else 0, events.append)
    for f in telemetry.frames:
        ev.frame(f)
    for w in telemetry.waves:
        ev.wave(w)
    for c in telemetry.calls:
        ev.call(c)
    for s in telemetry.memory:
        ev.memory(s)
    other = {"frames": telemetry.frame_count, "history_dropped": telemetry.history_dropped}
    other.update(metadata or {})
    return {"traceEvents": events, "displayTimeUnit": "ms", "otherData": other}


def write_chrome_trace(
    telemetry: History, path: str | os.PathLike[str], *, metadata: dict[str, Any] | None = None
) -> Path:
    """Write the history's trace JSON to ``path`` atomically; return the path."""
    path = Path(path)
    try:
        with AtomicFile(path, "w", encoding="utf-8") as fh:
            json.dump(chrome_trace(telemetry, metadata=metadata), fh.file, separators=(",", ":"))
    except OSError as exc:
        raise _write_error(path, exc) from exc
    return path


class TraceStream:
    """A Chrome trace written record by record (see the module docstring); holds no records.

    Feed it with :meth:`call`, :meth:`wave`, :meth:`frame` and :meth:`memory`
    (a :class:`~gpi.runtime.telemetry.core.Telemetry` made with
    ``trace_path`` does); :meth:`close` ends the JSON document and puts the
    file in place. Safe to close twice.
    """

    _file: AtomicFile | None = None

    def __init__(self, path: str | os.PathLike[str], origin_ns: int) -> None:
        self.path = Path(path)
        try:
            self._file = AtomicFile(self.path, "w", encoding="utf-8")
        except OSError as exc:
            raise _write_error(self.path, exc) from exc
        self.events = 0
        """Events written so far."""
        self._write = self._file.file.write
        self._dumps = json.JSONEncoder(separators=(",", ":")).encode
        self._write('{"traceEvents":[\n')
        ev = _Events(int(origin_ns), self._emit)
        self.call, self.wave, self.frame, self.memory = ev.call, ev.wave, ev.frame, ev.memory

    def _emit(self, event: dict[str, Any]) -> None:
        if self.events:
            self._write(",\n")
        self._write(self._dumps(event))
        self.events += 1

    @property
    def closed(self) -> bool:
        """True once the file is in place (or the stream was dropped)."""
        return self._file is None

    def close(self, metadata: Mapping[str, Any] | None = None) -> Path:
        """End the document with ``metadata`` as ``otherData`` and move the file in place."""
        f, self._file = self._file, None
        if f is None:
            return self.path
        try:
            f.write('\n],"displayTimeUnit":"ms","otherData":')
            f.write(self._dumps({"events": self.events, **(metadata or {})}))
            f.write("}\n")
            return f.commit()
        except OSError as exc:
            f.abort()
            raise _write_error(self.path, exc) from exc

    def abort(self) -> None:
        """Drop the file being written; nothing appears at :attr:`path`."""
        f, self._file = self._file, None
        if f is not None:
            f.abort()

    def __repr__(self) -> str:
        return f"<TraceStream {str(self.path)!r} events={self.events}{' closed' if self.closed else ''}>"
