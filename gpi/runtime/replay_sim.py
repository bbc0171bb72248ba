"""Re-simulating replays on the real plugin host: the ``gpi replay`` simulator hook.

``gpi replay verify|diff|play|render`` load a simulator through
:func:`make_simulator` (``gpi.runtime.replay_sim:make_simulator``, see
:mod:`gpi.runtime.cli.cmd_replay`). :class:`HostSimulator` implements the
:class:`~gpi.replays.verify.Simulator` protocol over a fresh
:class:`~gpi.ecs.World` and :class:`~gpi.plugins.host.PluginHost`:

* plugin folders: for each plugin of the replay header, the first folder
  whose ``plugin.toml`` names it, from the explicit ``plugin_dirs``, the
  folder recorded in the header (``path``), then the search path (``plugins``
  argument, ``$GPI_REPLAY_PLUGINS``, ``$GPI_PLUGIN_PATH``; each entry may be
  a plugin folder or a folder of plugin folders). A folder whose content hash
  equals the recorded one wins over one that does not;
* a loaded plugin whose content hash differs from the header's is refused
  with :class:`~gpi.replays.errors.PluginMismatchError` naming the plugin and
  both hashes, unless ``force``;
* ``step(input, record)`` sets the host's tick number to the record's (the
  deterministic RNG is seeded by tick), reloads plugins the record swapped,
  skips the systems the record says did not apply their commands (a crash,
  stall or timeout while recording, see :mod:`gpi.runtime.recording`), runs
  one ``host.tick`` with the input as the App passes it (``to_dict()``) and
  returns ``world.checksum()``;
* ``world_diff(snapshot)`` lists differing components and entities with both
  values, and the systems that wrote that component in the last tick (from
  the host's per-call records: status ok and at least one command, among the
  systems declaring the component in ``writes``).

Isolation: ``isolation`` argument, else ``$GPI_REPLAY_ISOLATION``, else the
header's ``meta["isolation"]``, else ``"process"``. Results are identical in
both modes; ``"none"`` is faster (no IPC) but runs plugin code unconfined.
:func:`confined_simulator` (``make_simulator(isolation="confined")``) is
``"none"`` inside a process that first confined itself with the plugin
sandbox: what ``gpi replay verify`` runs in its worker processes.
``skip_effect_free`` leaves out systems that cannot change the world
(:meth:`HostSimulator.effect_free_systems`); verify sets it.

:func:`render` draws chosen ticks to PNGs (headless, one offscreen GL window
for all ticks); :func:`play` is the windowed player with the replay panel
(:mod:`gpi.runtime.overlay.replay_panel`): timeline scrubber, play/pause,
step, step back, and an entity inspector.
"""

from __future__ import annotations

import argparse
import inspect
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gpi.ecs import World
from gpi.ecs.schedule import Schedule
from gpi.plugins.host import PluginHost
from gpi.plugins.hoststate import capture_host_state, decode_host_state, restore_host_state
from gpi.replays import (
    InputState,
    PluginMismatchError,
    Replay,
    ReplayHeader,
    TickRecord,
    check_plugins,
    seek,
)
from gpi.replays.worldsim import world_differences
from gpi.runtime.recording import HostRecorder, make_recorder

__all__ = [
    "ARENA",
    "HostRecorder",
    "HostSimulator",
    "confined_simulator",
    "draw_world",
    "find_plugin_dirs",
    "make_recorder",
    "make_simulator",
    "play",
    "render",
    "render_ticks",
]

ARENA = 100.0  # the example plugins' arena side (world units); the default camera fits it
#: replay fault kinds that mean "the system's commands were not applied" when a
#: fault carries no explicit ``skip`` flag (recordings by other recorders)
SKIP_KINDS = frozenset({"skipped", "crashed", "stalled", "disabled"})


# -- plugin folders ---------------------------------------------------------------


def _search_entries(extra: Iterable[str | os.PathLike[str]]) -> list[Path]:
    out = [Path(p) for p in extra]
    for var in ("GPI_REPLAY_PLUGINS", "GPI_PLUGIN_PATH"):
        out += [Path(p) for p in os.environ.get(var, "").split(os.pathsep) if p]
    return out


