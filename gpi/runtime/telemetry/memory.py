"""Process memory: resident set sizes and the leak check.

RSS comes from ``/proc/<pid>/statm``, whose second field is the number of
resident pages (multiplied by the page size here). Reading it is one small
file read, cheap enough to sample every few ticks for the host and each
plugin child.

The leak check looks at a series of :class:`~.records.MemorySample` taken
over a long run. It skips a warm-up fraction (allocators, caches and imports
settle first), then reports per process the RSS at the start and end of the
measured part, the growth, and the least-squares slope in bytes per 1000
ticks. A process is *suspect* when its growth is above both an absolute
floor and a fraction of its starting size: a steady climb over thousands of
ticks, not allocator noise.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gpi.runtime.telemetry.records import MemorySample

__all__ = ["LeakReport", "PAGE_SIZE", "leak_check", "rss_bytes"]

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
# Default leak thresholds: growth must exceed 8 MiB *and* 10 % of the
# starting RSS. Python processes wobble by a few MiB as arenas come and go.
DEFAULT_MIN_GROWTH = 8 * 1024 * 1024
DEFAULT_MIN_FRACTION = 0.10


def rss_bytes(pid: int | None = None) -> int | None:
    """Resident set size of ``pid`` (default: this process) in bytes; None if it is gone."""
    pid = os.getpid() if pid is None else int(pid)
    try:
        with open(f"/proc/{pid}/statm", "rb") as fh:
            fields = fh.read().split()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return int(fields[1]) * PAGE_SIZE


@dataclass(frozen=True, slots=True)
class LeakReport:
    """RSS growth of one process over the measured part of a run."""

    label: str
    samples: int
    first_tick: int
    last_tick: int
    start_bytes: int
    end_bytes: int
    peak_bytes: int
    growth_bytes: int
    slope_bytes_per_1k_ticks: float
    suspect: bool

    @property
    def growth_fraction(self) -> float:
        """Growth relative to the starting RSS."""
        return self.growth_bytes / self.start_bytes if self.start_bytes else 0.0


def leak_check(
    samples: Sequence[MemorySample],
    *,
    warmup: float = 0.2,
    min_growth: int = DEFAULT_MIN_GROWTH,
    min_fraction: float = DEFAULT_MIN_FRACTION,
) -> list[LeakReport]:
    """RSS growth per process label after skipping the first ``warmup`` fraction of samples."""
    if not 0.0 <= warmup < 1.0:
        raise ValueError(f"leak_check(warmup={warmup!r}): use a fraction in [0, 1)")
    skip = int(len(samples) * warmup)
    measured = list(samples[skip:])
    labels: list[str] = []
    for sample in measured:
        for label in sample.rss:
            if label not in labels:
                labels.append(label)
    reports = []
    for label in labels:
        points = [(s.tick, s.rss[label]) for s in measured if label in s.rss]
        ticks = np.array([p[0] for p in points], dtype=np.float64)
        rss = np.array([p[1] for p in points], dtype=np.float64)
        start, end = int(rss[0]), int(rss[-1])
        if len(points) >= 2 and np.ptp(ticks) > 0:
            slope = float(np.polyfit(ticks, rss, 1)[0]) * 1000.0
        else:
            slope = 0.0
        growth = end - start
        reports.append(
            LeakReport(
                label=label,
                samples=len(points),
                first_tick=int(ticks[0]),
                last_tick=int(ticks[-1]),
                start_bytes=start,
                end_bytes=end,
                peak_bytes=int(rss.max()),
                growth_bytes=growth,
                slope_bytes_per_1k_ticks=slope,
                suspect=growth > min_growth and growth > min_fraction * start,
            )
        )
    return reports
