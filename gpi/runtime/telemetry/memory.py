"""Process memory: resident set sizes and the leak check.

RSS comes from ``/proc/<pid>/statm``, whose second field is the number of
resident pages (multiplied by the page size here). Reading it is one small
file read, cheap enough to sample every few ticks for the host and each
plugin child.

The leak check looks at a series of :class:`~.records.MemorySample` taken
over a run. It skips a warm-up fraction (allocators, caches, imports and
the bounded telemetry windows fill first), then fits a line through the
remaining samples of each process (least squares) and reports the RSS at
the start and end of the measured part, the growth, and the slope in bytes
per 1000 ticks. A process is *suspect* when the slope is above
``max_slope`` (MiB per 1000 ticks) and the fitted growth over the measured
ticks is above ``min_growth``: a steady climb shows in a short run (4.5 MiB
per 1000 ticks is flagged within 1,200 ticks), while allocator wobble of a
few MiB up and down fits a flat line. The fit, not the difference of the
two end samples, is what decides, so one late arena does not make a leak.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gpi.runtime.telemetry.records import MemorySample

__all__ = ["LeakReport", "PAGE_SIZE", "leak_check", "rss_bytes"]

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
_MIB = 1024 * 1024
DEFAULT_MAX_SLOPE_MIB = 1.0
"""Suspect above this many MiB per 1000 ticks (a flat host stays far below; an hour at 60 Hz is 216k ticks)."""
DEFAULT_MIN_GROWTH = 2 * _MIB
"""...and only if the fitted growth over the measured ticks is above this (allocator noise is smaller)."""


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
    def slope_mib_per_1k_ticks(self) -> float:
        """The fitted growth rate in MiB per 1000 ticks."""
        return self.slope_bytes_per_1k_ticks / _MIB

    @property
    def growth_fraction(self) -> float:
        """Growth relative to the starting RSS."""
        return self.growth_bytes / self.start_bytes if self.start_bytes else 0.0


def leak_check(
    samples: Sequence[MemorySample],
    *,
    warmup: float = 0.2,
    max_slope_mib: float = DEFAULT_MAX_SLOPE_MIB,
    min_growth: int = DEFAULT_MIN_GROWTH,
) -> list[LeakReport]:
    """RSS growth per process label after skipping the first ``warmup`` fraction of samples.

    ``max_slope_mib`` is in MiB per 1000 ticks, ``min_growth`` in bytes (see
    the module docstring for the verdict).
    """
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
        fitted = slope * float(np.ptp(ticks)) / 1000.0 if len(points) >= 2 else 0.0
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
                suspect=slope > max_slope_mib * _MIB and fitted > min_growth,
            )
        )
    return reports
