"""Summary statistics over a rolling window of samples.

Every figure the overlay and the terminal table show is one of these: the
mean, the 95th percentile (linear interpolation between samples, numpy's
default) and the maximum of a window, plus how many samples it covers. An
empty window summarises to zeros with ``count == 0`` rather than NaN, so
tables and plots never have to special-case "no data yet".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

__all__ = ["Stats", "summarize"]


@dataclass(frozen=True, slots=True)
class Stats:
    """Mean, 95th percentile, maximum, minimum and count of a window."""

    mean: float
    p95: float
    max: float
    min: float
    count: int

    def scaled(self, factor: float) -> Stats:
        """The same statistics multiplied by ``factor`` (e.g. ns -> ms)."""
        return Stats(
            self.mean * factor, self.p95 * factor, self.max * factor, self.min * factor, self.count
        )


_EMPTY = Stats(0.0, 0.0, 0.0, 0.0, 0)


def summarize(values: Iterable[float] | np.ndarray) -> Stats:
    """Stats of ``values`` (zeros and ``count == 0`` for an empty window)."""
    arr = np.asarray(values if isinstance(values, np.ndarray) else list(values), dtype=np.float64)
    if arr.size == 0:
        return _EMPTY
    return Stats(
        mean=float(arr.mean()),
        p95=float(np.percentile(arr, 95.0)),
        max=float(arr.max()),
        min=float(arr.min()),
        count=int(arr.size),
    )
