"""What a tick leaves behind: its :class:`TickReport` and one timing record per call.

A call record is a dict with the keys :data:`RECORD_FIELDS`, built by
:func:`call_record` (the only place that builds one)::

    {"tick": 12, "plugin": "boids", "system": "steer", "stage": "update", "wave": 0,
     "status": "ok", "host_ns": 180_000, "child_ns": 120_000, "cpu_ns": 110_000,
     "ipc_ns": 60_000, "apply_ns": 9_000, "cmd_bytes": 4096, "ops": 2, "error": None}

``status`` is ``ok`` (commands applied), ``rejected`` (command list refused,
world untouched), ``error`` (plugin code raised) or ``skipped`` (not run, or
its child died, stalled or broke the protocol). ``ipc_ns`` is the host's view
minus the child's (``host_ns - child_ns``, at least 0). The host never changes
a record once it is published, so subscribers may keep it as it is (and must
not change it either).

:class:`CallRecords` publishes records to subscribers and keeps a bounded
window of the latest (``records``), so a host that runs for a day holds as
many as one that ran a minute. The fault vocabulary (:class:`FaultKind`) and
the plugin states (:class:`PluginState`) live in :mod:`gpi.plugins.faults`,
below the host, so supervision and the violation monitor share them;
they are re-exported here.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gpi.plugins.faults import FaultKind, PluginState

__all__ = [
    "DEFAULT_RECORD_LIMIT",
    "RECORD_FIELDS",
    "CallRecords",
    "FaultKind",
    "PluginState",
    "RecordHook",
    "TickReport",
    "call_record",
]

#: Keys of a per-call timing record.
RECORD_FIELDS = (
    "tick", "plugin", "system", "stage", "wave", "status", "host_ns", "child_ns", "cpu_ns",
    "ipc_ns", "apply_ns", "cmd_bytes", "ops", "error",
)

#: Call records a host keeps (about 300 ticks of the demo's seven calls); subscribers see every one.
DEFAULT_RECORD_LIMIT = 2048

RecordHook = Callable[[dict[str, Any]], None]


def call_record(tick: int, plugin: str, system: str, stage: str, wave: int, status: str, host_ns: int,
                child_ns: int = 0, cpu_ns: int = 0, apply_ns: int = 0, cmd_bytes: int = 0, ops: int = 0,
                error: str | None = None, *, ipc_ns: int | None = None) -> dict[str, Any]:
    """One call's timing record (keys :data:`RECORD_FIELDS`, in that order).

    ``ipc_ns`` defaults to ``host_ns - child_ns`` (at least 0); a call that
    never reached its child passes 0.
    """
    if ipc_ns is None:
        ipc_ns = host_ns - child_ns if host_ns > child_ns else 0
    return {"tick": tick, "plugin": plugin, "system": system, "stage": stage, "wave": wave, "status": status,
            "host_ns": host_ns, "child_ns": child_ns, "cpu_ns": cpu_ns, "ipc_ns": ipc_ns, "apply_ns": apply_ns,
            "cmd_bytes": cmd_bytes, "ops": ops, "error": error}


class CallRecords:
    """Publishes call records to subscribers and keeps the last ``limit`` of them."""

    def __init__(self, limit: int) -> None:
        #: The latest records, oldest first (a window: older ones are let go).
        self.records: deque[dict[str, Any]] = deque(maxlen=limit)
        self._hooks: list[RecordHook] = []

    def subscribe(self, fn: RecordHook) -> None:
        """Call ``fn(record)`` for every call from now on."""
        self._hooks.append(fn)

    def unsubscribe(self, fn: RecordHook) -> None:
        """Stop calling ``fn`` (no error if it was not subscribed)."""
        if fn in self._hooks:
            self._hooks.remove(fn)

    def publish(self, rec: dict[str, Any]) -> None:
        """Keep ``rec`` in the window and hand it to every subscriber."""
        self.records.append(rec)
        for fn in self._hooks:
            fn(rec)


@dataclass
class TickReport:
    """What happened in one tick: ran, skipped, rejected and failed systems."""

    tick: int
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    wall_ns: int = 0
    faults: list[dict[str, Any]] = field(default_factory=list)  # this tick's host.faults entries
    swaps: list[str] = field(default_factory=list)  # plugins hot-swapped at the start of this tick
    restarted: list[str] = field(default_factory=list)  # plugins whose child restarted before this tick
