"""Workers: what runs one plugin's systems for the host, in a child process or in the host.

A :class:`Worker` starts its plugin (the plugin is imported where its code
runs, never in the host unless isolation is ``"none"``), then serves run
requests: :meth:`Worker.submit` sends one, :meth:`Worker.collect` takes its
result, :meth:`Worker.call` does both in one round trip; the wave executors
(:mod:`gpi.plugins.host.executor`) choose which. :meth:`Worker.decode` turns
the result's wire commands into a :class:`~gpi.ecs.CommandBuffer`.

- :class:`ProcessWorker` (isolation ``"process"``): a child over a Unix
  SOCK_SEQPACKET socketpair (control: hello/ready, layouts with segment fds)
  and a shared-memory channel (per-tick requests and results, output arena,
  draw list). The child is forked by the host's fork-server when it has one,
  else started as ``python -m gpi.plugins.child`` (:func:`spawn_child`),
  always with :func:`gpi.plugins.sandbox.policy.child_environment`: the same
  environment ``gpi doctor`` probes. Its stdout and stderr are one pipe that
  an :class:`~gpi.plugins.output.OutputPump` thread drains within bounds;
  the host takes the lines once a tick (:meth:`ProcessWorker.take_output`).
  Every message the child sends is decoded against its schema
  (:mod:`gpi.plugins.messages`) before the host reads a field of it: a
  malformed one raises :class:`~gpi.plugins.errors.MessageError`, which the
  host makes a ``protocol`` fault for the plugin.
- :class:`InProcessWorker` (isolation ``"none"``): the same
  :class:`~gpi.plugins.child.SystemRunner` in the host, with the same checks
  on the way back (commands re-read as if they came off the wire).

Every send to a child is bounded by the call's deadline: a child that does
not read its control socket or its ring in time raises ``TimeoutError`` like
a child that does not answer, and the host treats it as a stall.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import weakref
from collections import deque
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from gpi.ecs import CommandBuffer, World, decode_inline, missing_segment_ids
from gpi.ecs.commands import WIRE_VERSION
from gpi.ecs.view import layout_delta
from gpi.plugins import wire
from gpi.plugins.child import SystemRunner, import_plugin, make_drawlist
from gpi.plugins.errors import MessageError, PluginCrashedError, PluginError, PluginLoadError
from gpi.plugins.messages import (
    check_sandbox_claims,
    decode_arena_ref,
    decode_error,
    decode_ready,
    decode_result,
)
from gpi.plugins.output import LINES_PER_TICK, Dropped, OutputPump
from gpi.plugins.sandbox.policy import child_environment
from gpi.plugins.sdk import describe_components
from gpi.shm import Channel, Segment, recv_with_fds, send_with_fds

if TYPE_CHECKING:
    from gpi.plugins.host.loading import LoadedPlugin
    from gpi.plugins.zygote import ForkServer, ZygoteChild

__all__ = [
    "ARENA_SIZE",
    "DRAWLIST_SIZE",
    "START_TIMEOUT",
    "InProcessWorker",
    "OutputPump",
    "ProcessWorker",
    "Worker",
    "ZygoteProc",
    "spawn_child",
    "world_layout",
]

START_TIMEOUT = 30.0  # seconds for a child to start, import its plugin and say ready
ARENA_SIZE = 128 << 20  # sparse memfd: pages cost nothing until written
DRAWLIST_SIZE = 16 << 20  # 200k quads; sparse until written
STACK_DUMP_WAIT = 5.0  # seconds a stalled child's stack dump may take to arrive (it usually takes milliseconds)
# How a faulthandler dump ends: the main thread (listed last) started in runpy (``python -m``),
# or its stack was deeper than faulthandler prints.
_DUMP_LAST_FRAMES = (" in _run_module_as_main", "  ...")


# -- starting children ------------------------------------------------------------------------


class ZygoteProc:
    """A zygote child seen through the ``subprocess.Popen`` methods the host uses."""

    def __init__(self, child: ZygoteChild, stdout: BinaryIO) -> None:
        self._child = child
        self.pid = child.pid
        self.stdout: BinaryIO | None = stdout

    @property
    def returncode(self) -> int | None:
        return self._child.returncode

    def poll(self) -> int | None:
        """Exit code once the child is gone, else None."""
        try:
            return self._child.poll()
        except Exception:  # the zygote is gone: so is its child (death signal)
            return self._child.returncode if self._child.returncode is not None else -9

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the exit; raises ``subprocess.TimeoutExpired`` like Popen."""
        try:
            code = self._child.wait(timeout)
        except Exception:
            code = -9
        if code is None:
            raise subprocess.TimeoutExpired(f"zygote child {self.pid}", timeout or 0.0)
        self._child.close()
        return code

    def kill(self) -> None:
        """SIGKILL the child."""
        self._child.kill()


