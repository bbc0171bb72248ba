""":class:`PluginHost`, the front door of the plugin host: loading, swaps, saves, the tick.

::

    with World(seed=7) as world, PluginHost(world) as host:
        host.load("examples/plugins/spawner", "examples/plugins/movement")
        for _ in range(600):
            host.tick(input_state={"keys": ["right"]})

Loading (:meth:`PluginHost.load`): manifests are read and dependencies
resolved before any child starts; each plugin gets one *worker*: a child
process (isolation ``"process"``, the default) or the same runner in the host
(``"none"``). The worker imports the plugin and reports its components and
systems; the host registers the components (the same name with another schema
in two plugins is an error), checks every system's declared access against
the registered components and granted capabilities, and builds the
:class:`~gpi.ecs.schedule.Schedule`.

A tick (:meth:`PluginHost.tick`): for each wave of the schedule, the executor
(:mod:`gpi.plugins.host.executor`) sends every runnable call to its worker,
which first brings its child to the world's layout if its epoch changed (new
segment fds only); with ``parallel=True`` all requests of a wave are sent
before any result is read, so the children run at the same time. Results are
taken **in schedule order** (:mod:`gpi.plugins.host.results`) and each command list is applied
with ``world.apply(cmds, access=..., source="plugin 'x' system 'y'")``. A
rejected list is logged and recorded (:attr:`PluginHost.faults`); the world is
untouched by it. An exception in plugin code is logged with its traceback.
A child that dies or misses its deadline has the system skipped for that tick,
the fault recorded, and is restarted. The host never stops for a plugin.

Every call yields a timing record (see :mod:`gpi.plugins.host.records`) passed
to ``on_call_record`` callbacks and kept in :attr:`PluginHost.records`
(a bounded window); telemetry consumes them without this layer importing it. Each
record is a fresh dict that the host never changes once emitted, so hooks
may keep it as it is (and must not change it either).

The per-call path is kept lean on purpose (a 10k-entity demo tick runs seven
calls): what a call needs that does not change between ticks (plugin, system,
access, the ``source`` label, which request fields apply) is worked out once
per schedule build (:class:`~gpi.plugins.host.executor.CallInfo`), a
well-formed result goes straight to
:meth:`~gpi.plugins.host.results.ResultHandler.finish_ok`, and supervision and violation bookkeeping do
nothing when nothing is pending.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from gpi.ecs import Component, World
from gpi.ecs.relations import Relation
from gpi.ecs.schedule import Schedule
from gpi.plugins import wire
from gpi.plugins.errors import PluginError, ProtocolError
from gpi.plugins.faults import FaultKind, PluginState
from gpi.plugins.host.events import DEFAULT_FAULT_LIMIT, DEFAULT_LOG_LIMIT, FaultLog, HostEvents
from gpi.plugins.host.executor import CallInfo, Executor, make_executor
from gpi.plugins.host.loading import (
    LoadedPlugin,
    check_signatures,
    register_components,
    sandbox_available,
    sandbox_policy_for,
)
from gpi.plugins.host.records import DEFAULT_RECORD_LIMIT, CallRecords, TickReport
from gpi.plugins.host.results import ResultHandler
from gpi.plugins.host.worker import InProcessWorker, ProcessWorker, Worker
from gpi.plugins.input import with_previous
from gpi.plugins.manifest import Manifest, load_manifest
from gpi.plugins.output import LINES_PER_TICK
from gpi.plugins.safewalk import check_folder
from gpi.plugins.saves import HostSaves
from gpi.plugins.sdk import SystemSpec
from gpi.plugins.supervision import HostSupervision
from gpi.plugins.violations import ViolationMonitor
from gpi.version import ABI_VERSION

__all__ = ["DEFAULT_TIMEOUT", "ISOLATION_MODES", "LoadedPlugin", "PluginHost", "sandbox_available"]

ISOLATION_MODES = ("process", "none")
DEFAULT_TIMEOUT = 0.25  # seconds a call may take before its child is killed (see gpi.plugins.supervision)


# -- the host --------------------------------------------------------------------------------


class PluginHost:
    """Loads plugins, schedules their systems and applies their command lists (see module doc)."""

    _closed = False

    def __init__(
        self,
        world: World,
        *,
        isolation: str = "process",
        dt: float = 1.0 / 60.0,
        seed: int | None = None,
        grant: Iterable[str] | None = None,
        sandbox: bool | None = None,
        sandbox_policy: Mapping[str, Any] | None = None,
        parallel: bool = True,
        max_wave_size: int | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        on_call_record: Callable[[dict[str, Any]], None] | None = None,
        on_log: Callable[[str, str, str], None] | None = None,
        record_limit: int = DEFAULT_RECORD_LIMIT,
        fault_limit: int = DEFAULT_FAULT_LIMIT,
        log_limit: int = DEFAULT_LOG_LIMIT,
        drawlist_size: int = 0,
        signature_policy: Any = None,
        keyring: Any = None,
        data_dir: str | os.PathLike[str] | None = None,
        restart_policy: Any = None,
        use_zygote: bool = True,
    ) -> None:
        """A host for ``world``.

        ``isolation``: ``"process"`` or ``"none"``; ``grant``: capabilities the
        host is willing to grant (``None``: whatever a manifest requests);
        ``sandbox``: confine children (default: on when the sandbox package
        imports); ``parallel``: run a wave's children at the same time (else
        one after another, same results); ``max_wave_size=1``: one system per
        wave; ``timeout``: seconds per call before a child is killed and restarted;
        ``drawlist_size``: bytes of each child's draw-list buffer;
        ``signature_policy``/``keyring``: when a policy is given, every plugin
        is checked with :func:`gpi.plugins.signing.check` before its child starts;
        ``data_dir``: crash reports (``crashes/``) and the save store
        (``saves.sqlite``), default :func:`gpi.plugins.supervision.default_data_dir`;
        ``restart_policy``: a :class:`gpi.plugins.faults.RestartPolicy` (backoff
        and circuit breaker, in ticks); ``use_zygote``: fork children from a
        pre-imported fork-server (falls back to a fresh interpreter);
        ``record_limit``/``fault_limit``/``log_limit``: how many of the latest
        call records, faults and log lines the host keeps (windows: what it
        holds stays the same however long it runs; see :meth:`retained`).
        """
        if isolation not in ISOLATION_MODES:
            raise ValueError(f"isolation must be one of {ISOLATION_MODES}, got {isolation!r}")
        self.world = world
        self.isolation = isolation
        self.dt = float(dt)
        self.seed = int(world.seed if seed is None else seed)
        self.grant = None if grant is None else frozenset(grant)
        self.sandbox = sandbox_available() if sandbox is None else bool(sandbox)
        self.sandbox_policy = dict(sandbox_policy or {})
        self.parallel = parallel
        self.max_wave_size = max_wave_size
        self.timeout = float(timeout)
        self.plugins: dict[str, LoadedPlugin] = {}
        self.schedule = Schedule.build([])
        self.tick_count = 0
        #: Faults and log lines, published to subscribers (supervision, saves, violations, telemetry).
        self.events = HostEvents(lambda: self.tick_count, log_limit=log_limit, fault_limit=fault_limit)
        self._records = CallRecords(record_limit)
        if on_call_record is not None:
            self._records.subscribe(on_call_record)
        if on_log is not None:
            self.events.on_log(on_log)
        self.events.on_fault(self._on_fault)
        self._workers: dict[str, Worker] = {}
        self._lines: deque[tuple[str, str]] = deque(maxlen=10_000)  # child stdout/stderr
        self._flooded: set[str] = set()  # plugins whose output hit the rate bound this tick
        self.drawlist_size = int(drawlist_size)
        self.signature_policy = signature_policy
        self.keyring = keyring
        self._calls: dict[str, CallInfo] = {}  # per system key, rebuilt with the schedule
        self._results = ResultHandler(self, self._calls)
        #: Sandbox/host refusals per plugin, from the faults (records, counts(), layers(), on_violation).
        self.violations = ViolationMonitor(self, limit=fault_limit)  # at most one record per fault
        self.use_zygote = bool(use_zygote)
        #: Crash reports, restarts with backoff, circuit breaker, deadlines, fork-server.
        self.supervision = HostSupervision(self, data_dir, restart_policy)
        #: The per-plugin save store (opened when a plugin with the ``save`` capability loads).
        self.saves = HostSaves(self)
        self._executor: Executor = make_executor(parallel, self._calls, self._workers, world,
                                                 self.supervision.runnable, self.supervision.deadline,
                                                 self._request)
        self._report: TickReport | None = None
        self._swapped: list[str] = []  # reloads since the last tick started (-> TickReport.swaps)
        self._swapper: Any = None  # gpi.plugins.hotswap.HotSwapper once enable_hot_swap() ran
        self._inp: Mapping[str, Any] = {}  # this tick's input state (read by _request)

    # -- hooks -----------------------------------------------------------------------------

    def on_call_record(self, fn: Callable[[dict[str, Any]], None]) -> None:
        """Call ``fn(record)`` for every system call (see :data:`~gpi.plugins.host.records.RECORD_FIELDS`)."""
        self._records.subscribe(fn)

    def off_call_record(self, fn: Callable[[dict[str, Any]], None]) -> None:
        """Stop calling ``fn`` for system calls (no error if it was not subscribed)."""
        self._records.unsubscribe(fn)

    def on_log(self, fn: Callable[[str, str, str], None]) -> None:
        """Call ``fn(source, level, text)`` for every log line from the host or a plugin."""
        self.events.on_log(fn)

    def publish_record(self, rec: dict[str, Any]) -> None:
        """Keep one call record (:func:`~gpi.plugins.host.records.call_record`) and hand it to subscribers."""
        self._records.publish(rec)

    @property
    def records(self) -> deque[dict[str, Any]]:
        """The latest call records, oldest first (a bounded window: ``record_limit``)."""
        return self._records.records

    @property
    def faults(self) -> FaultLog:
        """The latest faults, oldest first (``faults.total`` counts them all; see :mod:`gpi.plugins.host.events`)."""
        return self.events.faults

    @property
    def logs(self) -> deque[tuple[str, str, str]]:
        """The latest log lines ``(source, level, text)``."""
        return self.events.logs

    def _on_fault(self, rec: dict[str, Any]) -> None:
        if self._report is not None and self._report.tick == self.tick_count:
            self._report.faults.append(rec)

    # -- loading ---------------------------------------------------------------------------

    def load(self, *plugin_dirs: str | os.PathLike[str], available: Sequence[str | os.PathLike[str]] = ()) -> list[str]:
        """Load plugin folders (and what they need from ``available``); returns the plugin names.

        Raises :class:`ManifestError`, :class:`DependencyError`,
        :class:`PluginLoadError`, :class:`SchemaError`, :class:`ScheduleError`
        with messages that name the plugin; plugins loaded before stay loaded.
        """
        from gpi.plugins.resolve import dependency_order_edges, resolve

        requested = [load_manifest(os.fspath(d), abi=ABI_VERSION) for d in plugin_dirs]
        extra = [load_manifest(os.fspath(d), abi=ABI_VERSION) for d in available]
        loaded_manifests = [p.manifest for p in self.plugins.values()]
        order = resolve(requested, [*extra, *loaded_manifests])
        new = [m for m in order if m.name not in self.plugins]
        for m in new:  # a link out of the folder, a FIFO or a device: refused before anything reads it
            check_folder(m.path)
        check_signatures(self.signature_policy, self.keyring, new)
        started: list[LoadedPlugin] = []
        try:
            for m in new:
                started.append(self._start_plugin(m))
            register_components(self.world, self.plugins.values(), started, self.events.log)
        except BaseException:
            for lp in started:
                self._stop_plugin(lp.name)
            raise
        edges = dependency_order_edges([p.manifest for p in self.plugins.values()])
        self._rebuild_schedule(edges)
        return [lp.name for lp in started]

    def reload(self, name: str) -> bool:
        """Hot-swap plugin ``name``: start a new worker from its folder beside the old one, then swap.

        Call between ticks. The world stays; the new code's components must
        match the registered schemas. On any failure the old worker keeps
        running, the error is logged and recorded, and ``False`` is returned.
        """
        from gpi.plugins.resolve import dependency_order_edges

        old = self.plugins.get(name)
        if old is None:
            raise KeyError(f"plugin {name!r} is not loaded; loaded: {sorted(self.plugins)}")
        try:
            m = load_manifest(old.manifest.path, abi=ABI_VERSION)
            check_signatures(self.signature_policy, self.keyring, [m])
            requested = frozenset(m.capabilities)
            granted = requested if self.grant is None else requested & self.grant
            lp = LoadedPlugin(m.name, m, granted, requested - granted, restarts=old.restarts)
            worker = self._make_worker(lp)
            try:
                info = worker.start(self.world)
                lp.components = [Component.from_dict(d) for d in info["components"]]
                lp.relations = [Relation.from_dict(d["relation"]) for d in info["components"] if "relation" in d]
                lp.systems = {d["name"]: SystemSpec.from_dict(d) for d in info["systems"]}
                lp.sandbox, lp.pid, lp.status = info.get("sandbox"), info.get("pid"), PluginState.RUNNING
                for c in lp.components:
                    have = self.world.components.get(c.name)
                    if have is not None and have != c:
                        raise PluginError(f"plugin {name!r}: reloaded code declares {c} but the world has {have}")
                self.world.register(*[c for c in lp.components if c.name not in self.world.components])
            except BaseException:
                worker.close()
                raise
        except Exception as exc:
            self.events.fault(FaultKind.RELOAD_FAILED, name, "", f"plugin {name!r}: reload failed, old code keeps running: {exc}")
            return False
        old_worker = self._workers.pop(name, None)  # None when disabled or waiting for a restart
        self.plugins[name] = lp
        self._workers[name] = worker
        if old_worker is not None:
            old_worker.close()
        self.supervision.reenable(name)  # new code: the circuit breaker starts over
        self.world.changes.started.discard(name)  # its startup systems run again
        self._swapped.append(name)
        self._rebuild_schedule(dependency_order_edges([p.manifest for p in self.plugins.values()]))
        self.events.log(name, "info", f"reloaded (version {m.version})")
        return True

    def _start_plugin(self, m: Manifest) -> LoadedPlugin:
        requested = frozenset(m.capabilities)
        granted = requested if self.grant is None else requested & self.grant
        lp = LoadedPlugin(m.name, m, granted, requested - granted)
        if lp.refused:
            self.events.log(m.name, "warning", f"capabilities refused by host policy: {sorted(lp.refused)}")
        worker = self._make_worker(lp)
        try:
            info = worker.start(self.world)
        except BaseException as exc:
            worker.close()
            if isinstance(exc, ProtocolError):  # the child broke the handshake: the plugin's fault, named
                self.events.fault(FaultKind.PROTOCOL, m.name, "", f"plugin {m.name!r} refused at load: {exc}")
            raise
        lp.components = [Component.from_dict(d) for d in info["components"]]
        lp.relations = [Relation.from_dict(d["relation"]) for d in info["components"] if "relation" in d]
        lp.systems = {d["name"]: SystemSpec.from_dict(d) for d in info["systems"]}
        lp.sandbox = info.get("sandbox")
        lp.pid = info.get("pid")
        lp.status = PluginState.RUNNING
        self.plugins[m.name] = lp
        self._workers[m.name] = worker
        self.supervision.started(m.name)
        return lp

    def _make_worker(self, lp: LoadedPlugin) -> Worker:
        if self.isolation == "none":
            return InProcessWorker(lp, self.seed, self.dt, self.drawlist_size)
        zygote = self.supervision.zygote() if self.use_zygote else None
        policy = sandbox_policy_for(lp.manifest, self.sandbox, self.sandbox_policy)
        return ProcessWorker(lp, self.seed, self.dt, policy, self._lines, self.drawlist_size, zygote)

    def _rebuild_schedule(self, edges: Iterable[tuple[str, str]]) -> None:
        self._calls.clear()
        for lp in self.plugins.values():
            for rel in lp.relations:  # relationship kinds: the world keeps them consistent
                self.world.declare_relation(rel)
            for spec in lp.systems.values():
                c = CallInfo.of(lp.name, spec, lp.granted)
                self._calls[c.key] = c
                if spec.watches:  # change detection (gpi.ecs.changes): ticks kept only for what is watched
                    self.world.track_changes(*spec.changed, *spec.added)
                    for n in spec.removed:
                        self.world.watch_removed(n, c.key)
        deps: dict[str, list[str]] = {}
        for dep, dependent in edges:
            deps.setdefault(dependent, []).append(dep)
        decls = [c.decl for c in self._calls.values()]
        self.schedule = Schedule.build(decls, deps, max_wave_size=self.max_wave_size)
        for w in self.schedule.warnings:
            self.events.log("schedule", "warning", w)

    def _stop_plugin(self, name: str) -> None:
        worker = self._workers.pop(name, None)
        if worker is not None:
            worker.close()
        self.plugins.pop(name, None)

    def unload(self, name: str) -> None:
        """Stop a plugin and drop its systems from the schedule (its components stay registered)."""
        from gpi.plugins.resolve import dependency_order_edges

        self._stop_plugin(name)
        self.world.changes.started.discard(name)
        self._rebuild_schedule(dependency_order_edges([p.manifest for p in self.plugins.values()]))

    # -- running ---------------------------------------------------------------------------

    def tick(self, input_state: Mapping[str, Any] | None = None) -> TickReport:
        """Run every stage's waves once, apply the command lists in schedule order, clear events."""
        t0 = time.perf_counter_ns()
        report = TickReport(self.tick_count)
        self._report = report
        if self._swapper is not None:  # tick boundary: swap changed plugins before anything runs
            report.swaps.extend(self._swapper.process())
        if self._swapped:  # swaps done between ticks (reload() by hand, the overlay, the watcher)
            report.swaps.extend(n for n in self._swapped if n not in report.swaps)
            self._swapped.clear()
        report.restarted.extend(self.supervision.before_tick())
        self._inp = with_previous(input_state or {}, self.world.changes.prev_input)  # input edges
        run_wave = self._run_wave
        for stage, waves in self.schedule.stages.items():
            if stage == "startup":  # once per plugin load; which ran is world state (seek and verify agree)
                waves = self._startup_waves(waves)
            for wi, wave in enumerate(waves):
                run_wave(stage, wi, wave, report)
        self.world.clear_events()
        self.drain_output()
        if self._flooded:  # output past its bounds: a fault each, and the child is restarted
            flooded, self._flooded = sorted(self._flooded), set()
            for plugin in flooded:
                if plugin in self._workers:
                    self.supervision.child_died(plugin)
        self.violations.update()
        report.wall_ns = time.perf_counter_ns() - t0
        self.tick_count += 1
        return report

    def _startup_waves(self, waves: list[list[str]]) -> list[list[str]]:
        """The startup waves of plugins that have not run them since they were (re)loaded."""
        started = self.world.changes.started
        out = []
        for wave in waves:
            w = [k for k in wave if self._calls[k].plugin not in started]
            if w:
                out.append(w)
        # every plugin with startup systems counts as started, whatever ran (faults, verify's skips):
        # the same in a recording and in its re-simulation
        started.update(c.plugin for c in self._calls.values() if c.decl.stage == "startup")
        return out

    def run(self, ticks: int, input_state: Mapping[str, Any] | None = None) -> list[TickReport]:
        """Run ``ticks`` ticks with the same input; returns their reports."""
        return [self.tick(input_state) for _ in range(ticks)]

    def _request(self, c: CallInfo, first: bool) -> dict[str, Any]:
        w = self.world
        req = {"v": wire.PROTOCOL_VERSION, "kind": "run", "tick": self.tick_count, "sys": c.system,
               "epoch": w.epoch, "first": first}
        if c.save:  # the plugin's saved items, when they changed since its child saw them
            saved = self.saves.snapshot_for(c.plugin, self._workers.get(c.plugin))
            if saved is not None:
                req["saved"] = saved
        if c.input:
            req["input"] = self._inp
        if c.resources:
            res = {}
            for n in c.resources:
                value = w.try_resource(n)
                if value is not None:
                    res[n] = value
            req["res"] = res
        if c.events:
            req["ev"] = {n: list(w.events(n)) for n in c.events}
        if c.changes is not None:  # change detection: last/this run, removed ids (gpi.ecs.changes)
            req["chg"] = w.begin_system(c.key, c.changes)
        return req

    def _run_wave(self, stage: str, wi: int, wave: list[str], report: TickReport) -> None:
        out = self._executor.run(wave)
        results, sent, received = out.results, out.sent, out.received
        finish = self._results.finish
        recv_ns = time.perf_counter_ns()
        for key in wave:  # schedule order, never completion order
            finish(stage, wi, key, results.get(key), sent.get(key, recv_ns), received.get(key, recv_ns), report)
        out_of_step = self._results.out_of_step
        if out.dead or out_of_step:
            for plugin in sorted(out.dead | out_of_step):
                self.supervision.child_died(plugin)  # reap, crash report, restart later or disable
            out_of_step.clear()

    def drain_output(self) -> None:
        """Turn what children printed since the last call into log lines (source ``plugin/stdout``).

        At most :data:`gpi.plugins.output.LINES_PER_TICK` lines per child; what
        its output pump dropped is one warning line with the counts, and a child
        past the rate bound gets a ``flood`` fault (restarted at the end of the tick).
        """
        for name, w in list(self._workers.items()):
            lines, dropped = w.take_output(LINES_PER_TICK)
            self._lines.extend((name, line) for line in lines)
            if dropped:
                self.events.log(f"{name}/stdout", "warning", dropped.describe())
            if dropped.flooded and name not in self._flooded:
                self._flooded.add(name)
                self.events.fault(FaultKind.FLOOD, name, "",
                                  f"plugin {name!r} flooded its output: {dropped.describe()}; its child is "
                                  "restarted")
        while self._lines:
            name, text = self._lines.popleft()
            self.supervision.output_line(name, text)
            self.events.log(f"{name}/stdout", "info", text)

    def worker(self, plugin: str) -> Worker | None:
        """The worker running ``plugin`` now (None while it is disabled or waits for a restart)."""
        return self._workers.get(plugin)

    def detach_worker(self, plugin: str) -> Worker | None:
        """Take ``plugin``'s worker out of the host (the caller stops it); None if it had none."""
        return self._workers.pop(plugin, None)

    def respawn(self, plugin: str) -> bool:
        """Start a new child for ``plugin`` (its old one is gone); False if it failed to start."""
        lp = self.plugins.get(plugin)
        if lp is None:
            return False
        self.events.log(plugin, "info", f"restarting child (restart #{lp.restarts})")
        new = self._make_worker(lp)
        try:
            info = new.start(self.world)
        except Exception as exc:
            new.close()
            lp.status = PluginState.CRASHED
            self.events.fault(FaultKind.RESTART_FAILED, plugin, "", f"plugin {plugin!r}: restart failed: {exc}")
            return False
        lp.pid = info.get("pid")
        lp.sandbox = info.get("sandbox")
        lp.status = PluginState.RUNNING
        self._workers[plugin] = new
        self.supervision.started(plugin)
        return True

    def retained(self) -> dict[str, int]:
        """How many items of each kind the host keeps between ticks (each bounded by a window).

        For leak checks: after warm-up these counts stop growing, however many
        ticks run and however much plugins fault or print.
        """
        counts = {"records": len(self._records.records), "faults": len(self.events.faults),
                  "logs": len(self.events.logs), "output_lines": len(self._lines),
                  "swaps_pending": len(self._swapped), "workers": len(self._workers), "calls": len(self._calls)}
        counts.update(self.supervision.retained())
        counts.update(self.violations.retained())
        if self._swapper is not None:
            counts["swap_history"] = len(self._swapper.history)
        return counts

    def plugin_status(self) -> list[dict[str, Any]]:
        """Per plugin: name, state (running/restarting/crashed/disabled), restarts, pid, rss, sandbox layers."""
        return self.supervision.status()

    def enable_hot_swap(self, watcher: Any = None) -> Any:
        """Watch the loaded plugins' folders (or use ``watcher``); changed plugins swap at the next tick."""
        from gpi.plugins.hotswap import HotSwapper

        if self._swapper is None:
            self._swapper = HotSwapper(self, watcher)
        return self._swapper

    def save_world(self, path: str | os.PathLike[str]) -> Path:
        """Write the world and the tick count to ``path`` atomically (see :mod:`gpi.plugins.snapshots`)."""
        from gpi.plugins.snapshots import save_world

        return save_world(self.world, path, tick=self.tick_count)

    def load_snapshot(self, path: str | os.PathLike[str]) -> int:
        """Restore the world (and tick count) from a :meth:`save_world` file; returns the tick."""
        from gpi.plugins.snapshots import load_world

        self.tick_count = load_world(self.world, path)
        return self.tick_count

    # -- introspection and lifetime --------------------------------------------------------

    def system_keys(self) -> list[str]:
        """Every system, as ``plugin.system``, in schedule order."""
        return self.schedule.order()

    def drawlist(self, plugin: str) -> Any:
        """The draw-list segment a plugin draws into (its child's, or in-process); ``None`` without ``draw``."""
        w = self._workers.get(plugin)
        lp = self.plugins.get(plugin)
        if lp is None or "draw" not in lp.granted or w is None:
            return None
        return w.drawlist

    def close(self) -> None:
        """Stop every child. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        for name in list(self._workers):
            worker = self._workers.pop(name)
            try:
                worker.close()
            except Exception:
                pass
        for lp in self.plugins.values():
            lp.status = PluginState.STOPPED
        for part in (self._swapper, self.supervision, self.saves):
            try:
                if part is not None:
                    part.close()
            except Exception:
                pass

    def __enter__(self) -> PluginHost:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        return (f"<PluginHost isolation={self.isolation} plugins={list(self.plugins)} "
                f"systems={len(self.schedule)} tick={self.tick_count}>")

