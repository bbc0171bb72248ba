"""Fault bookkeeping for plugin children: crash reports, restart backoff, circuit breaker.

Everything here counts in *ticks*, not seconds: when a crashed child comes
back and when a plugin is disabled depend only on the tick sequence, so a
replay of a faulty run takes the same decisions.

A crash report is one JSON file per fault under the run's data folder,
written atomically (temporary file, fsync, rename).

The two vocabularies every other module uses live here, at the bottom of the
plugin layer: :class:`PluginState` (what a plugin is doing: the host's
``LoadedPlugin.status``, the supervisor's decisions and the overlay's rows)
and :class:`FaultKind` (what went wrong in one fault record of
``PluginHost.faults``, and the replay fault kind it is recorded as).
"""

from __future__ import annotations

import json
import signal
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from gpi.fsio import atomic_write

__all__ = [
    "CrashReport",
    "FaultKind",
    "PluginState",
    "RestartPolicy",
    "Supervisor",
    "describe_exit",
    "replay_fault_kind",
    "write_crash_report",
]


def describe_exit(returncode: int | None) -> str:
    """Human text for a child's exit status ('killed by SIGSEGV', 'exit code 3')."""
    if returncode is None:
        return "still running"
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode}"


@dataclass
class CrashReport:
    """What is known about one child fault."""

    plugin: str
    system: str | None
    tick: int
    kind: str  # "crashed" | "stalled" | "error"
    exit: str = ""
    signal: str | None = None
    returncode: int | None = None
    traceback: str = ""
    log_tail: list[str] = field(default_factory=list)
    last_commands: dict[str, Any] = field(default_factory=dict)
    wall_time: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def write_crash_report(folder: str | Path, report: CrashReport) -> Path:
    """Write ``report`` as JSON under ``folder`` and return its path (atomic)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"crash-{report.plugin}-t{report.tick:08d}-{report.kind}"
    path = folder / f"{stem}.json"
    n = 1
    while path.exists():
        path = folder / f"{stem}-{n}.json"
        n += 1
    return atomic_write(path, json.dumps(report.to_dict(), indent=2, sort_keys=True))


class PluginState(StrEnum):
    """Lifecycle of one plugin: ``LoadedPlugin.status``, the supervisor's states, the overlay's rows."""

    STARTING = "starting"  # its child is being started (load, restart, swap)
    RUNNING = "running"  # its systems run every tick
    CRASHED = "crashed"  # its child could not be restarted; the supervisor retries or disables it
    RESTARTING = "restarting"  # its child died; a new one starts at a later tick (backoff)
    DISABLED = "disabled"  # the circuit breaker stopped it; a reload runs it again
    STOPPED = "stopped"  # the host closed


class FaultKind(StrEnum):
    """The ``kind`` of a host fault record (``PluginHost.faults``); one per way a call can go wrong."""

    TIMEOUT = "timeout"  # no answer within the call's deadline (or the child did not read what was sent)
    CRASHED = "crashed"  # the child died or its channel broke
    PROTOCOL = "protocol"  # the child sent something outside the protocol
    EXCEPTION = "exception"  # plugin code raised
    REJECTED = "rejected"  # the command list failed validation: the world is untouched
    SAVE_REJECTED = "save_rejected"  # the call's save batch was refused: nothing written
    RESTART_FAILED = "restart_failed"  # a new child did not start
    DISABLED = "disabled"  # the circuit breaker disabled the plugin
    RELOAD_FAILED = "reload_failed"  # a hot swap failed; the old code keeps running
    FLOOD = "flood"  # the child printed past the output bounds (gpi.plugins.output): restarted

    @property
    def replay_kind(self) -> str:
        """The replay fault kind (``gpi.replays.records.FAULT_KINDS``) this fault is recorded as."""
        return _REPLAY_KINDS.get(self, "skipped")


_REPLAY_KINDS = {FaultKind.TIMEOUT: "stalled", FaultKind.CRASHED: "crashed",
                 FaultKind.RESTART_FAILED: "disabled", FaultKind.DISABLED: "disabled"}


def replay_fault_kind(kind: str) -> str:
    """The replay fault kind of a host fault ``kind`` (``"skipped"`` for anything not a stall, crash or disable)."""
    try:
        return FaultKind(kind).replay_kind
    except ValueError:
        return "restarted" if kind == "restarted" else "skipped"


@dataclass(frozen=True)
class RestartPolicy:
    """Backoff and circuit-breaker settings, in ticks.

    After the n-th consecutive fault the child is restarted
    ``min(base_ticks * 2**(n-1), max_ticks)`` ticks later (0 means at the next
    tick). ``max_faults`` faults within ``window_ticks`` disable the plugin.
    """

    base_ticks: int = 0
    max_ticks: int = 64
    max_faults: int = 5
    window_ticks: int = 600

    def delay(self, consecutive: int) -> int:
        if consecutive <= 0 or self.base_ticks <= 0:
            return 0
        return int(min(self.base_ticks * 2 ** (consecutive - 1), self.max_ticks))


class Supervisor:
    """Tracks faults per plugin and decides when to restart or disable it.

    ``immediate_first``: the first fault of a streak restarts at the next
    tick and the backoff starts with the second (the host's policy); else the
    first fault already waits ``policy.delay(1)`` ticks.
    """

    def __init__(self, policy: RestartPolicy | None = None, *, immediate_first: bool = False) -> None:
        self.policy = policy or RestartPolicy()
        self.immediate_first = immediate_first
        self._faults: dict[str, deque[int]] = {}
        self._consecutive: dict[str, int] = {}
        self._restart_at: dict[str, int] = {}
        self.state: dict[str, PluginState] = {}
        self.restarts: dict[str, int] = {}
        self.disabled_reason: dict[str, str] = {}

    def started(self, plugin: str) -> None:
        self.state[plugin] = PluginState.RUNNING
        self.restarts.setdefault(plugin, 0)

    def succeeded(self, plugin: str) -> None:
        """A call returned normally: the consecutive-fault streak ends."""
        self._consecutive[plugin] = 0

    def fault(self, plugin: str, tick: int) -> PluginState:
        """Record a fault at ``tick``; returns RESTARTING or DISABLED."""
        window = self._faults.setdefault(plugin, deque())
        window.append(tick)
        while window and window[0] <= tick - self.policy.window_ticks:
            window.popleft()
        self._consecutive[plugin] = self._consecutive.get(plugin, 0) + 1
        if len(window) >= self.policy.max_faults:
            self.state[plugin] = PluginState.DISABLED
            self.disabled_reason[plugin] = (
                f"plugin {plugin!r} disabled: {len(window)} faults within "
                f"{self.policy.window_ticks} ticks (circuit breaker, limit {self.policy.max_faults})"
            )
            return PluginState.DISABLED
        self.state[plugin] = PluginState.RESTARTING
        n = self._consecutive[plugin] - (1 if self.immediate_first else 0)
        self._restart_at[plugin] = tick + 1 + self.policy.delay(n)
        return PluginState.RESTARTING

    def due_restarts(self, tick: int) -> Sequence[str]:
        """Plugins whose restart is due at ``tick`` (sorted, for determinism)."""
        due = sorted(p for p, t in self._restart_at.items() if t <= tick)
        for p in due:
            del self._restart_at[p]
            self.restarts[p] = self.restarts.get(p, 0) + 1
        return due

    def restarts_pending(self) -> bool:
        """Whether any plugin waits for a restart (cheap: checked every tick)."""
        return bool(self._restart_at)

    def forget(self, plugin: str) -> None:
        """Drop the fault history of ``plugin`` (new code after a reload: the breaker starts over)."""
        self._faults.pop(plugin, None)
        self._consecutive.pop(plugin, None)
        self._restart_at.pop(plugin, None)
        self.disabled_reason.pop(plugin, None)

    def is_disabled(self, plugin: str) -> bool:
        """Whether the circuit breaker disabled ``plugin``."""
        return self.state.get(plugin) == PluginState.DISABLED
