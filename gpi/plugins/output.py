"""A plugin child's stdout/stderr, read into the host with bounds on everything.

A child prints through one pipe (the sandbox forbids writing files). Plugin
code decides what goes into it, so the host reads it with fixed bounds:

- **line length**: at most :data:`MAX_LINE` bytes of a line are kept, the
  rest of it is read and dropped (a 1.5 GiB line without a newline costs
  the host 4 KiB, not 1.5 GiB);
- **bytes per second**: a token bucket of :data:`RATE` bytes a second with
  :data:`BURST` bytes of burst; output beyond it is read and dropped, and
  the pump says the child *flooded* (the host makes that a ``flood`` fault:
  the child is restarted, the circuit breaker counts it);
- **bytes in memory**: at most :data:`MAX_PENDING` bytes of lines wait for
  the host's next tick; lines past that are dropped;
- **lines per tick**: the host turns at most :data:`LINES_PER_TICK` of a
  plugin's lines into log lines a tick (:meth:`OutputPump.take`).

Every drop is counted (:meth:`OutputPump.take` returns the counts) and the
host logs one line saying how much was dropped. The pipe is always drained,
so a child never blocks on a full pipe because the host is busy.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["BURST", "LINES_PER_TICK", "MAX_LINE", "MAX_PENDING", "RATE", "Dropped", "OutputPump"]

#: Bytes kept of one output line (the rest of the line is dropped).
MAX_LINE = 4096
#: Sustained bytes per second a child may print; the bucket holds BURST bytes.
RATE = 1 << 20
BURST = 4 << 20
#: Bytes of lines kept in memory between two ticks, per child.
MAX_PENDING = 256 << 10
#: Lines per child turned into log lines per tick.
LINES_PER_TICK = 200
_CHUNK = 1 << 16


@dataclass
class Dropped:
    """What was dropped since the last :meth:`OutputPump.take`."""

    lines: int = 0  # whole lines (memory bound or lines per tick)
    bytes: int = 0  # bytes over the rate (never looked at)
    cut: int = 0  # lines cut to MAX_LINE
    flooded: bool = False  # the rate bound was hit

    def __bool__(self) -> bool:
        return bool(self.lines or self.bytes or self.cut or self.flooded)

    def describe(self) -> str:
        """``"12 lines, 3,000,000 bytes (over 1 MiB/s) dropped; 2 lines cut to 4096 bytes"``."""
        parts = []
        if self.lines:
            parts.append(f"{self.lines} lines")
        if self.bytes:
            parts.append(f"{self.bytes:,} bytes (over {RATE >> 20} MiB/s)")
        text = (", ".join(parts) + " of output dropped") if parts else ""
        if self.cut:
            text += ("; " if text else "") + f"{self.cut} lines cut to {MAX_LINE} bytes"
        return text


class OutputPump:
    """A daemon thread that drains ``stream`` (a child's output pipe) within the module's bounds.

    Complete lines go to :meth:`take` (the host's thread, once a tick);
    ``on_line(text)``, when given, also sees each kept line (crash-report
    tails). ``clock`` is the time source of the rate bucket.
    """

    def __init__(self, stream: Any, name: str, *, on_line: Callable[[str], None] | None = None,
                 clock: Callable[[], float] = time.monotonic, rate: int = RATE, burst: int = BURST,
                 max_pending: int = MAX_PENDING) -> None:
        self.name = name
        self._stream = stream
        self._on_line = on_line
        self._clock = clock
        self._rate, self._burst, self._max_pending = rate, burst, max_pending
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)  # a line was kept, or the pipe closed
        self._lines: deque[str] = deque()
        self._pending = 0
        self._dropped = Dropped()
        self._closed = False
        self.total_bytes = 0
        self._thread = threading.Thread(target=self._pump, name=f"gpi-out-{name}", daemon=True)
        self._thread.start()

    # -- the reading thread ------------------------------------------------------------------

    def _pump(self) -> None:
        stream = self._stream
        if stream is None:
            return
        read = getattr(stream, "read1", None) or stream.read
        tokens = float(self._burst)
        last = self._clock()
        partial = bytearray()
        over = False  # the current line is past MAX_LINE: drop until its newline
        try:
            while True:
                chunk = read(_CHUNK)
                if not chunk:
                    break
                self.total_bytes += len(chunk)
                now = self._clock()
                tokens = min(float(self._burst), tokens + (now - last) * self._rate)
                last = now
                if len(chunk) > tokens:
                    with self._lock:
                        self._dropped.bytes += len(chunk)
                        self._dropped.flooded = True
                    continue
                tokens -= len(chunk)
                start = 0
                while start < len(chunk):
                    nl = chunk.find(b"\n", start)
                    end = len(chunk) if nl < 0 else nl
                    if not over:
                        room = MAX_LINE - len(partial)
                        piece = chunk[start:end]
                        if len(piece) > room:
                            partial += piece[:room]
                            over = True
                        else:
                            partial += piece
                    if nl < 0:
                        break
                    self._line(bytes(partial), over)
                    partial.clear()
                    over = False
                    start = nl + 1
            if partial:
                self._line(bytes(partial), over)
        except (OSError, ValueError):
            pass
        finally:
            try:
                stream.close()
            except (OSError, ValueError):
                pass
            with self._lock:
                self._closed = True
                self._arrived.notify_all()

    def _line(self, raw: bytes, cut: bool) -> None:
        text = raw.decode("utf-8", "replace").rstrip()
        with self._lock:
            if cut:
                self._dropped.cut += 1
            if self._pending + len(raw) > self._max_pending:
                self._dropped.lines += 1
                return
            self._lines.append(text)
            self._pending += len(raw)
            self._arrived.notify_all()
        if self._on_line is not None:
            self._on_line(text)

    # -- the host's side ---------------------------------------------------------------------

    def take(self, max_lines: int = LINES_PER_TICK) -> tuple[list[str], Dropped]:
        """Up to ``max_lines`` waiting lines (the others are dropped and counted) and the drop counts."""
        with self._lock:
            lines = [self._lines.popleft() for _ in range(min(max_lines, len(self._lines)))]
            self._dropped.lines += len(self._lines)
            self._lines.clear()
            self._pending = 0
            dropped, self._dropped = self._dropped, Dropped()
        return lines, dropped

    def mark(self) -> int:
        """How many lines wait for :meth:`take` now: pass it to :meth:`wait_for` as ``since``."""
        with self._lock:
            return len(self._lines)

    def wait_for(self, match: Callable[[str], bool], since: int, timeout: float) -> bool:
        """Wait up to ``timeout`` s for a line after the first ``since`` waiting ones that ``match``-es.

        For the host's thread between two :meth:`take` calls (a stalled
        child's stack dump): it waits for the line itself, not for a guess of
        how long the child takes to print it. False on timeout or once the
        pipe has closed without such a line.
        """
        end = time.monotonic() + timeout
        with self._lock:
            checked = since
            while True:
                lines = self._lines
                if any(match(lines[i]) for i in range(checked, len(lines))):
                    return True
                checked = len(lines)
                left = end - time.monotonic()
                if left <= 0 or self._closed:
                    return False
                self._arrived.wait(left)

    def join(self, timeout: float = 1.0) -> None:
        """Wait for the pipe to close (the child is gone) and the last lines to be read."""
        self._thread.join(timeout)

    def __repr__(self) -> str:
        return f"<OutputPump {self.name!r} {self.total_bytes} bytes read>"