def _manifest_name(folder: Path) -> str | None:
    if not (folder / "plugin.toml").is_file():
        return None
    from gpi.plugins.manifest import load_manifest

    try:
        return load_manifest(folder, check_entry=False).name
    except Exception:
        return None


def _candidates(name: str, recorded: str | None, dirs: Sequence[Path], search: Sequence[Path]) -> list[Path]:
    seen: list[Path] = []

    def add(p: Path) -> None:
        p = p.resolve()
        if p not in seen and _manifest_name(p) == name:
            seen.append(p)

    for d in dirs:
        add(d)
    if recorded:
        add(Path(recorded))
    for s in search:
        if not s.is_dir():
            continue
        add(s)
        add(s / name)
        for sub in sorted(s.iterdir()):
            if sub.is_dir():
                add(sub)
    return seen


def find_plugin_dirs(
    header: ReplayHeader,
    *,
    plugin_dirs: Sequence[str | os.PathLike[str]] = (),
    search: Sequence[str | os.PathLike[str]] = (),
    force: bool = False,
) -> tuple[list[Path], list[dict[str, Any]]]:
    """The folders of the header's plugins and ``[{name, version, content_hash}]`` found there.

    Raises :class:`PluginMismatchError` when a plugin cannot be found, or
    (unless ``force``) when a found plugin's content hash differs from the
    recorded one; the message names the plugin and both hashes.
    """
    from gpi.plugins.manifest import load_manifest
    from gpi.plugins.signing import content_hash

    dirs = [Path(d) for d in plugin_dirs]
    paths = _search_entries(search)
    found: list[Path] = []
    loaded: list[dict[str, Any]] = []
    missing: list[str] = []
    for p in header.plugins:
        name = str(p["name"])
        cands = _candidates(name, p.get("path"), dirs, paths)
        if not cands:
            missing.append(name)
            continue
        hashes = [content_hash(c) for c in cands]
        pick = hashes.index(p["content_hash"]) if p["content_hash"] in hashes else 0
        found.append(cands[pick])
        m = load_manifest(cands[pick], check_entry=False)
        loaded.append({"name": name, "version": m.version, "content_hash": hashes[pick]})
    if missing:
        where = [str(p.get("path")) for p in header.plugins if p["name"] in missing and p.get("path")]
        raise PluginMismatchError(
            f"cannot find plugin(s) {missing} of the replay (recorded at {where or 'no path'}; "
            f"searched {[str(s) for s in paths] or 'no search path'}); pass the folders with "
            "--plugins DIR or set GPI_REPLAY_PLUGINS"
        )
    check_plugins(header, loaded, force=force)
    return found, loaded


# -- the simulator ----------------------------------------------------------------