def spawn_child(child_sock: socket.socket, zygote: ForkServer | None, env: dict[str, str]) -> Any:
    """Start a plugin child on ``child_sock``: forked by ``zygote``, else a fresh interpreter.

    Either way the child's stdout and stderr are one pipe whose read end is
    the returned object's ``.stdout``.
    """
    if zygote is not None:
        r, w = os.pipe()
        try:
            child = zygote.spawn("gpi.plugins.child:zygote_main", {}, [child_sock.fileno(), w])
        except BaseException:
            os.close(r)
            raise
        finally:
            os.close(w)
        return ZygoteProc(child, os.fdopen(r, "rb"))
    return subprocess.Popen(
        [sys.executable, "-m", "gpi.plugins.child", "--sock", str(child_sock.fileno())],
        pass_fds=[child_sock.fileno()], close_fds=True, env=env,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )


_layouts: weakref.WeakKeyDictionary[World, tuple[tuple[int, int], dict[str, Any]]] = weakref.WeakKeyDictionary()


def world_layout(world: World) -> dict[str, Any]:
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


class Worker:
    """One plugin's executor: a child process or the in-process runner (see the module doc)."""

    plugin: LoadedPlugin
    #: The fork-server its child was forked from (None: started with Popen, or in process).
    zygote: ForkServer | None = None

    def start(self, world: World) -> dict[str, Any]:
        """Start the plugin; returns its ``ready`` message (components, systems, sandbox, pid)."""
        raise NotImplementedError

    def submit(self, req: dict[str, Any], world: World, timeout: float) -> None:
        """Send one run request, giving up (``TimeoutError``) after ``timeout`` seconds."""
        raise NotImplementedError

    def collect(self, timeout: float) -> dict[str, Any]:
        """The result of the oldest submitted request, waiting up to ``timeout`` seconds."""
        raise NotImplementedError

    def call(self, req: dict[str, Any], world: World, timeout: float) -> dict[str, Any]:
        """Submit and collect one request, ``timeout`` covering both (one channel call for a child)."""
        t0 = time.monotonic()
        self.submit(req, world, timeout)
        return self.collect(max(timeout - (time.monotonic() - t0), 0.001))

    def decode(self, wire_cmds: Any, source: str) -> CommandBuffer:
        """A result's ``cmds`` as a command buffer; raises ``CommandError`` when malformed."""
        raise NotImplementedError

    @property
    def drawlist(self) -> Segment | None:
        """The segment the plugin draws into (None without the ``draw`` capability)."""
        return None

    def take_output(self, max_lines: int) -> tuple[list[str], Dropped]:
        """Up to ``max_lines`` lines the plugin printed since the last call, and what was dropped.

        Nothing in process: there the plugin's prints go to the host's own stdout.
        """
        return [], Dropped()

    def dump_stacks(self, wait: float = STACK_DUMP_WAIT) -> None:
        """Ask a stalled child to print every thread's stack (faulthandler); no-op in process."""

    def kill(self) -> int | None:
        """Stop at once; returns the child's exit status (None in process)."""
        return None

    def close(self) -> None:
        """Stop and release everything; safe twice."""


def _ends_stack_dump(line: str) -> bool:
    """Whether ``line`` ends a faulthandler dump: the main thread (listed last) started in runpy, or was cut."""
    return line.rstrip().endswith(_DUMP_LAST_FRAMES)


