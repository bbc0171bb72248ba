"""The host side of plugins: :class:`PluginHost` runs plugin systems against a world.

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

A tick (:meth:`PluginHost.tick`): for each wave of the schedule, every worker
of the wave first gets the world's layout if its epoch changed (new segment
fds only), then its run requests; with ``parallel=True`` all requests of a
wave are sent before any result is read, so the children run at the same
time. Results are taken **in schedule order** and each command list is applied
with ``world.apply(cmds, access=..., source="plugin 'x' system 'y'")``. A
rejected list is logged and recorded (:attr:`PluginHost.faults`); the world is
untouched by it. An exception in plugin code is logged with its traceback.
A child that dies or misses its deadline has the system skipped for that tick,
the fault recorded, and is restarted. The host never stops for a plugin.

Every call yields a timing record (a dict, see :data:`RECORD_FIELDS`) passed
to ``on_call_record`` callbacks and kept in :attr:`PluginHost.records`
(bounded); telemetry consumes them without this layer importing it. Each
record is a fresh dict that the host never changes once emitted, so hooks
may keep it as it is (and must not change it either).

The per-call path is kept lean on purpose (a 10k-entity demo tick runs seven
calls): what a call needs that does not change between ticks (plugin, system,
access, the ``source`` label, which request fields apply) is worked out once
per schedule build (``_CallInfo``), a well-formed result goes straight to
:meth:`PluginHost._finish_ok`, and supervision and violation bookkeeping do
nothing when nothing is pending.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import gpi
from gpi.ecs import (
    Access,
    CommandBuffer,
    CommandError,
    Component,
    World,
    decode_inline,
    missing_segment_ids,
)
from gpi.ecs.commands import WIRE_VERSION
from gpi.ecs.relations import Relation
from gpi.ecs.schedule import Schedule, SystemDecl
from gpi.ecs.view import layout_delta
from gpi.plugins import wire
from gpi.plugins.child import SystemRunner, import_plugin, make_drawlist
from gpi.plugins.errors import PluginCrashedError, PluginError, PluginLoadError, ProtocolError
from gpi.plugins.input import with_previous
from gpi.plugins.manifest import Manifest, load_manifest
from gpi.plugins.sdk import SystemSpec, describe_components, required_capabilities
from gpi.plugins.violations import ViolationMonitor
from gpi.shm import Channel, Segment, recv_with_fds, send_with_fds

__all__ = [
    "ISOLATION_MODES",
    "RECORD_FIELDS",
    "LoadedPlugin",
    "PluginHost",
    "TickReport",
    "sandbox_available",
]

ISOLATION_MODES = ("process", "none")

#: Keys of a per-call timing record.
RECORD_FIELDS = (
    "tick", "plugin", "system", "stage", "wave", "status", "host_ns", "child_ns", "cpu_ns",
    "ipc_ns", "apply_ns", "cmd_bytes", "ops", "error",
)

_log = logging.getLogger("gpi.plugins")

DEFAULT_TIMEOUT = 0.25  # seconds a call may take before its child is killed (see gpi.plugins.supervision)
START_TIMEOUT = 30.0  # seconds for a child to start, import its plugin and say ready
ARENA_SIZE = 128 << 20  # sparse memfd: pages cost nothing until written
DRAWLIST_SIZE = 16 << 20  # 200k quads; sparse until written


def sandbox_available() -> bool:
    """Whether :mod:`gpi.plugins.sandbox` imports (then the sandbox is on by default)."""
    try:
        import gpi.plugins.sandbox  # noqa: F401
    except Exception:
        return False
    return True


@dataclass
class LoadedPlugin:
    """A plugin the host runs: manifest, granted capabilities, declarations, worker state."""

    name: str
    manifest: Manifest
    granted: frozenset[str]
    refused: frozenset[str]
    components: list[Component] = field(default_factory=list)
    systems: dict[str, SystemSpec] = field(default_factory=dict)
    sandbox: dict[str, Any] | None = None
    status: str = "starting"
    restarts: int = 0
    pid: int | None = None
    relations: list[Relation] = field(default_factory=list)  # declared relationship kinds

    def summary(self) -> dict[str, Any]:
        """A msgpack/JSON-friendly summary (for overlays, `gpi doctor`, reports)."""
        return {"name": self.name, "version": self.manifest.version, "status": self.status,
                "restarts": self.restarts, "pid": self.pid, "granted": sorted(self.granted),
                "refused": sorted(self.refused), "systems": list(self.systems),
                "components": [c.name for c in self.components], "sandbox": self.sandbox}


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


# -- workers ---------------------------------------------------------------------------------


def child_env() -> dict[str, str]:
    """The environment of a plugin child.

    gpi must be importable however the host found it (its folder goes first
    on ``PYTHONPATH``), and numeric libraries must not start thread pools
    before the sandbox (Landlock and seccomp only cover threads that exist
    when they are applied).
    """
    env = dict(os.environ)
    root = str(Path(gpi.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([root, *[p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]])
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
        env[var] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    return env


class _OutputPump:
    """Reads a child's stdout/stderr (a pipe: the sandbox forbids writing files) into ``lines``.

    A daemon thread only appends ``(plugin, line)`` to a deque; the host turns
    them into log lines on its own thread at the next tick.
    """

    def __init__(self, proc: subprocess.Popen[bytes], name: str, lines: deque[tuple[str, str]]) -> None:
        self._thread = threading.Thread(target=self._pump, args=(proc, name, lines),
                                        name=f"gpi-out-{name}", daemon=True)
        self._thread.start()

    @staticmethod
    def _pump(proc: subprocess.Popen[bytes], name: str, lines: deque[tuple[str, str]]) -> None:
        stream = proc.stdout
        if stream is None:
            return
        try:
            for raw in stream:
                lines.append((name, raw.decode("utf-8", "replace").rstrip()))
        except (OSError, ValueError):
            pass
        finally:
            stream.close()

    def join(self, timeout: float = 1.0) -> None:
        self._thread.join(timeout)


_layouts: weakref.WeakKeyDictionary[World, tuple[tuple[int, int], dict[str, Any]]] = weakref.WeakKeyDictionary()


def _world_layout(world: World) -> dict[str, Any]:
    """``world.layout()``, built once per epoch (and component count) and shared by every child.

    Treat the result as read-only. Components are registered without a new
    epoch, hence their count in the key.
    """
    key = (world.epoch, len(world.components))
    hit = _layouts.get(world)
    if hit is not None and hit[0] == key:
        return hit[1]
    layout = world.layout()
    _layouts[world] = (key, layout)
    return layout


class _CallInfo:
    """What every call of one system needs, worked out once per schedule build (not per tick)."""

    __slots__ = ("key", "plugin", "system", "source", "access", "input", "save", "resources", "events", "changes")

    def __init__(self, key: str, d: SystemDecl, access: Access, granted: frozenset[str]) -> None:
        self.key = key
        self.plugin: str = d.group
        self.system: str = d.name
        self.source = f"plugin {d.group!r} system {d.name!r}"
        self.access = access
        self.input = "input" in granted
        self.save = "save" in granted
        self.resources = tuple(sorted(d.resources))  # sorted: a defined order in every process
        self.events = tuple(sorted(d.events))
        self.changes: tuple[str, ...] | None = None  # change detection: the removed=[...] names


class _Worker:
    """One plugin's executor: a child process or the in-process runner."""

    plugin: LoadedPlugin

    def start(self, world: World) -> dict[str, Any]:
        raise NotImplementedError

    def submit(self, req: dict[str, Any], world: World) -> None:
        raise NotImplementedError

    def collect(self, timeout: float) -> dict[str, Any]:
        raise NotImplementedError

    def call(self, req: dict[str, Any], world: World, timeout: float) -> dict[str, Any]:
        """Submit and collect one request (a process worker does it in one channel call)."""
        self.submit(req, world)
        return self.collect(timeout)

    def decode(self, wire_cmds: Any, source: str) -> CommandBuffer:
        raise NotImplementedError

    def close(self) -> None:
        pass


