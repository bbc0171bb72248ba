"""The Chrome trace is valid Trace Event JSON with one event per frame, wave and call."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from rt_telemetry_samples import SYSTEMS, fill

from gpi.runtime.telemetry import Telemetry, TraceWriteError, chrome_trace, write_chrome_trace
from gpi.runtime.telemetry.trace import HOST_PID

VALID_PHASES = {"X", "M", "C"}


def check_event(ev: dict) -> None:
    assert ev["ph"] in VALID_PHASES
    assert isinstance(ev["name"], str) and ev["name"]
    assert isinstance(ev["pid"], int) and isinstance(ev["tid"], int)
    if ev["ph"] == "X":
        assert isinstance(ev["ts"], (int, float)) and ev["ts"] >= 0
        assert isinstance(ev["dur"], (int, float)) and ev["dur"] >= 0
    if ev["ph"] in ("M", "C"):
        assert isinstance(ev["args"], dict)


def test_trace_file_is_valid_and_complete(tmp_path):
    tel = fill(Telemetry(), frames=30)
    tel.sample_memory(0)
    tel.sample_memory(29, {"boids": __import__("os").getpid()})
    path = write_chrome_trace(tel, tmp_path / "sub" / "trace.json", metadata={"run": "test"})
    with open(path, encoding="utf-8") as fh:
        doc = json.load(fh)
    assert set(doc) >= {"traceEvents", "displayTimeUnit"}
    assert doc["otherData"]["run"] == "test"
    events = doc["traceEvents"]
    for ev in events:
        check_event(ev)
    complete = [e for e in events if e["ph"] == "X"]
    cats = Counter(e["cat"] for e in complete)
    assert cats["frame"] == 30
    assert cats["wave"] == 30 * 3
    assert cats["system"] == 30 * len(SYSTEMS)
    # Frames and waves on the host, calls on per-plugin processes.
    assert all(e["pid"] == HOST_PID for e in complete if e["cat"] in ("frame", "wave"))
    names = {
        (e["pid"], e["tid"]): e["args"]["name"]
        for e in events
        if e["ph"] == "M" and e["name"] == "thread_name"
    }
    procs = {e["pid"]: e["args"]["name"] for e in events if e["name"] == "process_name"}
    assert procs[HOST_PID] == "gpi host"
    assert {"plugin boids", "plugin physics", "plugin render"} <= set(procs.values())
    for e in complete:
        if e["cat"] == "system":
            assert procs[e["pid"]] == f"plugin {e['args']['plugin']}"
            assert names[(e["pid"], e["tid"])] == e["name"]
            assert set(e["args"]) >= {"tick", "wave", "child_cpu_us", "ipc_us", "cmd_bytes"}
    # Distinct tracks per system of one plugin.
    boids = [k for k, v in names.items() if procs[k[0]] == "plugin boids"]
    assert len(boids) == 2
    counters = [e for e in events if e["ph"] == "C"]
    assert {e["pid"] for e in counters} == {HOST_PID, next(p for p, n in procs.items() if n == "plugin boids")}
    # Timestamps are relative to the first record and nest: call inside wave inside frame.
    assert min(e["ts"] for e in complete) == 0
    frames = sorted((e for e in complete if e["cat"] == "frame"), key=lambda e: e["ts"])
    for w in (e for e in complete if e["cat"] == "wave"):
        f = frames[w["args"]["tick"]]
        assert f["ts"] <= w["ts"] and w["ts"] + w["dur"] <= f["ts"] + f["dur"] + 1e-3


def test_empty_trace_is_valid():
    doc = chrome_trace(Telemetry())
    json.loads(json.dumps(doc))
    assert [e["ph"] for e in doc["traceEvents"]] and all(
        e["ph"] == "M" for e in doc["traceEvents"]
    )


def test_unwritable_trace_path(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(TraceWriteError) as exc:
        write_chrome_trace(Telemetry(), blocker / "trace.json")
    assert isinstance(exc.value, OSError) and "Chrome trace" in str(exc.value)


def test_streamed_trace_holds_every_record_and_none_in_memory(tmp_path):
    path = tmp_path / "out" / "trace.json"
    tel = Telemetry(history=16, trace_path=path, clock_ns=lambda: 1_000_000_000)
    fill(tel, frames=40)
    tel.sample_memory(39)
    assert not path.exists()  # appears whole, at the end
    assert len(tel.calls) == 16  # the history is bounded ...
    tel.finish_trace({"run": "stream"})
    doc = json.loads(path.read_text())
    events = doc["traceEvents"]
    for ev in events:
        check_event(ev)
    cats = Counter(e.get("cat") for e in events if e["ph"] == "X")
    # ... the file is not: every frame, wave and call of the run
    assert cats["frame"] == 40 and cats["wave"] == 40 * 3 and cats["system"] == 40 * len(SYSTEMS)
    assert doc["otherData"]["run"] == "stream" and doc["otherData"]["events"] == len(events)
    assert sum(1 for e in events if e["ph"] == "C") == 1
    tel.close()  # already finished: nothing changes
    assert json.loads(path.read_text()) == doc
    assert [p.name for p in path.parent.iterdir()] == ["trace.json"]


def test_stream_of_an_unwritable_path_fails_up_front(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(TraceWriteError, match="Chrome trace"):
        Telemetry(trace_path=blocker / "trace.json")