class InProcessWorker(Worker):
    """Isolation ``none``: the plugin runs in the host, through the same runner and checks."""

    def __init__(self, plugin: LoadedPlugin, seed: int, dt: float, drawlist_size: int = 0) -> None:
        self.plugin = plugin
        self.seed, self.dt = seed, dt
        self.runner: SystemRunner | None = None
        self._pending: deque[dict[str, Any]] = deque()
        self.drawlist_size = drawlist_size or DRAWLIST_SIZE
        self._drawlist: Segment | None = None

    @property
    def drawlist(self) -> Segment | None:
        """The draw-list segment of this process's runner (None without ``draw``)."""
        return self._drawlist

    def start(self, world: World) -> dict[str, Any]:
        m = self.plugin.manifest
        p = import_plugin(m.path, m.entry, m.name, self.plugin.granted)
        draw = None
        if "draw" in self.plugin.granted:  # the same kind of buffer a child gets, in this process
            self._drawlist = Segment.create(self.drawlist_size, f"gpi-{m.name}/drawlist")
            draw = make_drawlist(self._drawlist)
        self.runner = SystemRunner(p, m.name, self.plugin.granted, self.seed, self.dt, draw)
        return {"components": describe_components(p),
                "systems": [s.to_dict() for s in p.systems.values()], "sandbox": None, "pid": os.getpid()}

    def submit(self, req: dict[str, Any], world: World, timeout: float) -> None:
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

    def call(self, req: dict[str, Any], world: World, timeout: float) -> dict[str, Any]:
        self.submit(req, world, timeout)
        return self._pending.popleft()

    def decode(self, wire_cmds: Any, source: str) -> CommandBuffer:
        if type(wire_cmds) is CommandBuffer:
            # The runner's own buffer, re-read op by op as if it came off the wire (same checks),
            # with arrays detached from world memory so applying one op cannot change another's
            # values, exactly as if they had been copied through the arena.
            return CommandBuffer.from_wire({"v": WIRE_VERSION, "ops": wire_cmds.ops}, _detach, source=source)
        return CommandBuffer.from_wire(wire_cmds, _same, source=source)  # already detached by to_wire

    def close(self) -> None:
        if self.runner is not None:
            self.runner.draw = None
        if self._drawlist is not None:
            self._drawlist.close()
            self._drawlist = None


def _same(a: Any) -> Any:
    return a


def _detach(a: Any) -> Any:
    """``a`` if it is an array owning its memory, else a private copy of it (non-arrays pass)."""
    if isinstance(a, np.ndarray) and not (a.flags.owndata and a.base is None):
        return a.copy()
    return a


