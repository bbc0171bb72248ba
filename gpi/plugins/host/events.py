"""Faults and log lines of a plugin host, published to whoever subscribes.

:class:`HostEvents` is the one sink every part of the host reports through:
the wave loop (a call that crashed, stalled, raised or was rejected), the
supervision (a disabled plugin, a crash report that could not be written),
the save store (a refused batch) and hot swaps (a failed reload). Subscribers
(:meth:`HostEvents.on_fault`, :meth:`HostEvents.on_log`) see each event as it
happens: the violation monitor, telemetry, the recorder, the CLI.

A fault is a dict ``{"tick", "kind", "plugin", "system", "error", ...}`` with
``kind`` a :class:`~gpi.plugins.faults.FaultKind`; supervision adds ``exit``,
``returncode`` and ``report`` once it has reaped the child. Log lines are
``(source, level, text)`` tuples; ``source`` is ``plugin``,
``plugin/system``, ``plugin/stdout`` or a host part (``host``, ``schedule``).

Memory stays flat however long the host runs: both are kept as bounded
windows of the latest (a hostile plugin can fault every tick for a day).
Readers that must see every fault subscribe, or keep a cursor on the running
count (:attr:`FaultLog.total`) and ask :meth:`FaultLog.since` for the rest.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable
from itertools import islice
from typing import Any, overload

from gpi.plugins.faults import FaultKind
from gpi.safetext import neutralise

__all__ = ["DEFAULT_FAULT_LIMIT", "DEFAULT_LOG_LIMIT", "FaultHook", "FaultLog", "HostEvents", "LogHook"]

#: Faults kept in :attr:`HostEvents.faults` (older ones are let go; the count goes on).
DEFAULT_FAULT_LIMIT = 10_000
#: Log lines kept in :attr:`HostEvents.logs`.
DEFAULT_LOG_LIMIT = 10_000
#: Characters kept of one log line (a traceback included): the window stays within ~100 MiB.
LOG_TEXT_LIMIT = 8192

FaultHook = Callable[[dict[str, Any]], None]
LogHook = Callable[[str, str, str], None]

_log = logging.getLogger("gpi.plugins")
_LEVELS = {"DEBUG": logging.DEBUG, "INFO": logging.INFO, "WARNING": logging.WARNING, "ERROR": logging.ERROR}


class FaultLog(deque[dict[str, Any]]):
    """The latest faults, oldest first (a window of ``maxlen``), with the running count in :attr:`total`.

    Indexing and slicing work on the window, as on a list.
    """

    def __init__(self, maxlen: int) -> None:
        """An empty window of at most ``maxlen`` faults."""
        super().__init__((), maxlen)
        #: Faults appended since the start (the window holds the last ``len(self)`` of them).
        self.total = 0

    def append(self, rec: dict[str, Any]) -> None:
        """Add one fault (the oldest leaves when the window is full)."""
        super().append(rec)
        self.total += 1

    def since(self, count: int) -> list[dict[str, Any]]:
        """The faults after the first ``count`` ever appended (those still in the window)."""
        start = count - (self.total - len(self))
        return list(islice(self, max(start, 0), None)) if count < self.total else []

    @overload  # type: ignore[override]
    def __getitem__(self, i: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, i: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, i: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(i, slice):
            return list(self)[i]
        return super().__getitem__(i)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, list):
            return list(self) == other
        return super().__eq__(other)

    __hash__ = None  # type: ignore[assignment]

    def extend(self, recs: Iterable[dict[str, Any]]) -> None:
        """Add several faults."""
        for rec in recs:
            self.append(rec)


class HostEvents:
    """Publishes a host's faults and log lines; keeps windows of the latest (``faults``, ``logs``)."""

    def __init__(self, tick: Callable[[], int], log_limit: int = DEFAULT_LOG_LIMIT,
                 fault_limit: int = DEFAULT_FAULT_LIMIT) -> None:
        """``tick()`` is the host's current tick (stamped on every fault)."""
        self._tick = tick
        #: The last ``fault_limit`` faults, oldest first; ``faults.total`` counts every fault.
        self.faults = FaultLog(fault_limit)
        #: The last ``log_limit`` log lines ``(source, level, text)``.
        self.logs: deque[tuple[str, str, str]] = deque(maxlen=log_limit)
        self._fault_hooks: list[FaultHook] = []
        self._log_hooks: list[LogHook] = []

    def on_fault(self, fn: FaultHook) -> None:
        """Call ``fn(fault)`` for every fault from now on."""
        self._fault_hooks.append(fn)

    def on_log(self, fn: LogHook) -> None:
        """Call ``fn(source, level, text)`` for every log line from now on."""
        self._log_hooks.append(fn)

    def off_fault(self, fn: FaultHook) -> None:
        """Stop calling ``fn`` (no error if it was not subscribed)."""
        if fn in self._fault_hooks:
            self._fault_hooks.remove(fn)

    def off_log(self, fn: LogHook) -> None:
        """Stop calling ``fn`` (no error if it was not subscribed)."""
        if fn in self._log_hooks:
            self._log_hooks.remove(fn)

    def log(self, source: str, level: str, text: str) -> None:
        """Publish one log line (also to the ``gpi.plugins`` Python logger).

        ``source`` and ``text`` often come from a plugin: control characters
        (escape sequences, CR, newlines) are escaped first
        (:func:`gpi.safetext.neutralise`), so each line is one record and
        nothing reaches a terminal raw.
        """
        source = neutralise(source, limit=200)
        text = neutralise(text, limit=LOG_TEXT_LIMIT)
        self.logs.append((source, level, text))
        _log.log(_LEVELS.get(level.upper(), logging.INFO), "[%s] %s", source, text)
        for fn in self._log_hooks:
            fn(source, level, text)

    def fault(self, kind: FaultKind, plugin: str, system: str, error: str, **extra: Any) -> dict[str, Any]:
        """Publish one fault of ``plugin`` (``system`` may be ``""``); also logged as an error line.

        Returns the fault record (supervision adds what it learns about the
        child to it later in the same tick).
        """
        kind = FaultKind(kind)  # an unknown kind is a host bug: fail loudly
        rec = {"tick": self._tick(), "kind": kind, "plugin": plugin, "system": system, "error": error, **extra}
        self.faults.append(rec)
        for fn in self._fault_hooks:
            fn(rec)
        self.log(f"{plugin}/{system}" if system else plugin, "error", f"{kind}: {error}")
        return rec

    @property
    def fault_count(self) -> int:
        """Faults published since the start (a cursor for :meth:`faults_since`)."""
        return self.faults.total

    def faults_since(self, count: int) -> list[dict[str, Any]]:
        """The faults published after the first ``count`` (as far as the window reaches)."""
        return self.faults.since(count)

    def last_fault(self, plugin: str, tick: int | None = None) -> dict[str, Any] | None:
        """The latest fault of ``plugin`` (of ``tick`` only, when given), or None."""
        for f in reversed(self.faults):
            if f.get("plugin") == plugin:
                if tick is None or f.get("tick") == tick:
                    return f
            if tick is not None and f.get("tick") != tick:
                break
        return None