class _InProcessWorker(_Worker):
    """Isolation ``none``: the plugin runs in the host, through the same runner and checks."""

    def __init__(self, plugin: LoadedPlugin, seed: int, dt: float, drawlist_size: int = 0) -> None:
        self.plugin = plugin
        self.seed, self.dt = seed, dt
        self.runner: SystemRunner | None = None
        self._pending: deque[dict[str, Any]] = deque()
        self.drawlist_size = drawlist_size or DRAWLIST_SIZE
        self.drawlist: Segment | None = None

    def start(self, world: World) -> dict[str, Any]:
        m = self.plugin.manifest
        p = import_plugin(m.path, m.entry, m.name)
        draw = None
        if "draw" in self.plugin.granted:  # the same kind of buffer a child gets, in this process
            self.drawlist = Segment.create(self.drawlist_size, f"gpi-{m.name}/drawlist")
            draw = make_drawlist(self.drawlist)
        self.runner = SystemRunner(p, m.name, self.plugin.granted, self.seed, self.dt, draw)
        return {"components": describe_components(p),
                "systems": [s.to_dict() for s in p.systems.values()], "sandbox": None, "pid": os.getpid()}

    def submit(self, req: dict[str, Any], world: World) -> None:
        assert self.runner is not None
        if "saved" in req:
            self.runner.saved = dict(req["saved"] or {})
        # Frame state (resources, events) is the live world's: same values the child receives.
        out = self.runner.run(world, req["sys"], req["tick"], req.get("input"), changes=req.get("chg"))
        out["sys"], out["tick"] = req["sys"], req["tick"]
        cmds = out["cmds"]
        if cmds is None or not len(cmds):
            out["cmds"] = None
        elif type(cmds) is not CommandBuffer:  # a subclass may say anything on the wire: ask it
            out["cmds"] = cmds.to_wire(_detach)
        self._pending.append(out)

    def collect(self, timeout: float) -> dict[str, Any]:
        return self._pending.popleft()

    def decode(self, wire_cmds: Any, source: str) -> CommandBuffer:
        if type(wire_cmds) is CommandBuffer:
            # The runner's own buffer, re-read op by op as if it came off the wire (same checks),
            # with arrays detached from world memory so applying one op cannot change another's
            # values, exactly as if they had been copied through the arena.
            return CommandBuffer.from_wire({"v": WIRE_VERSION, "ops": wire_cmds._ops}, _detach, source=source)
        return CommandBuffer.from_wire(wire_cmds, _same, source=source)  # already detached by to_wire

    def close(self) -> None:
        if self.runner is not None:
            self.runner.draw = None
        if self.drawlist is not None:
            self.drawlist.close()
            self.drawlist = None