class ProcessWorker(Worker):
    """Isolation ``process``: a child over a socketpair (control) and a shm channel (per tick)."""

    proc: subprocess.Popen[bytes] | None = None
    sock: socket.socket | None = None
    channel: Channel | None = None

    output: OutputPump | None = None

    def __init__(self, plugin: LoadedPlugin, seed: int, dt: float, sandbox: dict[str, Any] | None,
                 lines: deque[tuple[str, str]], drawlist_size: int = 0, zygote: ForkServer | None = None) -> None:
        """A worker for ``plugin``; ``zygote``: the fork-server to fork its child from (else Popen)."""
        self.plugin = plugin
        self.zygote = zygote
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
            self.proc = spawn_child(child_sock, self.zygote, child_environment())
        finally:
            child_sock.close()
        self.output = OutputPump(self.proc.stdout, m.name)
        self.channel.set_peer_pid(self.proc.pid)
        hello = wire.make("hello", abi=m.abi, plugin=m.name, dir=str(m.path), entry=m.entry,
                          granted=sorted(self.plugin.granted), seed=self.seed, dt=self.dt,
                          sandbox=self.sandbox, channel=self.channel.child_spec(), isolation="process",
                          env={k: os.environ[k] for k in m.env if k in os.environ})
        host_sock.settimeout(START_TIMEOUT)
        send_with_fds(host_sock, hello, self.channel.child_fds())
        self.channel.release_child_fds()  # our copies of the child's ends: its death then shows at once
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
        try:
            msg = wire.check(msg, ["ready", "error"], peer=f"child of plugin {m.name!r}")
            if msg["kind"] == "error":
                msg = decode_error(msg, plugin=m.name)
            else:
                self._check_ready(msg)
        except BaseException:
            self.kill()
            raise
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

    def _check_ready(self, msg: Any) -> None:
        """The handshake against its schema, the pid the host started and the kernel's view of the sandbox."""
        name = self.plugin.name
        sandbox = self.sandbox is not None and bool(self.sandbox.get("enabled", True))
        decode_ready(msg, plugin=name, sandbox_requested=sandbox)
        assert self.proc is not None
        # With the sandbox's pid namespace the plugin runs in a grandchild of the process the host
        # started (gpi.plugins.sandbox.pidns): that one's pid is accepted, checked with the kernel.
        parent = _parent_of(msg["pid"])
        if msg["pid"] != self.proc.pid and self.proc.pid not in (parent, _parent_of(parent)):
            raise MessageError(f"plugin {name!r} sent a malformed 'ready' message: field 'pid' says {msg['pid']}, "
                               f"but the host started pid {self.proc.pid}", plugin=name, kind="ready", field="pid",
                               reason="not the child's pid")
        check_sandbox_claims(msg["pid"], msg.get("sandbox"), plugin=name)

    def take_output(self, max_lines: int) -> tuple[list[str], Dropped]:
        """Up to ``max_lines`` lines the child printed since the last call, and what was dropped."""
        if self.output is None:
            return [], Dropped()
        return self.output.take(max_lines)

    def _reap(self, timeout: float = 2.0) -> int | None:
        if self.proc is None:
            return None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def sync(self, world: World, req: dict[str, Any] | None = None, timeout: float = START_TIMEOUT) -> None:
        """Bring the child to the world's layout epoch if it changed since the child last saw it.

        When only row counts changed (no new segment, table or component) and a
        request is given, a small :func:`~gpi.ecs.view.layout_delta` rides in the
        request itself (``req["lay"]``); otherwise the full layout and the new
        segments' fds go over the control socket, read by the child before the request.
        A child that leaves the socket full for ``timeout`` seconds raises
        ``TimeoutError`` here (a stall: the host never blocks on a child).
        """
        if world.epoch == self.epoch:
            return
        assert self.sock is not None
        layout = world_layout(world)
        delta = layout_delta(self.layout, layout) if req is not None else None
        if delta is not None:
            assert req is not None
            req["lay"] = delta
            self.deltas_sent += 1
        else:
            self.layouts_sent += 1
            new = missing_segment_ids(layout, self.known)
            segs = world.segments()
            self.sock.settimeout(max(timeout, 0.001))  # poll + sendmsg: never blocks past the deadline
            try:
                send_with_fds(self.sock, wire.make("layout", epoch=world.epoch, layout=layout, segs=new),
                              [segs[sid].fd for sid in new])
            except TimeoutError:
                raise TimeoutError(f"{self._peer} did not read its control socket within {timeout:.3f} s "
                                   f"(layout of epoch {world.epoch} not sent)") from None
            self.known = {int(sid) for sid, _ in layout["segments"]}
        self.layout = layout
        self.epoch = world.epoch

    @property
    def drawlist(self) -> Segment | None:
        """The child's draw-list segment."""
        return self.channel.drawlist if self.channel is not None else None

    def submit(self, req: dict[str, Any], world: World, timeout: float) -> None:
        assert self.channel is not None
        deadline = time.monotonic() + timeout
        if world.epoch != self.epoch:
            self.sync(world, req, timeout)
        self.channel.send(req, max(deadline - time.monotonic(), 0.001))  # a full ring waits no longer

    def collect(self, timeout: float) -> dict[str, Any]:
        assert self.channel is not None
        msg = self.channel.recv(timeout)
        return decode_result(wire.check_kind(msg, "result", self._peer), plugin=self.plugin.name,
                             granted=self.plugin.granted)

    def call(self, req: dict[str, Any], world: World, timeout: float) -> dict[str, Any]:
        assert self.channel is not None
        if world.epoch != self.epoch:
            deadline = time.monotonic() + timeout
            self.sync(world, req, timeout)
            timeout = max(deadline - time.monotonic(), 0.001)
        msg = self.channel.request(req, timeout)  # the send and the answer within the call's deadline
        return decode_result(wire.check_kind(msg, "result", self._peer), plugin=self.plugin.name,
                             granted=self.plugin.granted)

    def _decode_array(self, obj: Any) -> np.ndarray:
        if isinstance(obj, dict) and "arena" in obj:
            assert self.channel is not None
            view = self.channel.arena.view(decode_arena_ref(obj["arena"], plugin=self.plugin.name))
            if view.dtype == np.uint64:
                # Entity ids: validation depends on their contents, and the child can still
                # write its arena, so take a private copy before checking them.
                return view.copy()
            return view  # values: zero-copy; world.apply copies them into the table once
        return decode_inline(obj)

    def decode(self, wire_cmds: Any, source: str) -> CommandBuffer:
        assert self.channel is not None
        return CommandBuffer.from_wire(wire_cmds, self._decode_array, source=source)

    def dump_stacks(self, wait: float = STACK_DUMP_WAIT) -> None:
        """SIGUSR1 to the child (its faulthandler prints every thread's stack), then wait for the dump.

        The dump has arrived when the outermost frame of the child's main
        thread (printed last) is among its output lines: waiting a fixed time
        instead loses the dump whenever the machine is busy. ``wait`` only
        bounds a child that prints no dump.
        """
        proc, out = self.proc, self.output
        if proc is None or proc.poll() is not None:
            return
        since = out.mark() if out is not None else 0
        try:
            os.kill(proc.pid, signal.SIGUSR1)
        except OSError:
            return
        if out is not None:
            out.wait_for(_ends_stack_dump, since, wait)

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
            last, _ = self.output.take(LINES_PER_TICK)  # the child's last lines (a crash report's tail)
            self.lines.extend((self.plugin.name, line) for line in last)
            self.output = None


def _parent_of(pid: int | None) -> int | None:
    """The parent pid of ``pid`` from ``/proc`` (None when it cannot be read)."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{int(pid)}/status", "rb") as f:
            for line in f:
                if line.startswith(b"PPid:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None
