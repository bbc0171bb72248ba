"""Time sources for the host loop.

A clock is any zero-argument callable that returns monotonic seconds as a
float. The loop never reads time on its own: it is handed a clock, so a test
or a replay can drive it with :class:`ManualClock` and get exactly the same
ticks every run, while a live run uses :func:`monotonic_clock`
(``time.perf_counter``).

:class:`ManualClock` is not a mock: it is the clock a deterministic driver
uses (tests, frame-stepping tools). Time only moves when someone calls
:meth:`ManualClock.advance`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["Clock", "ManualClock", "monotonic_clock", "monotonic_ns"]

Clock = Callable[[], float]
"""A callable returning monotonic time in seconds."""


def monotonic_clock() -> float:
    """Monotonic wall time in seconds (``time.perf_counter``), the live clock."""
    return time.perf_counter()


def monotonic_ns() -> int:
    """Monotonic wall time in integer nanoseconds, for telemetry timestamps."""
    return time.perf_counter_ns()


class ManualClock:
    """A clock that only moves when told to; call it to read the time."""

    __slots__ = ("_now",)

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)

    def __call__(self) -> float:
        """The current time in seconds."""
        return self._now

    @property
    def now(self) -> float:
        """The current time in seconds."""
        return self._now

    def advance(self, seconds: float) -> float:
        """Move time forward by ``seconds`` (must be >= 0); return the new time."""
        if seconds < 0:
            raise ValueError(
                f"ManualClock.advance({seconds!r}): time only moves forward; pass seconds >= 0"
            )
        self._now += float(seconds)
        return self._now

    def __repr__(self) -> str:
        return f"ManualClock(now={self._now!r})"
