"""From one call's result to its effect: commands applied, saves written, faults and a record.

The host hands every call of a wave to :meth:`ResultHandler.finish`, in
schedule order, after the executor gathered the results. Per call exactly one
record is published (:func:`~gpi.plugins.host.records.call_record`), and:

- a result for this system and tick without an error: its command list is
  decoded by the plugin's worker and applied with the system's declared
  access (a refused list is a ``rejected`` fault, the world untouched); then
  its save batch, only when the plugin holds ``save`` and the commands applied;
- a result with an error (plugin code raised): an ``exception`` fault with the
  child's traceback and classified violation;
- no result (the executor did not send it: plugin disabled or waiting for a
  restart): ``skipped``, no new fault;
- an exception from the worker: ``timeout`` (stall), ``protocol`` (garbage)
  or ``crashed`` (dead child), the system skipped this tick;
- a result for another system or tick: the child's stream is out of step, a
  ``protocol`` fault, and the plugin lands in :attr:`ResultHandler.out_of_step`
  so the host restarts it after the wave.

The common case (a well-formed result) goes straight to :meth:`ResultHandler.finish_ok`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from gpi.ecs import CommandError
from gpi.plugins.errors import ProtocolError
from gpi.plugins.faults import FaultKind
from gpi.plugins.host.executor import CallInfo
from gpi.plugins.host.records import TickReport, call_record

if TYPE_CHECKING:
    from gpi.plugins.host.pluginhost import PluginHost

__all__ = ["ResultHandler", "fault_kind_of"]


def fault_kind_of(exc: BaseException | None) -> FaultKind:
    """The fault kind of a call that failed with ``exc`` in the worker (None: it was never sent)."""
    if isinstance(exc, TimeoutError):
        return FaultKind.TIMEOUT
    if isinstance(exc, (ProtocolError, CommandError)):
        return FaultKind.PROTOCOL
    return FaultKind.CRASHED


#: Entities one call may spawn, unless its manifest says otherwise (``[sandbox] spawn_per_call``).
SPAWN_PER_CALL = 1_000_000
#: Entities one plugin may spawn in one tick (``[sandbox] spawn_per_tick``).
SPAWN_PER_TICK = 2_000_000
#: Live entities in the world past which a plugin's spawns are refused (``[sandbox] max_entities``).
MAX_ENTITIES = 8_000_000


class ResultHandler:
    """Applies the results of a host's calls and publishes their records (see the module doc)."""

    def __init__(self, host: PluginHost, calls: Mapping[str, CallInfo]) -> None:
        """For ``host`` (its public members), over its live map of calls by system key."""
        self.host = host
        self.calls = calls
        #: Plugins whose child answered out of step this wave (the host restarts them after it).
        self.out_of_step: set[str] = set()
        self._spawned: dict[str, tuple[int, int]] = {}  # plugin -> (tick, entities spawned that tick)

    def check_spawn_budget(self, c: CallInfo, buf: Any) -> None:
        """Raise :class:`CommandError` when ``buf`` spawns more than the plugin's budget per call or per tick.

        Budgets (``[sandbox] spawn_per_call`` / ``spawn_per_tick`` / ``max_entities`` in the
        manifest, defaults :data:`SPAWN_PER_CALL` / :data:`SPAWN_PER_TICK` / :data:`MAX_ENTITIES`)
        bound what the ``spawn`` capability lets one plugin ask of the host: a 10-million-entity
        spawn, or a thousand spawns that add up to a world too big for its neighbours' children to
        map, is that plugin's rejected list.
        """
        n = sum(int(op.get("count") or 0) for op in buf.ops if op.get("op") == "spawn")
        if n <= 0:
            return
        lp = self.host.plugins.get(c.plugin)
        table = lp.manifest.sandbox if lp is not None else {}
        per_call = int(table.get("spawn_per_call", SPAWN_PER_CALL))
        per_tick = int(table.get("spawn_per_tick", SPAWN_PER_TICK))
        total = int(table.get("max_entities", MAX_ENTITIES))
        tick = self.host.tick_count
        last_tick, done = self._spawned.get(c.plugin, (tick, 0))
        if last_tick != tick:
            done = 0
        if n > per_call:
            raise CommandError(f"{c.source} spawns {n} entities in one call, over its budget of {per_call} "
                               "(manifest [sandbox] spawn_per_call)", source=c.source)
        if done + n > per_tick:
            raise CommandError(f"{c.source} spawns {n} entities after {done} this tick, over its budget of "
                               f"{per_tick} per tick (manifest [sandbox] spawn_per_tick)", source=c.source)
        live = int(self.host.world.entity_count)
        if live + n > total:
            raise CommandError(f"{c.source} spawns {n} entities into a world of {live}, over its budget of "
                               f"{total} live entities (manifest [sandbox] max_entities)", source=c.source)
        self._spawned[c.plugin] = (tick, done + n)

    def finish(self, stage: str, wi: int, key: str, res: dict[str, Any] | BaseException | None,
               t_sent: int, t_recv: int, report: TickReport) -> None:
        """Apply or account for call ``key``'s result ``res`` (see the module doc)."""
        host = self.host
        tick = host.tick_count
        c = self.calls[key]
        plugin, system, source = c.plugin, c.system, c.source
        host_ns = t_recv - t_sent
        if type(res) is dict and res.get("sys") == system and res.get("tick") == tick and not res.get("error"):
            self.finish_ok(stage, wi, c, res, host_ns, report)
            return
        events = host.events
        if res is None and not host.supervision.runnable(plugin):  # disabled or restarting: no new fault
            lp = host.plugins.get(plugin)
            err = f"{source}: not run (plugin {lp.status if lp else 'gone'})"
            report.skipped.append(key)
            host.publish_record(call_record(tick, plugin, system, stage, wi, "skipped", host_ns, ipc_ns=0,
                                            error=err))
            return
        if res is None or isinstance(res, BaseException):
            err = f"{source}: skipped this tick: {type(res).__name__}: {res}" if res else f"{source}: not run"
            report.skipped.append(key)
            events.fault(fault_kind_of(res), plugin, system, err)
            host.publish_record(call_record(tick, plugin, system, stage, wi, "skipped", host_ns, ipc_ns=0,
                                            error=err))
            return
        if res.get("sys") != system or res.get("tick") != tick:
            err = (f"{source}: child answered for system {res.get('sys')!r} tick {res.get('tick')!r}; "
                   "its stream is out of step, restarting it")
            report.skipped.append(key)
            events.fault(FaultKind.PROTOCOL, plugin, system, err)
            host.publish_record(call_record(tick, plugin, system, stage, wi, "skipped", host_ns, ipc_ns=0,
                                            error=err))
            self.out_of_step.add(plugin)
            return
        if not res.get("error"):
            self.finish_ok(stage, wi, c, res, host_ns, report)
            return
        e = res["error"]
        if e.get("type") == "WasmFuelExhausted":  # a wasm stall, stopped by fuel: a stall fault, restarted
            self.result_logs(plugin, system, res)
            err = f"{source} stalled: {e.get('message')}"
            report.skipped.append(key)
            events.fault(FaultKind.TIMEOUT, plugin, system, err)
            host.publish_record(call_record(tick, plugin, system, stage, wi, "skipped", host_ns, ipc_ns=0,
                                            error=err))
            self.out_of_step.add(plugin)
            return
        host.supervision.succeeded(plugin)
        child_ns = int(res.get("child_ns") or 0)
        cpu_ns = int(res.get("cpu_ns") or 0)
        self.result_logs(plugin, system, res)
        msg = f"{source} raised {e.get('type')}: {e.get('message')}"
        report.errors.append(key)
        events.fault(FaultKind.EXCEPTION, plugin, system, msg, traceback=e.get("traceback", ""),
                     violation=e.get("violation"))
        if e.get("traceback"):
            events.log(f"{plugin}/{system}", "error", str(e["traceback"]).rstrip())
        host.publish_record(call_record(tick, plugin, system, stage, wi, "error", host_ns, child_ns, cpu_ns,
                                        error=msg))

    def result_logs(self, plugin: str, system: str, res: dict[str, Any]) -> None:
        """Publish the log lines a call's result carries (and how many the child dropped)."""
        log = self.host.events.log
        for level, text in res.get("logs") or ():
            log(f"{plugin}/{system}", str(level), str(text))
        if res.get("dropped"):
            log(f"{plugin}/{system}", "warning", f"{res['dropped']} log lines dropped (limit per call)")

    def finish_ok(self, stage: str, wi: int, c: CallInfo, res: dict[str, Any], host_ns: int,
                  report: TickReport) -> None:
        """A call that returned for this system and tick without an exception: apply its commands."""
        host = self.host
        plugin = c.plugin
        host.supervision.succeeded(plugin)
        child_ns = int(res.get("child_ns") or 0)
        cpu_ns = int(res.get("cpu_ns") or 0)
        if res.get("logs") or res.get("dropped"):
            self.result_logs(plugin, c.system, res)
        report.ran.append(c.key)
        status, error, ops, nbytes, apply_ns = "ok", None, 0, 0, 0
        wire_cmds = res.get("cmds")
        if wire_cmds is not None:
            t0 = time.perf_counter_ns()
            try:
                worker = host.worker(plugin)
                if worker is None:
                    raise CommandError(f"{c.source}: plugin {plugin!r} has no worker", source=c.source)
                buf = worker.decode(wire_cmds, c.source)
                ops = len(buf)
                nbytes = buf.nbytes
                self.check_spawn_budget(c, buf)
                host.world.apply(buf, access=c.access, source=c.source)
            except CommandError as exc:
                status, error = "rejected", str(exc)
            except Exception as exc:  # hostile or broken wire data
                status, error = "rejected", f"{c.source}: malformed command list: {type(exc).__name__}: {exc}"
            if error is not None:
                report.rejected.append(c.key)
                host.events.fault(FaultKind.REJECTED, plugin, c.system, error)
            apply_ns = time.perf_counter_ns() - t0
        if status == "ok" and res.get("saves"):  # after the world commands, one atomic batch
            host.saves.apply(plugin, c.system, res["saves"])
        host.publish_record(call_record(host.tick_count, plugin, c.system, stage, wi, status, host_ns, child_ns,
                                        cpu_ns, apply_ns, nbytes, ops, error))
