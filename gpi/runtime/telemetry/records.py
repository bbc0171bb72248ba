"""The records telemetry is made of.

All times are integer nanoseconds from one monotonic clock
(``time.perf_counter_ns`` in the host), so records from the loop, the
scheduler and the plugin host line up on one timeline.

- :class:`CallRecord`: one system call in one tick. ``host_wall_ns`` is what
  the host saw from sending the request to having the reply;
  ``child_cpu_ns`` is the CPU time the child reported for running the system
  (``time.thread_time_ns`` around the call); ``ipc_ns`` is the part of the
  host-observed time spent outside the system proper (messaging, decoding,
  waiting to be scheduled): by default ``host_wall_ns - child_wall_ns``
  as the plugin host measures it. ``cmd_bytes`` is the size of the command
  buffer the call returned. ``start_ns`` places the call on the timeline.
- :class:`WaveRecord`: one wave of parallel calls (all calls in a wave
  start and finish inside it).
- :class:`FrameRecord`: one frame of the host loop (input, ticks, render).
- :class:`MemorySample`: resident set sizes of the host and its children at
  one moment.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["CallRecord", "FrameRecord", "MemorySample", "WaveRecord"]


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One system call: who, when, and what it cost."""

    system: str
    plugin: str
    tick: int
    wave: int
    host_wall_ns: int
    child_cpu_ns: int = 0
    ipc_ns: int = 0
    cmd_bytes: int = 0
    start_ns: int = 0

    @property
    def end_ns(self) -> int:
        """When the host had the reply."""
        return self.start_ns + self.host_wall_ns

    @property
    def key(self) -> tuple[str, str]:
        """``(plugin, system)``: how telemetry groups calls."""
        return (self.plugin, self.system)


@dataclass(frozen=True, slots=True)
class WaveRecord:
    """One wave of a tick: systems that ran in parallel between two sync points."""

    tick: int
    wave: int
    start_ns: int
    dur_ns: int
    stage: str = ""

    @property
    def end_ns(self) -> int:
        """When the wave's last call returned and its commands were applied."""
        return self.start_ns + self.dur_ns


@dataclass(frozen=True, slots=True)
class FrameRecord:
    """One host frame: its span, the ticks it ran and what systems took in it."""

    index: int
    tick: int
    start_ns: int
    dur_ns: int
    ticks: int = 1
    systems_ns: int = 0
    """Sum of host wall time of every call in the frame (parallel calls add up)."""
    waves_ns: int = 0
    """Sum of wave durations in the frame (never more than ``dur_ns``)."""

    @property
    def end_ns(self) -> int:
        """When the frame ended."""
        return self.start_ns + self.dur_ns


@dataclass(frozen=True, slots=True)
class MemorySample:
    """Resident set size in bytes per process label (``"host"``, plugin names)."""

    tick: int
    t_ns: int
    rss: dict[str, int] = field(default_factory=dict)
