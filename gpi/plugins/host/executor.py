"""Wave execution: how the calls of one wave reach their workers, serially or in parallel.

A wave is a list of system keys (``plugin.system``) that do not conflict;
the schedule runs its waves in order. An executor sends each call of a wave
to its plugin's worker and gathers the results; it never applies anything:
the host then takes the results **in schedule order** (never completion
order), which keeps both executors' outcomes identical.

- :class:`SerialExecutor`: one round trip per call (send, then wait for the
  result), one call after another.
- :class:`ParallelExecutor`: every request of the wave is sent before any
  result is read, so the children run at the same time; a wave of one call
  goes the serial way (one channel round trip is cheaper than two halves).

A call whose plugin is not runnable (disabled, waiting for a restart) is not
sent. A worker that raises while sending or receiving (dead child, broken
ring, stall past the call's deadline, garbage on the channel) fails that
call with the exception and marks its plugin *dead* for the rest of the wave:
the host restarts it after the wave.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gpi.ecs import Access
from gpi.ecs.schedule import SystemDecl
from gpi.plugins.errors import PluginCrashedError
from gpi.plugins.sdk import SystemSpec

if TYPE_CHECKING:
    from gpi.plugins.host.worker import Worker

__all__ = ["CallInfo", "Executor", "ParallelExecutor", "SerialExecutor", "WaveOutcome", "make_executor"]

#: Builds the run request of one call: ``request(call, first)`` (``first``: first call to that worker this wave).
RequestBuilder = Callable[["CallInfo", bool], dict[str, Any]]


class CallInfo:
    """What every call of one system needs, worked out once per schedule build (not per tick)."""

    __slots__ = ("key", "decl", "plugin", "system", "source", "access", "input", "save", "resources", "events",
                 "changes")

    def __init__(self, key: str, d: SystemDecl, access: Access, granted: frozenset[str]) -> None:
        """The call of system ``d`` (key ``plugin.system``) with the plugin's ``granted`` capabilities."""
        self.key = key
        self.decl = d
        self.plugin: str = d.group
        self.system: str = d.name
        self.source = f"plugin {d.group!r} system {d.name!r}"
        self.access = access
        self.input = "input" in granted
        self.save = "save" in granted
        self.resources = tuple(sorted(d.resources))  # sorted: a defined order in every process
        self.events = tuple(sorted(d.events))
        self.changes: tuple[str, ...] | None = None  # change detection: the removed=[...] names, if it watches

    @classmethod
    def of(cls, plugin: str, spec: SystemSpec, granted: frozenset[str]) -> CallInfo:
        """The call of ``plugin``'s system ``spec``: its schedule declaration and the access it is granted.

        Writes are what the system declared; resources, events and structural
        changes only what its capabilities allow (the rest is refused at apply).
        """
        d = SystemDecl(f"{plugin}.{spec.name}", stage=spec.stage, reads=frozenset(spec.reads),
                       writes=frozenset(spec.writes), resources=frozenset(spec.resources),
                       events=frozenset(spec.events), before=spec.before, after=spec.after,
                       structural=spec.structural, group=plugin, name=spec.name)
        structural = (spec.spawns and "spawn" in granted) or (spec.despawns and "despawn" in granted)
        access = Access(writes=spec.writes, resources=spec.resources if "resources" in granted else (),
                        events=spec.events if "events" in granted else (), structural=structural)
        c = cls(d.key, d, access, granted)
        if spec.watches:
            c.changes = tuple(sorted(spec.removed))
        return c


@dataclass
class WaveOutcome:
    """What came back from one wave: per key, its result (or exception) and its send/receive times."""

    results: dict[str, dict[str, Any] | BaseException] = field(default_factory=dict)
    sent: dict[str, int] = field(default_factory=dict)  # key -> perf_counter_ns when its request left
    received: dict[str, int] = field(default_factory=dict)  # key -> perf_counter_ns when its result came
    dead: set[str] = field(default_factory=set)  # plugins whose worker failed during the wave


