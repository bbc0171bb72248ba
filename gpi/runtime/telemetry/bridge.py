"""The bridge from the plugin host's per-call records to telemetry records.

The plugin host reports one record (a mapping, see
:data:`gpi.plugins.host.RECORD_FIELDS`) per system call: plugin, system,
stage, wave, host wall, child time, IPC, command bytes, but no timeline
positions. All calls of one wave are received before any is applied, so
every call of a wave ends at the same instant ``recv``; the bridge recovers
it from the first record of the wave (emitted at ``recv`` + its
``apply_ns``) and places each call at ``[recv - host_ns, recv]`` (or at the
record's own ``start_ns`` when the host reports one). A wave runs from its
earliest call start to the emission of its last record. Waves are numbered
across the whole tick (stage by stage), so ``(tick, wave)`` is unique in the
trace.

The bridge keeps nothing but the open wave's bookkeeping: every record
becomes one :class:`~gpi.runtime.telemetry.records.CallRecord` handed to the
:class:`~gpi.runtime.telemetry.core.Telemetry`, whose windows are bounded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gpi.runtime.telemetry.core import Telemetry
from gpi.runtime.telemetry.records import CallRecord

__all__ = ["TelemetryBridge"]


class TelemetryBridge:
    """Turns the plugin host's per-call dicts into CallRecords and WaveRecords (see module doc).

    :meth:`on_record` runs once per system call, so it is kept lean: the
    telemetry's bound methods are looked up once, a record of the wave that is
    already open (the same raw ``tick``/``stage``/``wave`` as the last one) skips
    the wave bookkeeping, and fields the plugin host already gives as ``int``/
    ``str`` are not converted again. The values are those of the plain
    ``int(rec.get(...) or 0)`` reading of every field.
    """

    def __init__(self, telemetry: Telemetry) -> None:
        self.telemetry = telemetry
        self._now_ns = telemetry.now_ns
        self._record_call = telemetry.record_call
        self._wave_key: tuple[int, str, int] | None = None
        self._raw_key: tuple[Any, Any, Any] | None = None  # the open wave's key as the records spell it
        self._wave_index = -1
        self._wave_start = 0
        self._wave_stage = ""
        self._recv = 0
        self._last_emit = 0
        self._tick = -1

    def on_record(self, rec: Mapping[str, Any]) -> None:
        now = self._now_ns()
        get = rec.get
        raw = (rec["tick"], get("stage", ""), get("wave", 0))
        if raw != self._raw_key:
            self._open_wave(raw, now, get("apply_ns"))
        host_ns = get("host_ns")
        if type(host_ns) is not int:
            host_ns = int(host_ns or 0)
        if host_ns < 0:
            host_ns = 0
        start = self._recv - host_ns
        sent = get("start_ns")  # when the host reports its send time (same perf_counter_ns clock)
        if isinstance(sent, int) and 0 < sent <= now - host_ns:
            start = sent
        if start < self._wave_start:
            self._wave_start = start
        self._last_emit = now
        cpu = get("cpu_ns") or get("child_ns") or 0
        ipc = get("ipc_ns") or 0
        nbytes = get("cmd_bytes") or 0
        system, plugin = rec["system"], rec["plugin"]
        self._record_call(CallRecord(
            system if type(system) is str else str(system), plugin if type(plugin) is str else str(plugin),
            self._tick, self._wave_index, host_ns, cpu if type(cpu) is int else int(cpu),
            ipc if type(ipc) is int else int(ipc), nbytes if type(nbytes) is int else int(nbytes), start,
        ))

    def _open_wave(self, raw: tuple[Any, Any, Any], now: int, apply_ns: Any) -> None:
        """A record whose raw key differs from the open wave's: same wave after all, or a new one."""
        key = (int(raw[0]), str(raw[1]), int(raw[2]))
        if key == self._wave_key:
            self._raw_key = raw
            return
        self.flush()
        self._raw_key = raw
        if key[0] != self._tick:
            self._tick, self._wave_index = key[0], -1
        self._wave_key = key
        self._wave_index += 1
        self._wave_stage = key[1]
        # every call of the wave was received at the same instant, before any apply
        self._recv = now - int(apply_ns or 0)
        self._wave_start = self._recv

    def flush(self) -> None:
        """Close the open wave (call at the end of every tick)."""
        if self._wave_key is None:
            return
        self.telemetry.record_wave(self._wave_key[0], self._wave_index, self._wave_start,
                                   max(self._last_emit - self._wave_start, 0), self._wave_stage)
        self._wave_key = None
        self._raw_key = None