class HostSimulator:
    """A :class:`~gpi.replays.verify.Simulator` over a real :class:`PluginHost` (see module doc)."""

    _closed = True

    def __init__(
        self,
        header: ReplayHeader,
        *,
        plugin_dirs: Sequence[str | os.PathLike[str]] = (),
        search: Sequence[str | os.PathLike[str]] = (),
        isolation: str | None = None,
        force: bool = False,
        sandbox: bool | None = None,
        timeout: float | None = None,
        diff_limit: int = 200,
        skip_effect_free: bool = False,
        data_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.header = header
        self.skip_effect_free = skip_effect_free
        self._filtered: tuple[Schedule, frozenset[str], Schedule] | None = None
        self._effect_free: tuple[Schedule, frozenset[str]] | None = None
        self.dirs, self.loaded = find_plugin_dirs(
            header, plugin_dirs=plugin_dirs, search=search, force=force
        )
        iso = (
            isolation
            or os.environ.get("GPI_REPLAY_ISOLATION")
            or str(header.meta.get("isolation") or "process")
        )
        self.isolation = iso
        self.diff_limit = diff_limit
        self.world = World(seed=header.seed)
        kwargs: dict[str, Any] = {"isolation": iso, "dt": 1.0 / header.tick_rate,
                                  "seed": header.seed, "sandbox": sandbox}
        if timeout is not None:
            kwargs["timeout"] = timeout
        self._data_dir: str | None = None
        if data_dir is not None:
            kwargs["data_dir"] = data_dir  # the caller's to remove
        elif "data_dir" in inspect.signature(PluginHost).parameters:
            # crash reports and save stores of a re-simulation never touch the user's
            self._data_dir = tempfile.mkdtemp(prefix="gpi-replay-sim-")
            kwargs["data_dir"] = self._data_dir
        self._calls: list[tuple[str, str, int]] = []  # (plugin, system, ops) applied last tick
        self.last_tick: int | None = None
        try:
            self.host = PluginHost(self.world, on_call_record=self._on_call, **kwargs)
            self._closed = False
            self.host.saves.in_memory = True  # the recorded items come from the replay, nothing persists
            self.host.load(*self.dirs)
            restore_host_state(self.host, header.initial_snapshot)
        except BaseException:
            self.close()
            raise

    # -- Simulator protocol ---------------------------------------------------------

    def _on_call(self, rec: Mapping[str, Any]) -> None:
        if rec.get("status") == "ok" and rec.get("ops"):
            self._calls.append((str(rec["plugin"]), str(rec["system"]), int(rec["ops"])))

    def reset_to(self, snapshot: bytes) -> None:
        """Load a host state (world and saved items: the header's initial one or a keyframe)."""
        restore_host_state(self.host, snapshot)
        self._calls = []
        self.last_tick = None

    def skipped_systems(self, record: TickRecord) -> set[str]:
        """Keys ``plugin.system`` whose commands were not applied in ``record``'s tick."""
        out = set()
        for f in record.faults:
            system = f.get("system")
            if system and f.get("skip", f.get("kind") in SKIP_KINDS):
                out.add(f"{f.get('plugin')}.{system}")
            elif not system and f.get("kind") == "disabled" and f.get("plugin"):
                lp = self.host.plugins.get(str(f["plugin"]))
                if lp is not None:
                    out.update(f"{lp.name}.{s}" for s in lp.systems)
        return out

    def effect_free_systems(self) -> set[str]:
        """Keys ``plugin.system`` whose command lists cannot change the world.

        Such a system declares no writes, spawns, despawns, resources or
        events, watches no changes (its last-run tick is world state), and its plugin holds no
        ``save`` grant, so host validation
        rejects any command it could send; only its draw list and log remain.
        Verify skips them with ``skip_effect_free`` (the same no-hidden-state
        assumption that seeking from a keyframe makes).
        """
        out = set()
        for lp in self.host.plugins.values():
            if "save" in lp.granted:
                continue
            for spec in lp.systems.values():
                if not (spec.writes or spec.structural or spec.resources or spec.events or spec.watches):
                    out.add(f"{lp.name}.{spec.name}")
        return out

    def _schedule_without(self, skip: frozenset[str]) -> Schedule:
        full = self.host.schedule
        cached = self._filtered
        if cached is not None and cached[0] is full and cached[1] == skip:
            return cached[2]
        stages = {
            st: [w2 for w2 in ([k for k in wave if k not in skip] for wave in waves) if w2]
            for st, waves in full.stages.items()
        }
        filtered = Schedule(stages=stages, systems=full.systems, warnings=full.warnings)
        self._filtered = (full, skip, filtered)
        return filtered

    def step(self, input: InputState, record: TickRecord) -> int:
        """Run ``record``'s tick with ``input``; returns the world checksum after it."""
        for sw in record.swaps:
            self._swap(sw)
        host = self.host
        host.tick_count = record.tick
        self._calls = []
        skip = self.skipped_systems(record) if record.faults else set()
        if self.skip_effect_free:
            if self._effect_free is None or self._effect_free[0] is not host.schedule:
                self._effect_free = (host.schedule, frozenset(self.effect_free_systems()))
            skip |= self._effect_free[1]
        if skip:
            full = host.schedule
            host.schedule = self._schedule_without(frozenset(skip))
            try:
                host.tick(input.to_dict())
            finally:
                host.schedule = full
        else:
            host.tick(input.to_dict())
        self.last_tick = record.tick
        return self.world.checksum()

    def _swap(self, sw: Mapping[str, Any]) -> None:
        name = str(sw.get("plugin"))
        if name in self.host.plugins:
            self.host.reload(name)

    def snapshot(self) -> bytes:
        """The current host state (world and saved items) as :meth:`reset_to` takes it."""
        return capture_host_state(self.host)

    def checksum(self) -> int:
        """The current world checksum."""
        return self.world.checksum()

    def writers(self, component: str) -> list[str]:
        """Systems that applied commands declaring ``component`` in ``writes`` in the last tick."""
        out = []
        for plugin, system, _ in self._calls:
            lp = self.host.plugins.get(plugin)
            spec = lp.systems.get(system) if lp is not None else None
            if spec is not None and component in spec.writes:
                out.append(f"{plugin}.{system}")
        return out

    def world_diff(self, other_snapshot: bytes) -> list[tuple[Any, ...]]:
        """``(component, entity, mine, theirs, systems)`` for every difference (at most ``diff_limit``)."""
        other = World.from_snapshot(decode_host_state(other_snapshot)[0], name="gpi-replay-diff")
        try:
            return list(world_differences(self.world, other, limit=self.diff_limit, writers=self.writers))
        finally:
            other.close()

    # -- lifetime ---------------------------------------------------------------------

    def close(self) -> None:
        """Stop the plugin children and free the world; safe twice."""
        if self._closed and getattr(self, "world", None) is None:
            return
        self._closed = True
        host = getattr(self, "host", None)
        if host is not None:
            host.close()
        world = getattr(self, "world", None)
        if world is not None:
            world.close()
            self.world = None  # type: ignore[assignment]
        data_dir = getattr(self, "_data_dir", None)
        if data_dir is not None:
            shutil.rmtree(data_dir, ignore_errors=True)
            self._data_dir = None

    def __enter__(self) -> HostSimulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        return f"<HostSimulator isolation={self.isolation} plugins={[p['name'] for p in self.loaded]}>"


def make_simulator(
    header: ReplayHeader,
    force: bool = False,
    *,
    plugins: Sequence[str | os.PathLike[str]] = (),
    isolation: str | None = None,
    skip_effect_free: bool = False,
    data_dir: str | os.PathLike[str] | None = None,
) -> HostSimulator:
    """The ``gpi replay`` factory: a :class:`HostSimulator` for ``header``.

    ``plugins`` are extra search-path entries (``--plugins``); ``verify``
    passes ``skip_effect_free`` (see :meth:`HostSimulator.effect_free_systems`).
    ``isolation="confined"`` builds a :func:`confined_simulator` (verify
    workers only).
    """
    if isolation == "confined":
        return confined_simulator(header, force, plugins=plugins, skip_effect_free=skip_effect_free,
                                  data_dir=data_dir)
    return HostSimulator(header, search=plugins, isolation=isolation, force=force,
                         skip_effect_free=skip_effect_free, data_dir=data_dir)


def confined_simulator(
    header: ReplayHeader,
    force: bool = False,
    *,
    plugins: Sequence[str | os.PathLike[str]] = (),
    skip_effect_free: bool = False,
    data_dir: str | os.PathLike[str] | None = None,
) -> HostSimulator:
    """Confine this process with the plugin sandbox, then build an in-process :class:`HostSimulator`.

    For parallel-verify workers (:class:`gpi.replays.VerifyPool`): the
    plugins run in the worker itself (no per-call IPC), behind the same
    layers a plugin child gets (rlimits, no_new_privs, parent-death signal,
    network namespace, Landlock read-only on the plugin folders and the
    interpreter, seccomp), plus ``memfd_create``/``ftruncate`` so the worker
    can own the world. Plugins are confined from the machine, not from each
    other or from the verifier. ``data_dir`` (made beforehand, removed by the
    caller) holds a fresh sub-folder for the host (crash reports could not
    be written there once confined; the save store is in memory). Refuses
    to run in a process that is not a child (it would confine the caller for
    good).
    """
    import multiprocessing

    from gpi.errors import GpiError
    from gpi.replays import SimulatorUnavailableError

    if multiprocessing.parent_process() is None:
        raise SimulatorUnavailableError(
            "a confined simulator confines its own process for good: build it only in a verify "
            "worker (gpi.replays.VerifyPool), not in the main process"
        )
    dirs, _ = find_plugin_dirs(header, search=plugins, force=force)
    host_dir = tempfile.mkdtemp(prefix="gpi-replay-sim-", dir=None if data_dir is None else os.fspath(data_dir))
    try:
        import gpi
        from gpi.plugins.sandbox import SandboxPolicy, apply_sandbox
        from gpi.plugins.sandbox.seccomp import WORLD_OWNER_SYSCALLS
    except ImportError as exc:
        raise SimulatorUnavailableError(f"the plugin sandbox is not available here: {exc}") from exc
    _stdio_off_regular_files()
    policy = _confined_policy(dirs, SandboxPolicy)
    gpi_dir = str(Path(gpi.__file__).resolve().parent)
    try:
        apply_sandbox(policy, dirs[0], [*map(str, dirs[1:]), gpi_dir],
                      expected_parent=os.getppid(), extra_syscalls=WORLD_OWNER_SYSCALLS)
    except GpiError as exc:
        raise SimulatorUnavailableError(
            f"cannot confine the verify worker: {exc}. Verify with --isolation process (a sandboxed "
            "child per plugin) or --isolation none (unconfined: only for plugins you trust)"
        ) from exc
    return HostSimulator(header, plugin_dirs=dirs, isolation="none", sandbox=False, force=force,
                         skip_effect_free=skip_effect_free, data_dir=host_dir)


def _confined_policy(dirs: Sequence[Path], policy_type: Any) -> Any:
    """The sandbox policy of a confined worker that runs every plugin in ``dirs``.

    The default layers; room for the plugins' address spaces together (each
    as its manifest's ``memory_mb`` or the default) plus the world, at least
    8 GiB; more fds; memfds that may grow (RLIMIT_FSIZE bounds each one). No
    CPU limit: the pool's stall timeout is the deadline.
    """
    from gpi.plugins.manifest import load_manifest

    base = policy_type()
    address_space = 0
    for d in dirs:
        m = load_manifest(d, check_entry=False)
        own = policy_type.from_dict(dict(m.sandbox), base=base) if m.sandbox else base
        address_space += own.address_space_bytes or 0
    return policy_type(cpu_seconds=None, open_files=4096, file_size_bytes=4 << 30,
                       address_space_bytes=max(8 << 30, address_space + (2 << 30)))


def _stdio_off_regular_files() -> None:
    """Point stdout/stderr at /dev/null when they are regular files (a confined process may ftruncate)."""
    import stat

    for fd in (1, 2):
        try:
            if stat.S_ISREG(os.fstat(fd).st_mode):
                null = os.open(os.devnull, os.O_WRONLY)
                os.dup2(null, fd)
                os.close(null)
        except OSError:
            pass


# -- drawing ----------------------------------------------------------------------


def draw_world(world: Any, drawlist: Any) -> None:
    """Fill ``drawlist`` with the arena frame, every entity with a Position, and the player.

    The same picture the App draws when children do not draw: quads tinted by
    ``Tint`` where present, the ``Player`` larger and yellow on top.
    """
    drawlist.clear()
    frame = (90, 100, 130, 255)
    for x0, y0, x1, y1 in ((0, 0, ARENA, 0), (ARENA, 0, ARENA, ARENA), (ARENA, ARENA, 0, ARENA), (0, ARENA, 0, 0)):
        drawlist.line(x0, y0, x1, y1, frame, width=0.4, layer=-10)
    comps = world.components
    if "Position" in comps:
        skip = ["Player"] if "Player" in comps else []
        if "Tint" in comps:
            for chunk in world.query("Position", "Tint", without=skip):
                if len(chunk):
                    color = np.array(chunk["Tint"])
                    color[:, 3] = 255
                    drawlist.draw_quads(chunk["Position"], 0.8, color)
        without = [*skip, *(["Tint"] if "Tint" in comps else [])]
        for chunk in world.query("Position", without=without):
            if len(chunk):
                drawlist.draw_quads(chunk["Position"], 0.8, (120, 200, 255, 255))
        if "Player" in comps:
            for chunk in world.query("Position", with_=["Player"]):
                if len(chunk):
                    drawlist.draw_quads(chunk["Position"], 2.5, (255, 210, 40, 255), layer=5)
    drawlist.finish()


def _make_drawlist(world: Any) -> Any:
    from gpi.draw import DrawList

    n = world.entity_count
    return DrawList.allocate(max(4096, 6 * (n + 64)))


def arena_camera(size: tuple[int, int], header: ReplayHeader | None = None) -> Any:
    """A camera that fits the arena in ``size`` pixels."""
    from gpi.runtime.render import Camera

    w, h = size
    center = (ARENA / 2, ARENA / 2)
    if header is not None and header.meta.get("camera_center"):
        cx, cy = header.meta["camera_center"]
        center = (float(cx), float(cy))
    return Camera(center=center, zoom=min(w, h) / (ARENA * 1.08), viewport=(w, h))


CLEAR = (0.08, 0.09, 0.12, 1.0)


def render_ticks(
    replay: Replay,
    sim: Any,
    ticks: Sequence[int],
    *,
    size: tuple[int, int] = (256, 256),
    camera: Any = None,
) -> dict[int, np.ndarray]:
    """Images ``(h, w, 4)`` of the world after each tick, rendered headless in one GL window.

    ``camera`` (a :class:`~gpi.runtime.render.Camera`; its viewport is set to
    ``size``) defaults to one that fits the arena.
    """
    from gpi.runtime.window import Window, configure_platform

    configure_platform()
    from gpi.runtime.render import Camera, Renderer

    w, h = int(size[0]), int(size[1])
    cam = arena_camera((w, h), replay.header) if camera is None else camera
    out: dict[int, np.ndarray] = {}
    with Window(w, h, "gpi replay render", hidden=True, resizable=False) as win, Renderer(win) as ren:
        for t in sorted(set(int(t) for t in ticks)):
            seek(replay, sim, t)
            dl = _make_drawlist(sim.world)
            draw_world(sim.world, dl)
            ren.render([dl], Camera(cam.center, cam.zoom, (w, h)), CLEAR, viewport=(w, h), strict=True)
            out[t] = ren.read_pixels()
    return out


def render(
    replay: Replay,
    sim: Any,
    ticks: Sequence[int],
    out_dir: str | os.PathLike[str],
    *,
    size: tuple[int, int] = (256, 256),
) -> list[Path]:
    """Write ``tick_<T>.png`` for each of ``ticks`` into ``out_dir``; returns the paths."""
    from PIL import Image

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for t, img in render_ticks(replay, sim, ticks, size=size).items():
        p = out / f"tick_{t:06d}.png"
        Image.fromarray(np.ascontiguousarray(img[..., :3])).save(p)
        paths.append(p)
    return paths


# -- windowed playback ------------------------------------------------------------


def play(replay: Replay, sim: Any, args: argparse.Namespace) -> int:
    """Play ``replay`` in a window with the replay panel; returns an exit code.

    Keys: space play/pause, right/left step / step back, home/end first/last
    tick. Click an entity to inspect it. ``args.to`` seeks there first (paused);
    ``args.max_frames`` (tests) stops after that many frames.
    """
    import sdl2

    from gpi.replays import Player
    from gpi.runtime.overlay.replay_panel import ReplayControls, make_replay_overlay, pick_entity
    from gpi.runtime.window import Window, configure_platform

    headless = getattr(args, "headless", None)
    configure_platform(headless)
    from gpi.runtime.render import Renderer

    player = Player(replay, sim)
    controls = ReplayControls(player, rate=replay.header.tick_rate)
    if getattr(args, "to", None) is not None:
        controls.seek(int(args.to))
    else:
        controls.playing = True
    max_frames = getattr(args, "max_frames", None)
    frames = 0
    with Window(1280, 720, f"gpi replay {replay.path}", headless=headless) as win, Renderer(win) as ren:
        overlay = make_replay_overlay(win, controls)
        try:
            last = time.monotonic()
            while not win.should_close and (max_frames is None or frames < max_frames):
                w, h = win.drawable_size
                cam = arena_camera((w, h), replay.header)
                for ev in win.poll_events():
                    if overlay.handle_event(ev):
                        continue
                    if ev.type == sdl2.SDL_KEYDOWN:
                        controls.key(sdl2.SDL_GetKeyName(ev.key.keysym.sym).decode().lower())
                    elif ev.type == sdl2.SDL_MOUSEBUTTONDOWN:
                        sx = ev.button.x * w / max(win.size[0], 1)
                        sy = ev.button.y * h / max(win.size[1], 1)
                        controls.selected = pick_entity(sim.world, cam, (sx, sy))
                now = time.monotonic()
                controls.update(now - last)
                last = now
                dl = _make_drawlist(sim.world)
                draw_world(sim.world, dl)
                ren.render([dl], cam, CLEAR)
                overlay.frame(None)
                win.swap()
                frames += 1
        finally:
            overlay.close()
    return 0
