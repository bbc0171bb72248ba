"""A child's output is read with bounds: line length, rate, memory, lines per tick (real pipes)."""

from __future__ import annotations

import os
import threading

from gpi.plugins.output import BURST, MAX_LINE, MAX_PENDING, OutputPump


def _pump_of(data_writer, **kw):  # type: ignore[no-untyped-def]
    r, w = os.pipe()
    stream = os.fdopen(r, "rb")
    pump = OutputPump(stream, "p", **kw)
    t = threading.Thread(target=data_writer, args=(w,))
    t.start()
    t.join()
    pump.join(10.0)
    return pump


def _write(chunks):  # type: ignore[no-untyped-def]
    def run(w: int) -> None:
        with os.fdopen(w, "wb") as f:
            for c in chunks:
                f.write(c)
    return run


def test_lines_arrive_and_a_long_line_is_cut() -> None:
    pump = _pump_of(_write([b"hello\n", b"x" * (3 * MAX_LINE) + b"\n", b"bye"]))
    lines, dropped = pump.take()
    assert lines == ["hello", "x" * MAX_LINE, "bye"]
    assert dropped.cut == 1 and not dropped.flooded


def test_a_huge_line_without_newline_costs_one_line_of_memory() -> None:
    big = b"y" * (1 << 20)
    pump = _pump_of(_write([big] * 3), rate=1 << 30, burst=1 << 30)  # 3 MiB, no newline, rate off
    lines, dropped = pump.take()
    assert lines == ["y" * MAX_LINE] and dropped.cut == 1
    assert pump.total_bytes == 3 << 20


def test_over_the_rate_output_is_dropped_and_flagged_as_a_flood() -> None:
    line = b"z" * 1000 + b"\n"
    t = [0.0]
    pump = _pump_of(_write([line] * (3 * BURST // len(line))), clock=lambda: t[0])  # time stands still
    lines, dropped = pump.take(max_lines=10**9)
    assert dropped.flooded and dropped.bytes > 0
    assert sum(len(x) for x in lines) <= MAX_PENDING
    assert "dropped" in dropped.describe()


def test_lines_per_tick_and_memory_are_bounded() -> None:
    pump = _pump_of(_write([b"%d\n" % i for i in range(5000)]))
    lines, dropped = pump.take(max_lines=100)
    assert lines == [str(i) for i in range(100)] and dropped.lines == 4900
    assert pump.take() == ([], type(dropped)())


def test_wait_for_returns_on_the_line_it_waits_for_or_on_close() -> None:
    r, w = os.pipe()
    pump = OutputPump(os.fdopen(r, "rb"), "p")
    out = os.fdopen(w, "wb", buffering=0)
    out.write(b"old: end\n")
    assert pump.wait_for(lambda t: t == "old: end", 0, 60.0)
    since = pump.mark()
    out.write(b"a\nb\nstack: end\n")
    assert pump.wait_for(lambda t: t.endswith(": end"), since, 60.0)  # True only once the line came
    lines, _ = pump.take()
    assert lines == ["old: end", "a", "b", "stack: end"]
    since = pump.mark()
    out.close()  # the pipe closes without the line: False once it has closed (far past the test's timeout)
    assert not pump.wait_for(lambda t: t == "never", since, 3600.0)
    pump.join(10.0)
