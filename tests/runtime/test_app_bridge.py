"""The app's telemetry bridge against a plain model of it: the same call and wave records."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gpi.runtime.telemetry import CallRecord, Telemetry, TelemetryBridge


class ModelBridge:
    """The straightforward reading of every record (what the bridge must report)."""

    def __init__(self, telemetry: Telemetry) -> None:
        self.telemetry = telemetry
        self.key: tuple[int, str, int] | None = None
        self.index = -1
        self.start = self.recv = self.last = 0
        self.stage = ""
        self.tick = -1

    def on_record(self, rec: dict[str, Any]) -> None:
        now = self.telemetry.now_ns()
        tick = int(rec["tick"])
        key = (tick, str(rec.get("stage", "")), int(rec.get("wave", 0)))
        if key != self.key:
            self.flush()
            if tick != self.tick:
                self.tick, self.index = tick, -1
            self.key, self.stage = key, key[1]
            self.index += 1
            self.recv = now - int(rec.get("apply_ns") or 0)
            self.start = self.recv
        host_ns = max(int(rec.get("host_ns") or 0), 0)
        start = self.recv - host_ns
        sent = rec.get("start_ns")
        if isinstance(sent, int) and 0 < sent <= now - host_ns:
            start = sent
        self.start = min(self.start, start)
        self.last = now
        self.telemetry.record_call(CallRecord(
            system=str(rec["system"]), plugin=str(rec["plugin"]), tick=tick, wave=self.index,
            host_wall_ns=host_ns, child_cpu_ns=int(rec.get("cpu_ns") or rec.get("child_ns") or 0),
            ipc_ns=int(rec.get("ipc_ns") or 0), cmd_bytes=int(rec.get("cmd_bytes") or 0), start_ns=start,
        ))

    def flush(self) -> None:
        if self.key is None:
            return
        self.telemetry.record_wave(self.key[0], self.index, self.start, max(self.last - self.start, 0),
                                   self.stage)
        self.key = None


def _maybe(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), values, values.map(float), st.just(0))


record = st.fixed_dictionaries(
    {"plugin": st.sampled_from(["p", "q"]), "system": st.sampled_from(["a", "b", "c"])},
    optional={
        "stage": st.sampled_from(["update", "render"]),
        "wave": st.integers(0, 2),
        "host_ns": _maybe(st.integers(-50, 5_000)),
        "apply_ns": _maybe(st.integers(0, 800)),
        "cpu_ns": _maybe(st.integers(0, 3_000)),
        "child_ns": _maybe(st.integers(0, 3_000)),
        "ipc_ns": _maybe(st.integers(0, 3_000)),
        "cmd_bytes": _maybe(st.integers(0, 10_000)),
        "start_ns": st.one_of(st.none(), st.integers(-10, 3_000_000)),
    },
)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.lists(record, max_size=8), st.lists(st.integers(0, 900), min_size=8, max_size=8),
                          st.booleans()), min_size=1, max_size=5))
def test_bridge_reports_what_the_plain_reading_reports(ticks):
    results = []
    for cls in (TelemetryBridge, ModelBridge):
        now = [1_000_000]
        tel = Telemetry(clock_ns=lambda now=now: now[0])
        bridge = cls(tel)
        for tick, (recs, gaps, tick_as_float) in enumerate(ticks):
            tel.begin_frame(tick)
            for rec, gap in zip(recs, gaps):
                now[0] += gap
                bridge.on_record({"tick": float(tick) if tick_as_float else tick, **rec})
            bridge.flush()
            now[0] += 50
            tel.end_frame()
        results.append((list(tel.calls), list(tel.waves)))
    assert results[0] == results[1]