class Executor:
    """Runs the calls of one wave on the host's workers (see the module doc)."""

    def __init__(self, calls: Mapping[str, CallInfo], workers: Mapping[str, Worker], world: Any,
                 runnable: Callable[[str], bool], deadline: Callable[[str], float],
                 request: RequestBuilder) -> None:
        """Over the host's live ``calls`` and ``workers`` maps (read, never changed here)."""
        self.calls = calls
        self.workers = workers
        self.world = world
        self.runnable = runnable  # plugin -> whether its systems run this tick
        self.deadline = deadline  # plugin -> seconds a call may take
        self.request = request

    def run(self, wave: Sequence[str]) -> WaveOutcome:
        """Send every runnable call of ``wave`` and gather its result."""
        raise NotImplementedError

    def dispatch(self, wave: Sequence[str], out: WaveOutcome, send: Callable[[str, str, dict[str, Any]], None]) -> None:
        """Build each runnable call's request in wave order and ``send(key, plugin, request)`` it.

        A plugin's first call of the wave carries what only the first needs;
        a call of a plugin whose worker already failed this wave is not sent
        (its result says so); an exception from building or sending marks the
        plugin dead for the rest of the wave and is that call's result.
        """
        seen: set[str] = set()
        results, sent, dead = out.results, out.sent, out.dead
        calls, runnable, request = self.calls, self.runnable, self.request
        clock = time.perf_counter_ns
        for key in wave:
            c = calls[key]
            plugin = c.plugin
            if not runnable(plugin):
                continue
            if plugin in dead:
                results[key] = _restarted(plugin)
                continue
            first = plugin not in seen
            seen.add(plugin)
            try:
                req = request(c, first)
                sent[key] = clock()
                send(key, plugin, req)
            except Exception as exc:  # dead, stalled or out of protocol: restart it
                results[key] = exc
                dead.add(plugin)


def _restarted(plugin: str) -> PluginCrashedError:
    return PluginCrashedError(f"child of plugin {plugin!r} was restarted earlier this wave")


class SerialExecutor(Executor):
    """One call after another, each one send and receive (one channel round trip)."""

    def run(self, wave: Sequence[str]) -> WaveOutcome:
        out = WaveOutcome()
        results, received = out.results, out.received
        workers, world, deadline = self.workers, self.world, self.deadline
        clock = time.perf_counter_ns

        def call(key: str, plugin: str, req: dict[str, Any]) -> None:
            try:
                results[key] = workers[plugin].call(req, world, deadline(plugin))
            finally:
                received[key] = clock()

        self.dispatch(wave, out, call)
        return out


class ParallelExecutor(SerialExecutor):
    """Every request of the wave first, then every result in wave order: the children overlap."""

    def run(self, wave: Sequence[str]) -> WaveOutcome:
        if len(wave) <= 1:
            return super().run(wave)
        out = WaveOutcome()
        results, sent, received, dead = out.results, out.sent, out.received, out.dead
        workers, world, deadline = self.workers, self.world, self.deadline
        clock = time.perf_counter_ns
        self.dispatch(wave, out, lambda key, plugin, req: workers[plugin].submit(req, world, deadline(plugin)))
        for key in wave:
            if key not in sent or key in results:
                continue
            plugin = self.calls[key].plugin
            if plugin in dead:
                results[key] = _restarted(plugin)
                continue
            try:
                left = deadline(plugin) - (clock() - sent[key]) / 1e9
                results[key] = workers[plugin].collect(max(left, 0.001))
            except Exception as exc:
                results[key] = exc
                dead.add(plugin)
            received[key] = clock()
        return out


def make_executor(parallel: bool, calls: Mapping[str, CallInfo], workers: Mapping[str, Worker], world: Any,
                  runnable: Callable[[str], bool], deadline: Callable[[str], float],
                  request: RequestBuilder) -> Executor:
    """A :class:`ParallelExecutor` when ``parallel``, else a :class:`SerialExecutor`."""
    cls = ParallelExecutor if parallel else SerialExecutor
    return cls(calls, workers, world, runnable, deadline, request)
