"""The plugin child: ``python -m gpi.plugins.child --sock FD``.

One child runs one plugin. Its life:

1. **Own imports** (numpy, msgpack, gpi.ecs, gpi.shm): done at module import,
   before anything else, so the sandbox can forbid opening files afterwards.
2. **Hello** on the control socket (a ``SOCK_SEQPACKET`` socketpair; see
   :mod:`gpi.plugins.wire`), with the channel fds attached: ABI check, the
   capabilities the host granted, the world seed, dt and the sandbox policy.
3. **Confinement** (:func:`_confine`): the Linux sandbox from
   :mod:`gpi.plugins.sandbox` when the host asks for it; the report travels
   back in the handshake.
4. **Plugin import** (the ``entry`` module of the plugin folder) and
   collection of its components and systems (:func:`gpi.plugins.sdk.collect`).
5. **Ready**: components and systems go to the host.
6. **Loop**: ``run`` requests arrive on the shared-memory request ring; when a
   request names a layout epoch the child has not seen, the matching
   ``layout`` message (with new segment fds) is read from the socket first;
   when only row counts changed, the request carries a layout delta instead
   (``lay``, see :func:`gpi.ecs.view.layout_delta`) and the socket is not touched.
   The system runs over a read-only :class:`~gpi.ecs.WorldView`; its command
   list goes back on the response ring, big arrays in the output arena.

An exception in plugin code becomes a ``result`` with an ``error`` (type,
message, traceback): the child lives on. A failure before the loop (ABI,
import, sandbox) is an ``error`` message on the socket, then exit.

:class:`SystemRunner` is the part shared with isolation ``none``: the host runs
the very same code in-process, so both modes give identical results.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import os
import socket
import sys
import time
import traceback
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from gpi.ecs import CommandBuffer, WorldView, attach_segments, encode_inline
from gpi.plugins import wire
from gpi.plugins.context import SystemContext
from gpi.plugins.errors import PluginLoadError, ProtocolError
from gpi.plugins.sdk import Plugin, collect, describe_components
from gpi.shm import Channel, recv_with_fds, send_with_fds
from gpi.version import ABI_VERSION

__all__ = ["ARENA_THRESHOLD", "SystemRunner", "error_info", "import_plugin", "main"]

# Arrays at least this big go through the output arena instead of the ring message.
ARENA_THRESHOLD = 4096

# Exit codes of a child that could not start (the host also gets an "error" message).
EXIT_PROTOCOL, EXIT_ABI, EXIT_SANDBOX, EXIT_IMPORT = 2, 3, 4, 5

# The sandbox's violation log once confined (None otherwise): classifies refusals for the host.
_violations: Any = None


def error_info(exc: BaseException, tb: bool = True) -> dict[str, Any]:
    """``{type, message, traceback}`` of an exception, for the wire."""
    return {
        "type": type(exc).__name__,
        "message": str(exc),
        "traceback": "".join(traceback.format_exception(exc)) if tb else "",
    }


def import_plugin(plugin_dir: str | Path, entry: str, name: str, granted: Iterable[str] | None = None) -> Plugin:
    """Import a plugin's entry module from its folder and collect its declarations.

    The module gets a private name (``gpi_plugin_<name>``) so two plugins with
    the same entry name never collide; the folder goes first on ``sys.path`` so
    the plugin can import its own helper modules. A native plugin (no entry
    module: ``kind = "native"``) is loaded by :func:`gpi.plugins.native.load_native`,
    a wasm one (``kind = "wasm"``) by :func:`gpi.plugins.wasm.load_wasm`.
    """
    folder = Path(plugin_dir)
    if not entry:
        return _load_native(folder, name, granted)
    mod_name = f"gpi_plugin_{name}"
    path = folder / f"{entry}.py"
    search: list[str] | None = None
    if not path.is_file():
        path = folder / entry / "__init__.py"
        search = [str(folder / entry)]
    if not path.is_file():
        raise PluginLoadError(f"plugin {name!r}: entry module {entry!r} not found in {folder}")
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    spec = importlib.util.spec_from_file_location(mod_name, path, submodule_search_locations=search)
    if spec is None or spec.loader is None:
        raise PluginLoadError(f"plugin {name!r}: cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:
        sys.modules.pop(mod_name, None)
        raise PluginLoadError(
            f"plugin {name!r}: importing {path} failed: {type(exc).__name__}: {exc}\n"
            + "".join(traceback.format_exception(exc))
        ) from exc
    return collect(module, name)


def _load_native(folder: Path, name: str, granted: Iterable[str] | None) -> Plugin:
    """The native library of a ``kind = "native"`` plugin folder, as a Plugin."""
    from gpi.plugins.manifest import load_manifest
    from gpi.plugins.native import load_native

    m = load_manifest(folder, check_entry=False)
    if m.kind == "wasm":
        from gpi.plugins.wasm import load_wasm

        mem, fuel = m.sandbox.get("memory_mb"), m.sandbox.get("fuel")
        return load_wasm(folder, m.library, name, m.capabilities if granted is None else granted,
                         memory_mb=int(mem) if mem else None, fuel=int(fuel) if fuel else None)
    if m.kind != "native":
        raise PluginLoadError(f"plugin {name!r}: no entry module and kind = {m.kind!r} in {folder}")
    return load_native(folder, m.library, name, m.capabilities if granted is None else granted)


def _describe(p: Plugin) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    return describe_components(p), [s.to_dict() for s in p.systems.values()]


class SystemRunner:
    """Runs one plugin's systems: builds the context, calls the function, catches errors."""

    def __init__(self, plugin: Plugin, name: str, granted: Iterable[str], seed: int, dt: float,
                 draw: Any = None) -> None:
        self.plugin = plugin
        self.name = name
        self.granted = frozenset(granted)
        self.seed = int(seed)
        self.dt = float(dt)
        self.draw = draw  # a DrawList: cleared at each new tick, finished after every call
        self._draw_tick = -1
        self.saved: dict[str, Any] = {}  # this plugin's save-store items, as the host last sent them
        self._readable: dict[str, tuple[Any, frozenset[str]]] = {}  # system -> (spec, spec.readable)

    def run(
        self,
        world: Any,
        system: str,
        tick: int,
        input_state: Mapping[str, Any] | None = None,
        draw: Any = None,
        alloc: Any = None,
        changes: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Run ``system`` once; returns ``{cmds, logs, dropped, cpu_ns, child_ns, error}``.

        ``draw`` overrides the runner's draw list for this call; ``alloc(shape,
        dtype)`` backs ``ctx.output``.
        """
        if draw is None and self.draw is not None:
            draw = self.draw
            if self._draw_tick != tick:
                draw.clear()
                self._draw_tick = tick
        try:
            return self._run(world, system, tick, input_state, draw, alloc, changes)
        finally:
            if draw is not None and draw is self.draw:
                try:
                    draw.finish()
                except Exception:
                    pass

    def _run(self, world: Any, system: str, tick: int, input_state: Mapping[str, Any] | None,
             draw: Any, alloc: Any, changes: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Run ``system`` once; returns ``{cmds, logs, dropped, cpu_ns, child_ns, error}``."""
        spec = self.plugin.systems.get(system)
        t0 = time.perf_counter_ns()
        c0 = time.thread_time_ns()
        if spec is None or spec.fn is None:
            return {"cmds": None, "logs": [], "dropped": 0, "cpu_ns": 0, "child_ns": 0,
                    "error": {"type": "LookupError", "traceback": "",
                              "message": f"plugin {self.name!r} has no system {system!r}"}}
        hit = self._readable.get(system)
        if hit is None or hit[0] is not spec:
            hit = self._readable[system] = (spec, spec.readable)
        readable = hit[1]
        ctx = SystemContext(world, spec, plugin=self.name, tick=tick, dt=self.dt, seed=self.seed,
                            granted=self.granted, input_state=input_state, draw=draw, alloc=alloc,
                            saved=self.saved, readable=readable, changes=changes)
        error = None
        try:
            spec.fn(ctx)
        except Exception as exc:
            error = error_info(exc)
            if _violations is not None:  # confined: name the layer that refused (gpi.plugins.violations)
                try:
                    error["violation"] = _violations.record(exc, plugin=self.name, system=system, tick=tick)
                    _violations.drain()
                except Exception:  # reporting must never take the child down
                    pass
        cpu = time.thread_time_ns() - c0
        wall = time.perf_counter_ns() - t0
        cmds = ctx.take_commands() if error is None else None
        return {"cmds": cmds, "logs": [list(x) for x in ctx.logs], "dropped": ctx.dropped_logs,
                "cpu_ns": cpu, "child_ns": wall, "error": error,
                "saves": ctx.take_saves() if error is None else None}