def _same(a: Any) -> Any:
    return a


def _detach(a: Any) -> Any:
    """``a`` if it is an array owning its memory, else a private copy of it (non-arrays pass)."""
    if isinstance(a, np.ndarray) and not (a.flags.owndata and a.base is None):
        return a.copy()
    return a


class _ProcessWorker(_Worker):
    """Isolation ``process``: a child over a socketpair (control) and a shm channel (per tick)."""

    proc: subprocess.Popen[bytes] | None = None
    sock: socket.socket | None = None
    channel: Channel | None = None

    output: _OutputPump | None = None
    zygote: Any = None  # a gpi.plugins.zygote.ForkServer to fork the child from (else Popen)

    def __init__(self, plugin: LoadedPlugin, seed: int, dt: float, sandbox: dict[str, Any] | None,
                 lines: deque[tuple[str, str]], drawlist_size: int = 0) -> None:
        self.plugin = plugin
        self.seed, self.dt = seed, dt
        self.sandbox = sandbox
        self.lines = lines
        self.drawlist_size = drawlist_size or DRAWLIST_SIZE
        self.known: set[int] = set()
        self.epoch = -1
        self.layout: dict[str, Any] | None = None  # the layout the child has (base of the next delta)
        self.layouts_sent = 0  # full layouts over the socket, and deltas in requests (counters)
        self.deltas_sent = 0
        self._peer = f"child of plugin {plugin.name!r}"

    def start(self, world: World) -> dict[str, Any]:
        m = self.plugin.manifest
        self.channel = Channel.create(f"gpi-{m.name}", arena_size=ARENA_SIZE, drawlist_size=self.drawlist_size,
                                      kinds=["run"])
        host_sock, child_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock = host_sock
        try:
            from gpi.plugins.supervision import spawn_child  # fork-server when the host has one

            self.proc = spawn_child(child_sock, self.zygote, child_env())
        finally:
            child_sock.close()
        self.output = _OutputPump(self.proc, m.name, self.lines)
        self.channel.set_peer_pid(self.proc.pid)
        hello = wire.make("hello", abi=m.abi, plugin=m.name, dir=str(m.path), entry=m.entry,
                          granted=sorted(self.plugin.granted), seed=self.seed, dt=self.dt,
                          sandbox=self.sandbox, channel=self.channel.child_spec(), isolation="process")
        send_with_fds(host_sock, hello, self.channel.child_fds())
        release = getattr(self.channel, "release_child_fds", None)
        if release is not None:  # our copies of the child's ends: its death then shows at once
            release()
        host_sock.settimeout(START_TIMEOUT)
        try:
            msg, fds = recv_with_fds(host_sock)
        except (OSError, PluginError, Exception) as exc:
            code = self._reap()
            raise PluginCrashedError(
                f"plugin {m.name!r}: child exited during start-up (exit code {code}): {exc}") from None
        finally:
            host_sock.settimeout(None)
        for fd in fds:
            os.close(fd)
        msg = wire.check(msg, ["ready", "error"], peer=f"child of plugin {m.name!r}")
        if msg["kind"] == "error":
            self._reap()
            stage = msg["stage"]
            text = f"plugin {m.name!r}: {stage} failed in the child: {msg['type']}: {msg['message']}"
            if stage == "import":
                raise PluginLoadError(text)
            if stage == "sandbox":
                text += ("; the sandbox could not be applied on this machine (see `gpi doctor`); "
                         "run with sandbox=False (`--no-sandbox`) to load it unconfined")
            raise PluginError(text)
        self.epoch = -1
        self.known = set()
        self.layout = None
        return msg

    def _reap(self, timeout: float = 2.0) -> int | None:
        if self.proc is None:
            return None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def sync(self, world: World, req: dict[str, Any] | None = None) -> None:
        """Bring the child to the world's layout epoch if it changed since the child last saw it.

        When only row counts changed (no new segment, table or component) and a
        request is given, a small :func:`~gpi.ecs.view.layout_delta` rides in the
        request itself (``req["lay"]``); otherwise the full layout and the new
        segments' fds go over the control socket, read by the child before the request.
        """
        if world.epoch == self.epoch:
            return
        assert self.sock is not None
        layout = _world_layout(world)
        delta = layout_delta(self.layout, layout) if req is not None else None
        if delta is not None:
            assert req is not None
            req["lay"] = delta
            self.deltas_sent += 1
        else:
            self.layouts_sent += 1
            new = missing_segment_ids(layout, self.known)
            segs = world.segments()
            send_with_fds(self.sock, wire.make("layout", epoch=world.epoch, layout=layout, segs=new),
                          [segs[sid].fd for sid in new])
            self.known = {int(sid) for sid, _ in layout["segments"]}
        self.layout = layout
        self.epoch = world.epoch

    def submit(self, req: dict[str, Any], world: World) -> None:
        assert self.channel is not None
        self.sync(world, req)
        self.channel.send(req)

    def collect(self, timeout: float) -> dict[str, Any]:
        assert self.channel is not None
        msg = self.channel.recv(timeout)
        return wire.check_kind(msg, "result", self._peer)

    def call(self, req: dict[str, Any], world: World, timeout: float) -> dict[str, Any]:
        assert self.channel is not None
        if world.epoch != self.epoch:
            self.sync(world, req)
        msg = self.channel.request(req, timeout)
        return wire.check_kind(msg, "result", self._peer)

    def _decode_array(self, obj: Any) -> np.ndarray:
        if isinstance(obj, dict) and "arena" in obj:
            assert self.channel is not None
            view = self.channel.arena.view(obj["arena"])
            if view.dtype == np.uint64:
                # Entity ids: validation depends on their contents, and the child can still
                # write its arena, so take a private copy before checking them.
                return view.copy()
            return view  # values: zero-copy; world.apply copies them into the table once
        return decode_inline(obj)

    def decode(self, wire_cmds: Any, source: str) -> CommandBuffer:
        assert self.channel is not None
        return CommandBuffer.from_wire(wire_cmds, self._decode_array, source=source)

    def kill(self) -> int | None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        return self._reap()

    def close(self) -> None:
        if self.channel is not None and self.proc is not None and self.proc.poll() is None:
            try:
                self.channel.send(wire.make("shutdown"), 0.1)
            except Exception:
                pass
            try:
                self.proc.wait(1.0)
            except subprocess.TimeoutExpired:
                pass
        self.kill()
        if self.channel is not None:
            self.channel.close()
            self.channel = None
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self.output is not None:
            self.output.join()
            self.output = None


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
        record_limit: int = 100_000,
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
        pre-imported fork-server (falls back to a fresh interpreter).
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
        self.records: deque[dict[str, Any]] = deque(maxlen=record_limit)
        self.faults: list[dict[str, Any]] = []
        self.logs: deque[tuple[str, str, str]] = deque(maxlen=10_000)
        self._record_hooks: list[Callable[[dict[str, Any]], None]] = []
        self._log_hooks: list[Callable[[str, str, str], None]] = []
        if on_call_record is not None:
            self._record_hooks.append(on_call_record)
        if on_log is not None:
            self._log_hooks.append(on_log)
        self._workers: dict[str, _Worker] = {}
        self._lines: deque[tuple[str, str]] = deque(maxlen=10_000)  # child stdout/stderr
        self.drawlist_size = int(drawlist_size)
        self.signature_policy = signature_policy
        self.keyring = keyring
        self._decls: dict[str, SystemDecl] = {}
        self._access: dict[str, Access] = {}
        self._calls: dict[str, _CallInfo] = {}  # per system key, rebuilt with the schedule
        self._out_of_step: set[str] = set()
        #: Sandbox/host refusals per plugin, from the faults (records, counts(), layers(), on_violation).
        self.violations = ViolationMonitor(self)
        from gpi.plugins.saves import HostSaves
        from gpi.plugins.supervision import HostSupervision

        self.use_zygote = bool(use_zygote)
        #: Crash reports, restarts with backoff, circuit breaker, deadlines, fork-server.
        self.supervision = HostSupervision(self, data_dir, restart_policy)
        #: The per-plugin save store (opened when a plugin with the ``save`` capability loads).
        self.saves = HostSaves(self)
        self._report: TickReport | None = None
        self._swapper: Any = None  # gpi.plugins.hotswap.HotSwapper once enable_hot_swap() ran

    # -- hooks -----------------------------------------------------------------------------

    def on_call_record(self, fn: Callable[[dict[str, Any]], None]) -> None:
        """Call ``fn(record)`` for every system call (see :data:`RECORD_FIELDS`)."""
        self._record_hooks.append(fn)

    def on_log(self, fn: Callable[[str, str, str], None]) -> None:
        """Call ``fn(source, level, text)`` for every log line from the host or a plugin."""
        self._log_hooks.append(fn)

    def _emit_log(self, source: str, level: str, text: str) -> None:
        self.logs.append((source, level, text))
        _log.log(logging.getLevelName(level.upper()) if level.upper() in ("DEBUG", "INFO", "WARNING", "ERROR")
                 else logging.INFO, "[%s] %s", source, text)
        for fn in self._log_hooks:
            fn(source, level, text)

    def _fault(self, kind: str, plugin: str, system: str, error: str, **extra: Any) -> None:
        rec = {"tick": self.tick_count, "kind": kind, "plugin": plugin, "system": system, "error": error, **extra}
        self.faults.append(rec)
        if self._report is not None and self._report.tick == self.tick_count:
            self._report.faults.append(rec)
        self._emit_log(f"{plugin}/{system}" if system else plugin, "error", f"{kind}: {error}")

    # -- loading ---------------------------------------------------------------------------

    def load(self, *plugin_dirs: str | os.PathLike[str], available: Sequence[str | os.PathLike[str]] = ()) -> list[str]:
        """Load plugin folders (and what they need from ``available``); returns the plugin names.

        Raises :class:`ManifestError`, :class:`DependencyError`,
        :class:`PluginLoadError`, :class:`SchemaError`, :class:`ScheduleError`
        with messages that name the plugin; plugins loaded before stay loaded.
        """
        from gpi.plugins.resolve import dependency_order_edges, resolve

        requested = [load_manifest(os.fspath(d), abi=gpi.ABI_VERSION) for d in plugin_dirs]
        extra = [load_manifest(os.fspath(d), abi=gpi.ABI_VERSION) for d in available]
        loaded_manifests = [p.manifest for p in self.plugins.values()]
        order = resolve(requested, [*extra, *loaded_manifests])
        new = [m for m in order if m.name not in self.plugins]
        self._check_signatures(new)
        started: list[LoadedPlugin] = []
        try:
            for m in new:
                started.append(self._start_plugin(m))
            self._register(started)
        except BaseException:
            for lp in started:
                self._stop_plugin(lp.name)
            raise
        edges = dependency_order_edges([p.manifest for p in self.plugins.values()])
        self._rebuild_schedule(edges)
        return [lp.name for lp in started]

    def _check_signatures(self, manifests: Sequence[Manifest]) -> None:
        if self.signature_policy is None:
            return
        from gpi.plugins.signing import Keyring, check, default_keyring_dir

        keyring = self.keyring if self.keyring is not None else Keyring.load(default_keyring_dir())
        for m in manifests:
            check(m.path, keyring, self.signature_policy)

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
            m = load_manifest(old.manifest.path, abi=gpi.ABI_VERSION)
            self._check_signatures([m])
            requested = frozenset(m.capabilities)
            granted = requested if self.grant is None else requested & self.grant
            lp = LoadedPlugin(m.name, m, granted, requested - granted, restarts=old.restarts)
            worker = self._make_worker(lp)
            try:
                info = worker.start(self.world)
                lp.components = [Component.from_dict(d) for d in info["components"]]
                lp.relations = [Relation.from_dict(d["relation"]) for d in info["components"] if "relation" in d]
                lp.systems = {d["name"]: SystemSpec.from_dict(d) for d in info["systems"]}
                lp.sandbox, lp.pid, lp.status = info.get("sandbox"), info.get("pid"), "running"
                for c in lp.components:
                    have = self.world.components.get(c.name)
                    if have is not None and have != c:
                        raise PluginError(f"plugin {name!r}: reloaded code declares {c} but the world has {have}")
                self.world.register(*[c for c in lp.components if c.name not in self.world.components])
            except BaseException:
                worker.close()
                raise
        except Exception as exc:
            self._fault("reload_failed", name, "", f"plugin {name!r}: reload failed, old code keeps running: {exc}")
            return False
        old_worker = self._workers.pop(name, None)  # None when disabled or waiting for a restart
        self.plugins[name] = lp
        self._workers[name] = worker
        if old_worker is not None:
            old_worker.close()
        self.supervision.reenable(name)  # new code: the circuit breaker starts over
        self.world.changes.started.discard(name)  # its startup systems run again
        self._rebuild_schedule(dependency_order_edges([p.manifest for p in self.plugins.values()]))
        self._emit_log(name, "info", f"reloaded (version {m.version})")
        return True

    def _policy_dict(self, m: Manifest) -> dict[str, Any] | None:
        if not self.sandbox:
            return None
        try:
            from gpi.plugins.sandbox import SandboxPolicy
        except Exception:
            return None
        base = SandboxPolicy.from_dict(self.sandbox_policy) if self.sandbox_policy else SandboxPolicy()
        pol = SandboxPolicy.from_dict(dict(m.sandbox), base=base) if m.sandbox else base
        return pol.to_dict()

    def _start_plugin(self, m: Manifest) -> LoadedPlugin:
        requested = frozenset(m.capabilities)
        granted = requested if self.grant is None else requested & self.grant
        lp = LoadedPlugin(m.name, m, granted, requested - granted)
        if lp.refused:
            self._emit_log(m.name, "warning", f"capabilities refused by host policy: {sorted(lp.refused)}")
        worker = self._make_worker(lp)
        try:
            info = worker.start(self.world)
        except BaseException:
            worker.close()
            raise
        lp.components = [Component.from_dict(d) for d in info["components"]]
        lp.relations = [Relation.from_dict(d["relation"]) for d in info["components"] if "relation" in d]
        lp.systems = {d["name"]: SystemSpec.from_dict(d) for d in info["systems"]}
        lp.sandbox = info.get("sandbox")
        lp.pid = info.get("pid")
        lp.status = "running"
        self.plugins[m.name] = lp
        self._workers[m.name] = worker
        self.supervision.started(m.name)
        return lp

    def _make_worker(self, lp: LoadedPlugin) -> _Worker:
        if self.isolation == "none":
            return _InProcessWorker(lp, self.seed, self.dt, self.drawlist_size)
        w = _ProcessWorker(lp, self.seed, self.dt, self._policy_dict(lp.manifest), self._lines,
                           self.drawlist_size)
        if self.use_zygote:
            w.zygote = self.supervision.zygote(child_env())
        return w

    def _register(self, new: list[LoadedPlugin]) -> None:
        owners: dict[str, tuple[str, Component]] = {}
        for lp in self.plugins.values():
            for c in lp.components:
                prev = owners.get(c.name)
                if prev is not None and prev[1] != c:
                    raise PluginError(
                        f"plugin {lp.name!r} declares component {c.name!r} as {c} but plugin "
                        f"{prev[0]!r} declared it as {prev[1]}; plugins must agree on shared schemas"
                    )
                owners.setdefault(c.name, (lp.name, c))
        existing = self.world.components
        for name, (owner, c) in owners.items():
            have = existing.get(name)
            if have is not None and have != c:
                raise PluginError(f"plugin {owner!r} declares component {name!r} as {c} but the world has {have}")
        self.world.register(*[c for _, c in owners.values() if c.name not in existing])
        known = set(self.world.components)
        for lp in new:
            for spec in lp.systems.values():
                unknown = [n for n in (*spec.reads, *spec.writes, *spec.changed, *spec.added, *spec.removed)
                           if n not in known]
                if unknown:
                    raise PluginError(
                        f"plugin {lp.name!r} system {spec.name!r} declares components {unknown} "
                        f"that no loaded plugin defines; declare them with plugin.component(...) "
                        f"or add the plugin that does as a dependency"
                    )
                missing = required_capabilities(spec) - lp.granted
                if missing:
                    self._emit_log(lp.name, "warning",
                                   f"system {spec.name!r} needs capabilities {sorted(missing)} that were "
                                   "not granted; its calls that use them will fail")

    def _rebuild_schedule(self, edges: Iterable[tuple[str, str]]) -> None:
        decls: list[SystemDecl] = []
        self._decls.clear()
        self._access.clear()
        self._calls.clear()
        for lp in self.plugins.values():
            for rel in lp.relations:  # relationship kinds: the world keeps them consistent
                self.world.declare_relation(rel)
            for spec in lp.systems.values():
                key = f"{lp.name}.{spec.name}"
                d = SystemDecl(key, stage=spec.stage, reads=frozenset(spec.reads), writes=frozenset(spec.writes),
                               resources=frozenset(spec.resources), events=frozenset(spec.events),
                               before=spec.before, after=spec.after, structural=spec.structural,
                               group=lp.name, name=spec.name)
                decls.append(d)
                self._decls[key] = d
                structural = (spec.spawns and "spawn" in lp.granted) or (spec.despawns and "despawn" in lp.granted)
                self._access[key] = Access(
                    writes=spec.writes,
                    resources=spec.resources if "resources" in lp.granted else (),
                    events=spec.events if "events" in lp.granted else (),
                    structural=structural,
                )
                self._calls[key] = _CallInfo(key, d, self._access[key], lp.granted)
                if spec.watches:  # change detection (gpi.ecs.changes): ticks kept only for what is watched
                    self._calls[key].changes = tuple(sorted(spec.removed))
                    self.world.track_changes(*spec.changed, *spec.added)
                    for n in spec.removed:
                        self.world.watch_removed(n, key)
        deps: dict[str, list[str]] = {}
        for dep, dependent in edges:
            deps.setdefault(dependent, []).append(dep)
        self.schedule = Schedule.build(decls, deps, max_wave_size=self.max_wave_size)
        for w in self.schedule.warnings:
            self._emit_log("schedule", "warning", w)

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
        report.restarted.extend(self.supervision.before_tick())
        inp = with_previous(input_state or {}, self.world.changes.prev_input)  # input edges (gpi.plugins.input)
        run_wave = self._run_wave
        for stage, waves in self.schedule.stages.items():
            if stage == "startup":  # once per plugin load; which ran is world state (seek and verify agree)
                waves = self._startup_waves(waves)
            for wi, wave in enumerate(waves):
                run_wave(stage, wi, wave, inp, report)
        self.world.clear_events()
        if self._lines:
            self.drain_output()
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
        started.update(self._calls[k].plugin for w in out for k in w)
        return out

    def run(self, ticks: int, input_state: Mapping[str, Any] | None = None) -> list[TickReport]:
        """Run ``ticks`` ticks with the same input; returns their reports."""
        return [self.tick(input_state) for _ in range(ticks)]

    def _request(self, c: _CallInfo, inp: Mapping[str, Any], first: bool) -> dict[str, Any]:
        w = self.world
        req = {"v": wire.PROTOCOL_VERSION, "kind": "run", "tick": self.tick_count, "sys": c.system,
               "epoch": w.epoch, "first": first}
        if c.save:  # the plugin's saved items, when they changed since its child saw them
            saved = self.saves.snapshot_for(c.plugin, self._workers.get(c.plugin))
            if saved is not None:
                req["saved"] = saved
        if c.input:
            req["input"] = inp
        if c.resources:
            res = {}
            for n in c.resources:
                value = w.try_resource(n)
                if value is not None:
                    res[n] = value
            req["res"] = res
        if c.events:
            req["ev"] = {n: list(w.events(n)) for n in c.events}
        if c.changes is not None:
            req["chg"] = w.begin_system(c.key, c.changes)
        return req

    def _run_wave(self, stage: str, wi: int, wave: list[str], inp: Mapping[str, Any], report: TickReport) -> None:
        sent: dict[str, int] = {}  # key -> send time
        dead: set[str] = set()  # plugins whose child failed during this wave
        results: dict[str, dict[str, Any] | BaseException] = {}
        seen_workers: set[str] = set()
        received: dict[str, int] = {}  # key -> time its result arrived
        calls = self._calls
        workers = self._workers
        supervision = self.supervision
        runnable = supervision.runnable  # not disabled, not waiting for a restart
        clock = time.perf_counter_ns
        if self.parallel and len(wave) > 1:
            for key in wave:  # send every request of the wave, then read the results in order
                c = calls[key]
                plugin = c.plugin
                if not runnable(plugin):
                    continue
                first = plugin not in seen_workers
                seen_workers.add(plugin)
                try:
                    req = self._request(c, inp, first)
                    sent[key] = clock()
                    workers[plugin].submit(req, self.world)
                except Exception as exc:  # the child is gone (broken socket/ring): restart it
                    results[key] = exc
                    dead.add(plugin)
            for key in wave:
                if key not in sent or key in results:
                    continue
                plugin = calls[key].plugin
                if plugin in dead:
                    results[key] = PluginCrashedError(f"child of plugin {plugin!r} was restarted earlier this wave")
                    continue
                try:
                    left = supervision.deadline(plugin) - (clock() - sent[key]) / 1e9
                    results[key] = workers[plugin].collect(max(left, 0.001))
                except Exception as exc:
                    results[key] = exc
                    dead.add(plugin)
                received[key] = clock()
        else:
            for key in wave:  # send + receive in one channel round trip (serial mode, or a wave of one)
                c = calls[key]
                plugin = c.plugin
                if not runnable(plugin):
                    continue
                if plugin in dead:
                    results[key] = PluginCrashedError(f"child of plugin {plugin!r} was restarted earlier this wave")
                    continue
                first = plugin not in seen_workers
                seen_workers.add(plugin)
                try:
                    req = self._request(c, inp, first)
                    sent[key] = clock()
                    results[key] = workers[plugin].call(req, self.world, supervision.deadline(plugin))
                except Exception as exc:  # dead, stalled or out of protocol: restart it
                    results[key] = exc
                    dead.add(plugin)
                received[key] = clock()
        recv_ns = clock()
        for key in wave:  # schedule order, never completion order
            self._finish(stage, wi, key, results.get(key), sent.get(key, recv_ns), received.get(key, recv_ns), report)
        if dead or self._out_of_step:
            for plugin in sorted(dead | self._out_of_step):
                self._restart(plugin)
            self._out_of_step.clear()

    def _finish(self, stage: str, wi: int, key: str, res: dict[str, Any] | BaseException | None,
                t_sent: int, t_recv: int, report: TickReport) -> None:
        c = self._calls[key]
        plugin, system, source = c.plugin, c.system, c.source
        host_ns = t_recv - t_sent
        if type(res) is dict and res.get("sys") == system and res.get("tick") == self.tick_count \
                and not res.get("error"):
            self._finish_ok(stage, wi, c, res, host_ns, report)
            return
        rec: dict[str, Any] = {"tick": self.tick_count, "plugin": plugin, "system": system, "stage": stage,
                               "wave": wi, "status": "ok", "host_ns": host_ns, "child_ns": 0,
                               "cpu_ns": 0, "ipc_ns": 0, "apply_ns": 0, "cmd_bytes": 0, "ops": 0, "error": None}
        if res is None and not self.supervision.runnable(plugin):  # disabled or restarting: no new fault
            lp = self.plugins.get(plugin)
            rec.update(status="skipped", error=f"{source}: not run (plugin {lp.status if lp else 'gone'})")
            report.skipped.append(key)
            self._emit_record(rec)
            return
        if res is None or isinstance(res, BaseException):
            kind = "timeout" if isinstance(res, TimeoutError) else "crashed"
            if isinstance(res, (ProtocolError, CommandError)):
                kind = "protocol"
            err = f"{source}: skipped this tick: {type(res).__name__}: {res}" if res else f"{source}: not run"
            rec.update(status="skipped", error=err)
            report.skipped.append(key)
            self._fault(kind, plugin, system, err)
            self._emit_record(rec)
            return
        if res.get("sys") != system or res.get("tick") != self.tick_count:
            err = (f"{source}: child answered for system {res.get('sys')!r} tick {res.get('tick')!r}; "
                   "its stream is out of step, restarting it")
            rec.update(status="skipped", error=err)
            report.skipped.append(key)
            self._fault("protocol", plugin, system, err)
            self._emit_record(rec)
            self._out_of_step.add(plugin)
            return
        if not res.get("error"):
            self._finish_ok(stage, wi, c, res, host_ns, report)
            return
        self.supervision.succeeded(plugin)
        rec["child_ns"] = int(res.get("child_ns") or 0)
        rec["cpu_ns"] = int(res.get("cpu_ns") or 0)
        rec["ipc_ns"] = max(0, rec["host_ns"] - rec["child_ns"])
        self._result_logs(plugin, system, res)
        e = res["error"]
        msg = f"{source} raised {e.get('type')}: {e.get('message')}"
        rec.update(status="error", error=msg)
        report.errors.append(key)
        self._fault("exception", plugin, system, msg, traceback=e.get("traceback", ""),
                    violation=e.get("violation"))
        if e.get("traceback"):
            self._emit_log(f"{plugin}/{system}", "error", str(e["traceback"]).rstrip())
        self._emit_record(rec)

    def _result_logs(self, plugin: str, system: str, res: dict[str, Any]) -> None:
        for level, text in res.get("logs") or ():
            self._emit_log(f"{plugin}/{system}", str(level), str(text))
        if res.get("dropped"):
            self._emit_log(f"{plugin}/{system}", "warning", f"{res['dropped']} log lines dropped (limit per call)")

    def _finish_ok(self, stage: str, wi: int, c: _CallInfo, res: dict[str, Any], host_ns: int,
                   report: TickReport) -> None:
        """A call that returned for this system and tick without an exception: apply its commands."""
        plugin = c.plugin
        self.supervision.succeeded(plugin)
        child_ns = int(res.get("child_ns") or 0)
        cpu_ns = int(res.get("cpu_ns") or 0)
        if res.get("logs") or res.get("dropped"):
            self._result_logs(plugin, c.system, res)
        report.ran.append(c.key)
        status, error, ops, nbytes, apply_ns = "ok", None, 0, 0, 0
        wire_cmds = res.get("cmds")
        if wire_cmds is not None:
            t0 = time.perf_counter_ns()
            try:
                buf = self._workers[plugin].decode(wire_cmds, c.source)
                ops = len(buf)
                nbytes = buf.nbytes
                self.world.apply(buf, access=c.access, source=c.source)
            except CommandError as exc:
                status, error = "rejected", str(exc)
                report.rejected.append(c.key)
                self._fault("rejected", plugin, c.system, error)
            except Exception as exc:  # hostile or broken wire data
                status, error = "rejected", f"{c.source}: malformed command list: {type(exc).__name__}: {exc}"
                report.rejected.append(c.key)
                self._fault("rejected", plugin, c.system, error)
            apply_ns = time.perf_counter_ns() - t0
        if status == "ok" and res.get("saves"):  # after the world commands, one atomic batch
            self.saves.apply(plugin, c.system, res["saves"])
        self._emit_record({"tick": self.tick_count, "plugin": plugin, "system": c.system, "stage": stage,
                           "wave": wi, "status": status, "host_ns": host_ns, "child_ns": child_ns,
                           "cpu_ns": cpu_ns, "ipc_ns": max(0, host_ns - child_ns),
                           "apply_ns": apply_ns, "cmd_bytes": nbytes, "ops": ops, "error": error})

    def drain_output(self) -> None:
        """Turn what children printed since the last call into log lines (source ``plugin/stdout``)."""
        while self._lines:
            name, text = self._lines.popleft()
            self.supervision.output_line(name, text)
            self._emit_log(f"{name}/stdout", "info", text)

    def _emit_record(self, rec: dict[str, Any]) -> None:
        self.records.append(rec)
        for fn in self._record_hooks:
            fn(rec)

    def _restart(self, plugin: str) -> None:
        """The child failed this wave: reap, crash report, restart later or disable (supervision)."""
        self.supervision.child_died(plugin)

    def _respawn(self, plugin: str) -> bool:
        """Start a new child for ``plugin`` (its old one is gone); False if it failed to start."""
        lp = self.plugins.get(plugin)
        if lp is None:
            return False
        self._emit_log(plugin, "info", f"restarting child (restart #{lp.restarts})")
        new = self._make_worker(lp)
        try:
            info = new.start(self.world)
        except Exception as exc:
            new.close()
            lp.status = "crashed"
            self._fault("restart_failed", plugin, "", f"plugin {plugin!r}: restart failed: {exc}")
            return False
        lp.pid = info.get("pid")
        lp.sandbox = info.get("sandbox")
        lp.status = "running"
        self._workers[plugin] = new
        self.supervision.started(plugin)
        return True

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
        if lp is None or "draw" not in lp.granted:
            return None
        if isinstance(w, _ProcessWorker) and w.channel is not None:
            return w.channel.drawlist
        if isinstance(w, _InProcessWorker):
            return w.drawlist
        return None

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
            lp.status = "stopped"
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

