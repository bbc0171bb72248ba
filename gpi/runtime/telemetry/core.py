"""Telemetry: the host's record of what every frame, wave and system call cost.

Telemetry is data first. The host loop, the scheduler and the plugin host
feed it :class:`~.records.CallRecord`, :class:`~.records.WaveRecord`,
:class:`~.records.FrameRecord` and :class:`~.records.MemorySample`; the
overlay, the ``gpi profile`` table, the Chrome trace and the frame-time plot
all read from here, so every figure on screen is also available headless.

Everything it keeps is bounded, so a host that runs for a day holds what it
held after a minute (:meth:`Telemetry.retained` counts it):

- *Rolling windows* (``window`` entries; default 600, ten seconds at 60 Hz):
  frame times, the last calls of each system, and per-frame per-system time
  (one column per frame, for the stacked plot). Statistics (mean, p95, max)
  are computed over these.
- *History* (``history`` entries per kind; default 4096): the latest records
  in order, for :meth:`Telemetry.validate` and an in-memory trace. When full,
  the oldest records go first and :attr:`Telemetry.history_dropped` counts
  them.
- *Trace stream* (``trace_path``): every record is also written to a Chrome
  trace file as it is made (:class:`~.trace.TraceStream`), so a trace of the
  whole run costs no memory; :meth:`Telemetry.finish_trace` (or
  :meth:`Telemetry.close`) puts the file in place.

Frame bookkeeping: calls and waves recorded between two frame records belong
to the later frame. :meth:`Telemetry.validate` checks the nesting invariants
(each call inside its wave, each wave inside its frame, waves of a frame not
adding up to more than the frame).

Recording uses the clock passed in (``clock_ns``, integer nanoseconds), never
a global, so tests can drive it.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gpi.runtime.clock import monotonic_ns
from gpi.runtime.telemetry.errors import TelemetryError
from gpi.runtime.telemetry.memory import LeakReport, leak_check, rss_bytes
from gpi.runtime.telemetry.records import CallRecord, FrameRecord, MemorySample, WaveRecord
from gpi.runtime.telemetry.stats import Stats, summarize
from gpi.runtime.telemetry.trace import TraceStream

__all__ = ["DEFAULT_HISTORY", "SYSTEM_SORT_KEYS", "SystemRow", "Telemetry", "sort_rows"]

_NS_TO_MS = 1e-6
DEFAULT_HISTORY = 4096
"""Records of each kind kept in order (about a minute of a 60 Hz demo's calls)."""


@dataclass(frozen=True, slots=True)
class SystemRow:
    """One line of the per-system table (times in milliseconds)."""

    plugin: str
    system: str
    calls: int
    host: Stats
    """Host-observed wall time per call, ms."""
    child_cpu: Stats
    """CPU time the child reported per call, ms."""
    ipc: Stats
    """Host-observed time outside the system proper per call, ms."""
    ipc_share: float
    """Fraction of host-observed time that was IPC (0..1)."""
    cmd_bytes: Stats
    """Command-buffer bytes per call."""

    @property
    def name(self) -> str:
        """``plugin/system``."""
        return f"{self.plugin}/{self.system}"

    def cells(self) -> tuple[str, ...]:
        """The row as text: name, calls, host mean/p95/max, child CPU, IPC share, command bytes."""
        return (
            self.name,
            str(self.calls),
            f"{self.host.mean:.3f}",
            f"{self.host.p95:.3f}",
            f"{self.host.max:.3f}",
            f"{self.child_cpu.mean:.3f}",
            f"{self.ipc_share * 100:.0f}%",
            f"{self.cmd_bytes.mean:.0f}",
        )


SYSTEM_SORT_KEYS: dict[str, Callable[[SystemRow], object]] = {
    "name": lambda r: (r.plugin, r.system),
    "calls": lambda r: r.calls,
    "host_mean": lambda r: r.host.mean,
    "host_p95": lambda r: r.host.p95,
    "host_max": lambda r: r.host.max,
    "child_cpu": lambda r: r.child_cpu.mean,
    "ipc_share": lambda r: r.ipc_share,
    "cmd_bytes": lambda r: r.cmd_bytes.mean,
}
"""Columns the per-system table can be sorted by."""


def sort_rows(rows: list[SystemRow], key: str = "host_mean", descending: bool = True) -> list[SystemRow]:
    """``rows`` sorted by one of :data:`SYSTEM_SORT_KEYS` (ties broken by name)."""
    try:
        fn = SYSTEM_SORT_KEYS[key]
    except KeyError:
        raise TelemetryError(
            f"cannot sort the system table by {key!r}; use one of {sorted(SYSTEM_SORT_KEYS)}"
        ) from None
    by_name = sorted(rows, key=lambda r: (r.plugin, r.system))
    return sorted(by_name, key=fn, reverse=descending)  # type: ignore[arg-type]


class Telemetry:
    """Rolling statistics and bounded history of frames, waves, calls and memory."""

    def __init__(
        self,
        window: int = 600,
        *,
        history: int = DEFAULT_HISTORY,
        clock_ns: Callable[[], int] = monotonic_ns,
        trace_path: str | os.PathLike[str] | None = None,
    ) -> None:
        if window < 1 or history < 1:
            raise TelemetryError(
                f"Telemetry(window={window}, history={history}): both must be >= 1"
            )
        self.window = int(window)
        self.history = int(history)
        self._clock_ns = clock_ns
        self._frame_ns: deque[int] = deque(maxlen=self.window)
        self._frame_ticks: deque[int] = deque(maxlen=self.window)
        self._calls_by_key: dict[tuple[str, str], deque[CallRecord]] = {}
        self._series: dict[tuple[str, str], deque[int]] = {}
        self._frame_calls_ns: dict[tuple[str, str], int] = {}
        self._wave_ns: dict[tuple[str, int], deque[int]] = {}
        self._frame_waves_ns = 0
        self._frame_count = 0
        self._open_frame: tuple[int, int] | None = None
        self.calls: deque[CallRecord] = deque(maxlen=self.history)
        """Every recent call in order (for the trace)."""
        self.waves: deque[WaveRecord] = deque(maxlen=self.history)
        """Every recent wave in order (for the trace)."""
        self.frames: deque[FrameRecord] = deque(maxlen=self.history)
        """Every recent frame in order (for the trace)."""
        self.memory: deque[MemorySample] = deque(maxlen=self.history)
        """Memory samples in order (for plots, the trace and the leak check)."""
        self.history_dropped = 0
        """Records pushed out of the history because it was full."""
        self.trace: TraceStream | None = None
        """The Chrome trace being streamed to disk, if ``trace_path`` was given."""
        if trace_path is not None:
            self.trace = TraceStream(trace_path, origin_ns=clock_ns())

    # -- recording ----------------------------------------------------------
    def now_ns(self) -> int:
        """The telemetry clock, in nanoseconds."""
        return self._clock_ns()

    def _push(self, store: deque, item: object) -> None:  # type: ignore[type-arg]
        if len(store) == store.maxlen:
            self.history_dropped += 1
        store.append(item)

    def record_call(self, record: CallRecord) -> None:
        """Add one system call."""
        key = record.key
        calls = self._calls_by_key.get(key)
        if calls is None:
            calls = self._calls_by_key[key] = deque(maxlen=self.window)
            # New system: pad its per-frame series so columns line up.
            self._series[key] = deque([0] * len(self._frame_ns), maxlen=self.window)
        calls.append(record)
        self._frame_calls_ns[key] = self._frame_calls_ns.get(key, 0) + record.host_wall_ns
        self._push(self.calls, record)
        if self.trace is not None:
            self.trace.call(record)

    def record_wave(
        self, tick: int, wave: int, start_ns: int, dur_ns: int, stage: str = ""
    ) -> WaveRecord:
        """Add one wave span."""
        rec = WaveRecord(int(tick), int(wave), int(start_ns), int(dur_ns), stage)
        self._frame_waves_ns += rec.dur_ns
        durations = self._wave_ns.get((rec.stage, rec.wave))
        if durations is None:
            durations = self._wave_ns[(rec.stage, rec.wave)] = deque(maxlen=self.window)
        durations.append(rec.dur_ns)
        self._push(self.waves, rec)
        if self.trace is not None:
            self.trace.wave(rec)
        return rec

    def record_frame(self, tick: int, start_ns: int, dur_ns: int, ticks: int = 1) -> FrameRecord:
        """Close a frame: everything recorded since the previous frame belongs to it."""
        rec = FrameRecord(
            index=self._frame_count,
            tick=int(tick),
            start_ns=int(start_ns),
            dur_ns=int(dur_ns),
            ticks=int(ticks),
            systems_ns=sum(self._frame_calls_ns.values()),
            waves_ns=self._frame_waves_ns,
        )
        self._frame_count += 1
        self._frame_ns.append(rec.dur_ns)
        self._frame_ticks.append(rec.ticks)
        for key, series in self._series.items():
            series.append(self._frame_calls_ns.get(key, 0))
        self._frame_calls_ns.clear()
        self._frame_waves_ns = 0
        self._push(self.frames, rec)
        if self.trace is not None:
            self.trace.frame(rec)
        return rec

    def begin_frame(self, tick: int) -> None:
        """Mark the start of a frame at the telemetry clock's now."""
        self._open_frame = (int(tick), self._clock_ns())

    def end_frame(self, ticks: int = 1) -> FrameRecord:
        """Close the frame opened by :meth:`begin_frame`."""
        if self._open_frame is None:
            raise TelemetryError("end_frame() without begin_frame(): open a frame first")
        tick, start = self._open_frame
        self._open_frame = None
        return self.record_frame(tick, start, self._clock_ns() - start, ticks)

    @contextmanager
    def frame(self, tick: int, ticks: int = 1) -> Iterator[None]:
        """Context manager timing one frame."""
        self.begin_frame(tick)
        try:
            yield
        finally:
            self.end_frame(ticks)

    @contextmanager
    def wave(self, tick: int, wave: int, stage: str = "") -> Iterator[None]:
        """Context manager timing one wave."""
        start = self._clock_ns()
        try:
            yield
        finally:
            self.record_wave(tick, wave, start, self._clock_ns() - start, stage)

    def sample_memory(self, tick: int, children: Mapping[str, int] | None = None) -> MemorySample:
        """Record RSS of the host (label ``"host"``) and each child ``{label: pid}``."""
        rss: dict[str, int] = {}
        host = rss_bytes(os.getpid())
        if host is not None:
            rss["host"] = host
        for label, pid in (children or {}).items():
            value = rss_bytes(pid)
            if value is not None:
                rss[label] = value
        sample = MemorySample(int(tick), self._clock_ns(), rss)
        self._push(self.memory, sample)
        if self.trace is not None:
            self.trace.memory(sample)
        return sample

    def clear(self) -> None:
        """Forget the windows and the history (a trace being streamed goes on)."""
        trace = self.trace
        self.__init__(self.window, history=self.history, clock_ns=self._clock_ns)  # type: ignore[misc]
        self.trace = trace

    def finish_trace(self, metadata: Mapping[str, object] | None = None) -> Path | None:
        """Close the streamed trace (``otherData`` gets ``metadata``); its path, or None if none."""
        if self.trace is None:
            return None
        other = {"frames": self._frame_count, **(metadata or {})}
        return self.trace.close(other)

    def close(self) -> None:
        """Put a streamed trace in place (what was recorded so far); safe twice."""
        if self.trace is not None and not self.trace.closed:
            self.finish_trace({"closed_early": True})

    def retained(self) -> dict[str, int]:
        """How many records each store holds now: flat once the windows are full (the leak test's view)."""
        return {
            "calls": len(self.calls),
            "waves": len(self.waves),
            "frames": len(self.frames),
            "memory": len(self.memory),
            "system_windows": sum(len(d) for d in self._calls_by_key.values()),
            "system_series": sum(len(d) for d in self._series.values()),
            "wave_windows": sum(len(d) for d in self._wave_ns.values()),
            "frame_window": len(self._frame_ns),
        }

    # -- reading --------------------------------------------------------------
    @property
    def frame_count(self) -> int:
        """Frames recorded since the start."""
        return self._frame_count

    def frame_times_ms(self) -> np.ndarray:
        """Frame durations in the rolling window, oldest first, in ms."""
        return np.fromiter(self._frame_ns, dtype=np.float64, count=len(self._frame_ns)) * _NS_TO_MS

    def frame_stats(self) -> Stats:
        """Mean, p95 and max frame time over the window, in ms."""
        return summarize(self.frame_times_ms())

    def ticks_per_second(self) -> float:
        """Ticks run per second of frame time over the window (0 with no frames)."""
        total_ns = sum(self._frame_ns)
        return sum(self._frame_ticks) / (total_ns * 1e-9) if total_ns else 0.0

    def systems(self) -> list[tuple[str, str]]:
        """Every ``(plugin, system)`` seen, in first-seen order."""
        return list(self._calls_by_key)

    def system_rows(self, sort_by: str = "host_mean", descending: bool = True) -> list[SystemRow]:
        """The per-system table over the rolling window."""
        rows = []
        for (plugin, system), calls in self._calls_by_key.items():
            n = len(calls)
            host = np.fromiter((c.host_wall_ns for c in calls), dtype=np.float64, count=n)
            cpu = np.fromiter((c.child_cpu_ns for c in calls), dtype=np.float64, count=n)
            ipc = np.fromiter((c.ipc_ns for c in calls), dtype=np.float64, count=n)
            cmd = np.fromiter((c.cmd_bytes for c in calls), dtype=np.float64, count=n)
            host_sum = float(host.sum())
            rows.append(
                SystemRow(
                    plugin=plugin,
                    system=system,
                    calls=n,
                    host=summarize(host).scaled(_NS_TO_MS),
                    child_cpu=summarize(cpu).scaled(_NS_TO_MS),
                    ipc=summarize(ipc).scaled(_NS_TO_MS),
                    ipc_share=float(ipc.sum()) / host_sum if host_sum else 0.0,
                    cmd_bytes=summarize(cmd),
                )
            )
        return sort_rows(rows, sort_by, descending)

    def wave_stats(self) -> dict[tuple[str, int], Stats]:
        """Duration statistics per ``(stage, wave index)`` over the window, in ms."""
        return {
            key: summarize(np.fromiter(d, dtype=np.float64, count=len(d))).scaled(_NS_TO_MS)
            for key, d in sorted(self._wave_ns.items())
        }

    def system_series_ms(self) -> tuple[list[tuple[str, str]], np.ndarray]:
        """Per-frame time of each system over the window: (keys, array[n_systems, n_frames] ms).

        Each column is one frame; columns line up with :meth:`frame_times_ms`.
        """
        keys = list(self._series)
        n = len(self._frame_ns)
        out = np.zeros((len(keys), n), dtype=np.float64)
        for i, key in enumerate(keys):
            series = self._series[key]
            out[i, n - len(series) :] = np.fromiter(series, dtype=np.float64, count=len(series))
        return keys, out * _NS_TO_MS

    def memory_series(self) -> dict[str, np.ndarray]:
        """RSS in bytes per label over the recorded samples: ``{label: array[[tick, bytes]]}``."""
        out: dict[str, list[tuple[int, int]]] = {}
        for sample in self.memory:
            for label, value in sample.rss.items():
                out.setdefault(label, []).append((sample.tick, value))
        return {k: np.array(v, dtype=np.int64).reshape(-1, 2) for k, v in out.items()}

    def leak_report(self, **kwargs: float) -> list[LeakReport]:
        """:func:`~.memory.leak_check` over the memory samples recorded so far."""
        return leak_check(list(self.memory), **kwargs)  # type: ignore[arg-type]

    def validate(self) -> list[str]:
        """Broken nesting invariants in the history, as messages (empty when consistent)."""
        problems: list[str] = []
        waves: dict[tuple[int, int], WaveRecord] = {(w.tick, w.wave): w for w in self.waves}
        for c in self.calls:
            w = waves.get((c.tick, c.wave))
            if w is None:
                continue
            if c.start_ns < w.start_ns or c.end_ns > w.end_ns:
                problems.append(
                    f"call {c.plugin}/{c.system} tick {c.tick} wave {c.wave} "
                    f"[{c.start_ns}, {c.end_ns}] lies outside its wave [{w.start_ns}, {w.end_ns}]"
                )
        frames = list(self.frames)
        fi = 0
        for w in sorted(self.waves, key=lambda r: r.start_ns):
            while fi < len(frames) and frames[fi].end_ns < w.start_ns:
                fi += 1
            if fi == len(frames):
                break
            f = frames[fi]
            if w.start_ns < f.start_ns or w.end_ns > f.end_ns:
                problems.append(
                    f"wave {w.wave} of tick {w.tick} [{w.start_ns}, {w.end_ns}] lies outside "
                    f"frame {f.index} [{f.start_ns}, {f.end_ns}]"
                )
        for f in frames:
            if f.waves_ns > f.dur_ns:
                problems.append(
                    f"frame {f.index}: waves add up to {f.waves_ns} ns, more than the "
                    f"frame's {f.dur_ns} ns"
                )
        return problems

    def __repr__(self) -> str:
        return (
            f"Telemetry(frames={self._frame_count}, systems={len(self._calls_by_key)}, "
            f"calls={len(self.calls)}, window={self.window})"
        )