# -- confinement -------------------------------------------------------------------------


def _confine(manifest: Mapping[str, Any], policy: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Apply the Linux sandbox (if asked and available); returns the report as a dict.

    Runs after the child's own imports and before the plugin's. ``policy`` is
    ``None`` when the host wants no sandbox; otherwise a
    :meth:`SandboxPolicy.to_dict` dict, possibly with ``"enabled": False``.
    A required layer that cannot be applied raises (the child then exits).
    """
    if policy is None or not policy.get("enabled", True):
        return None
    try:
        from gpi.plugins.sandbox import SandboxPolicy, apply_sandbox
    except ImportError as exc:  # the sandbox package is optional
        return {"available": False, "detail": f"gpi.plugins.sandbox not importable: {exc}"}
    data = {k: v for k, v in policy.items() if k != "enabled"}
    pol = SandboxPolicy.from_dict(data)
    # With the pid-namespace layer this forks: the rest runs in the new pid 1 (see gpi.plugins.sandbox.pidns).
    report = apply_sandbox(pol, manifest["dir"], expected_parent=os.getppid(), name=str(manifest["plugin"]),
                           tick_seconds=float(manifest.get("dt") or 1 / 60))
    global _violations
    _violations = report.violations
    return {"available": True, **report.to_dict()}


def _visible_pid() -> int:
    """This process's pid as the host sees it (in a private pid namespace ``getpid()`` is 1)."""
    try:
        from gpi.plugins.sandbox.pidns import host_pid

        return host_pid()
    except Exception:  # no sandbox package, or /proc unreadable: the plain pid
        return os.getpid()


# -- the child process -----------------------------------------------------------------------


class _Child:
    """State of a running child: socket, channel, world view, runner."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.channel: Channel | None = None
        self.view: WorldView | None = None
        self.segments: dict[int, Any] = {}
        self.epoch = -1
        self.runner: SystemRunner | None = None

    def fail(self, stage: str, exc: BaseException) -> None:
        info = error_info(exc)
        try:
            send_with_fds(self.sock, wire.make("error", stage=stage, **info))
        except OSError:
            pass

    def start(self) -> int:
        msg, fds = recv_with_fds(self.sock)
        try:
            hello = wire.check(msg, ["hello"], peer="host")
            self.channel = Channel.attach(hello["channel"], fds)
            fds = []
        except Exception as exc:
            for fd in fds:
                os.close(fd)
            self.fail("protocol", exc)
            return EXIT_PROTOCOL
        if hello["abi"] != ABI_VERSION:
            self.fail("abi", PluginLoadError(
                f"plugin {hello['plugin']!r} needs ABI {hello['abi']}, this gpi child speaks ABI "
                f"{ABI_VERSION}; rebuild the plugin for ABI {ABI_VERSION}"))
            return EXIT_ABI
        try:
            report = _confine(hello, hello.get("sandbox"))
        except Exception as exc:
            self.fail("sandbox", exc)
            return EXIT_SANDBOX
        env = hello.get("env") or {}
        if isinstance(env, dict):  # the host variables the manifest names ([plugin].env), nothing else
            os.environ.update({str(k): str(v) for k, v in env.items()})
        try:
            plugin = import_plugin(hello["dir"], hello["entry"], hello["plugin"], hello["granted"])
        except Exception as exc:
            self.fail("import", exc)
            return EXIT_IMPORT
        draw = make_drawlist(self.channel.drawlist) if "draw" in hello["granted"] else None
        self.runner = SystemRunner(plugin, hello["plugin"], hello["granted"], hello["seed"], hello["dt"], draw)
        comps, systems = _describe(plugin)
        send_with_fds(self.sock, wire.make("ready", abi=ABI_VERSION, pid=_visible_pid(),
                                           components=comps, systems=systems, sandbox=report))
        return self.loop()

    def sync_layout(self, epoch: int) -> None:
        while self.epoch != epoch:
            msg, fds = recv_with_fds(self.sock)
            if msg.get("kind") == "shutdown":
                raise SystemExit(0)
            m = wire.check(msg, ["layout"], peer="host")
            self.segments = attach_segments(m["layout"], m["segs"], fds, self.segments)
            if self.view is None:
                self.view = WorldView.from_layout(m["layout"], self.segments)
            else:
                self.view.update(m["layout"], self.segments)
            self.epoch = int(m["epoch"])

    def loop(self) -> int:
        ch = self.channel
        runner = self.runner
        assert ch is not None and runner is not None
        arena = ch.arena

        outputs: dict[int, tuple[np.ndarray, dict[str, Any]]] = {}

        def alloc(shape: Any, dtype: Any) -> np.ndarray:
            arr, ref = arena.array(dtype, shape)
            outputs[id(arr)] = (arr, ref)
            return arr

        def encode(a: np.ndarray) -> Any:
            own = outputs.get(id(a))
            if own is not None and own[0] is a:
                return {"arena": own[1]}  # ctx.output(): already in the arena, no copy
            if a.nbytes < ARENA_THRESHOLD:
                return encode_inline(a)
            return {"arena": arena.write(a)}

        msg = ch.recv(None)
        while True:
            kind = msg.get("kind")
            if kind == "shutdown":
                return 0
            if kind != "run":
                raise ProtocolError(f"child of {runner.name!r} got unexpected {kind!r} on its ring")
            if msg.get("first"):
                arena.reset()
            if "saved" in msg:  # the host sends the plugin's save items when they changed
                runner.saved = dict(msg["saved"] or {})
            lay = msg.get("lay")
            if lay is not None:  # only row counts changed: a layout delta rides in the request
                if self.view is None:
                    raise ProtocolError(f"child of {runner.name!r} got a layout delta before any layout")
                self.view.apply_delta(lay)
                self.epoch = int(lay["epoch"])
            epoch = int(msg["epoch"])
            if epoch != self.epoch:
                self.sync_layout(epoch)
            view = self.view
            assert view is not None
            view.set_frame_state(msg.get("res"), msg.get("ev"))
            if outputs:
                outputs.clear()
            out = runner.run(view, msg["sys"], int(msg["tick"]), msg.get("input"), None, alloc, msg.get("chg"))
            cmds: CommandBuffer | None = out["cmds"]
            wire_cmds = None
            if cmds is not None and len(cmds):
                try:
                    wire_cmds = cmds.to_wire(encode)
                except Exception as exc:  # e.g. the arena is full
                    out["error"] = error_info(exc)
            if outputs:
                outputs.clear()
            error = out["error"]
            # wire.make("result", ...) spelt out: every field of FIELDS["result"] is here
            result = {"v": wire.PROTOCOL_VERSION, "kind": "result", "tick": msg["tick"], "sys": msg["sys"],
                      "cmds": wire_cmds, "logs": out["logs"], "dropped": out["dropped"], "cpu_ns": out["cpu_ns"],
                      "child_ns": out["child_ns"], "error": error,
                      "saves": out["saves"] if error is None else None}
            msg = ch.request(result, None)  # answer and wait for the next request in one call


def make_drawlist(segment: Any) -> Any:
    """A draw-list builder over the channel's draw-list segment (None if unavailable)."""
    try:
        from gpi.draw import DrawList
    except ImportError:
        return None
    try:
        return DrawList(segment)
    except Exception:
        return None


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m gpi.plugins.child``."""
    parser = argparse.ArgumentParser(prog="gpi.plugins.child", description="GPI plugin child process")
    parser.add_argument("--sock", type=int, required=True, help="fd of the control socket (SOCK_SEQPACKET)")
    args = parser.parse_args(argv)
    import faulthandler  # a hard crash prints every thread's stack to stderr (a pipe to the host)

    for stream in (sys.stdout, sys.stderr):  # the host reads lines as they come, whatever the environment
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(line_buffering=True)

    faulthandler.enable(file=sys.stderr, all_threads=True)
    if hasattr(faulthandler, "register"):  # SIGUSR1: the host asks for our stacks before killing a stall
        import signal

        faulthandler.register(signal.SIGUSR1, file=sys.stderr, all_threads=True)
    sock = socket.socket(fileno=args.sock)
    child = _Child(sock)
    try:
        return child.start()
    except SystemExit as exc:
        return int(exc.code or 0)
    except Exception as exc:  # the host is gone or spoke nonsense: nothing more to do
        child.fail("protocol", exc)
        return EXIT_PROTOCOL
    finally:
        if child.channel is not None:
            child.channel.close()
        sock.close()


def zygote_main(args: Mapping[str, Any], fds: list[int]) -> int:
    """Entry of a child forked by :class:`gpi.plugins.zygote.ForkServer`: ``fds`` = [control socket, output pipe].

    The output pipe becomes stdout and stderr (as with ``python -m gpi.plugins.child``).
    """
    sock_fd, out_fd = fds[0], fds[1]
    os.dup2(out_fd, 1)
    os.dup2(out_fd, 2)
    os.close(out_fd)
    sys.dont_write_bytecode = True  # plugin sources change under hot-swap: never trust a stale cache
    return main(["--sock", str(sock_fd)])


if __name__ == "__main__":
    sys.exit(main())

