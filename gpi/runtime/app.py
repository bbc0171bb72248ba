"""The host application: plugins, fixed-step loop, window, renderer, overlay, telemetry.

:class:`App` is what ``gpi run``, ``gpi demo`` and ``gpi profile`` start. It
composes the parts of :mod:`gpi.runtime` around one
:class:`~gpi.plugins.host.PluginHost` and its :class:`~gpi.ecs.World`::

    with App(AppConfig(plugins=["examples/plugins/movement", ...])) as app:
        app.start()                       # load plugins; open the window if rendering
        app.run(ticks=600, screenshots={300: "out/t300.png"})
        report = app.write_profile("out/profile")

One *frame* (windowed, :meth:`App.run_window`):

1. poll SDL events; the overlay takes what lands on it, the rest goes to the
   :class:`~gpi.runtime.input.InputMapper`;
2. :meth:`FixedStepLoop.advance <gpi.runtime.loop.FixedStepLoop.advance>`
   runs the ticks that are due; each tick takes one ``InputState`` snapshot,
   hands it to the recorder (if recording) and runs ``host.tick``;
3. render the host's draw list and every drawing child's draw list (the
   renderer orders them by layer, then list) through the camera, at the
   loop's ``alpha``: shapes drawn with motion appear ``alpha`` of the way
   from their previous tick's position to the current one (render
   interpolation; 1, the exact tick, while paused and for screenshots);
4. draw the overlay; apply its actions (pause, step, time scale through the
   loop; reload, record start/stop, overlay toggle here);
5. save a screenshot if one is due, swap, close the telemetry frame.

Headless (:meth:`App.run_headless`) runs N ticks back to back, one frame per
tick, rendering (offscreen, SDL + EGL) only when ``render`` is on: every
``render_every`` ticks and at screenshot ticks.

Telemetry: the plugin host reports one record per system call (plugin,
system, stage, wave, host wall, child time, IPC, command bytes) but no
timeline positions. All calls of one wave are received before any is
applied, so every call of a wave ends at the same instant ``recv``; the app
recovers it from the first record of the wave (emitted at ``recv`` + its
``apply_ns``) and places each call at ``[recv - host_ns, recv]`` (or at the
record's own ``start_ns`` when the host reports one). A wave runs
from its earliest call start to the emission of its last record. Waves are
numbered across the whole tick (stage by stage), so ``(tick, wave)`` is
unique in the trace. Memory (host and children RSS) is sampled every
``memory_every`` ticks.

Screenshot ticks: ``{T: path}`` saves the frame drawn once ``T`` ticks have
run (``T = 0``: before the first tick), with the overlay when it is on.

Recording: :attr:`App.recorder` is any object with ``record_tick(tick,
input_state, checksum, faults=...)`` and ``close()`` (e.g.
:class:`gpi.replays.writer.Recorder`); :attr:`App.recorder_factory`
(``f(app, path) -> recorder``) makes one for ``--record`` and the overlay's
record button. Without a factory the app uses
``gpi.runtime.replay_sim.make_recorder`` when that exists, else
:func:`default_recorder` (a :class:`~gpi.replays.writer.Recorder` whose header
holds the plugins, schema, seed and a world snapshot at the start tick).

Scene files (:func:`load_scene`) are small TOML documents::

    plugins = ["examples/plugins/movement", "examples/plugins/boids"]  # relative to the file
    seed = 7
    ticks = 600            # optional default for --ticks
    population = 2000      # optional: the 'population' resource
    [camera]
    center = [50.0, 50.0]
    zoom = 6.0             # pixels per world unit (optional: fit the arena)
"""

from __future__ import annotations

import importlib
import inspect
import itertools
import logging
import math
import os
import time
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gpi.ecs import World
from gpi.errors import GpiError
from gpi.plugins.faults import PluginState, replay_fault_kind
from gpi.plugins.host import PluginHost
from gpi.runtime.clock import Clock, monotonic_clock
from gpi.runtime.input import InputMapper, InputState
from gpi.runtime.loop import FixedStepLoop
from gpi.runtime.overlay.model import (
    ControlState,
    OverlayAction,
    OverlayModel,
    PluginStatus,
    apply_loop_actions,
)
from gpi.runtime.telemetry import CallRecord, ProfileReport, Telemetry, write_profile

__all__ = [
    "ARENA",
    "DEFAULT_DRAWLIST_SIZE",
    "DEMO_PLUGINS",
    "App",
    "AppConfig",
    "AppError",
    "SceneConfig",
    "SceneError",
    "default_recorder",
    "demo_plugin_dirs",
    "load_scene",
    "parse_screenshot",
]

_log = logging.getLogger("gpi.runtime")

ARENA = 100.0
"""Side of the square arena the example plugins use (world units); the default camera fits it."""

DEMO_PLUGINS = ("spawner", "movement", "boids", "player")
"""The example plugins ``gpi demo`` runs, from ``examples/plugins``."""

# The example plugins draw boids as 24-segment circles (72 vertices each): a
# 100k-entity frame needs ~86 MiB of draw list, more than the plugin host's
# default region (sparse memfd pages: unused bytes cost nothing).
DEFAULT_DRAWLIST_SIZE = 128 << 20
_HOST_DRAW_VERTICES = 1 << 18


class AppError(GpiError, RuntimeError):
    """The application cannot do what was asked (bad configuration, missing window)."""


class SceneError(AppError, ValueError):
    """A scene file is missing, not TOML, or has a wrong field."""


# -- configuration --------------------------------------------------------------------------


@dataclass
class AppConfig:
    """Everything an :class:`App` needs to start."""

    plugins: Sequence[str | os.PathLike[str]] = ()
    seed: int = 0
    isolation: str = "process"
    """``"process"`` (sandboxed children) or ``"none"`` (in the host, for debugging)."""
    render: bool = True
    """Open a window (or an offscreen one) and draw; False: pure simulation."""
    headless: bool | None = None
    """Offscreen SDL + EGL; None: headless when there is no screen."""
    overlay: bool = True
    overlay_every: int = 4
    """Frames between overlay redraws (the frames between reuse its cached pixels); 1: every frame."""
    width: int = 1024
    height: int = 720
    title: str = "GPI Sandbox"
    tick_rate: float = 60.0
    camera_center: tuple[float, float] = (ARENA / 2, ARENA / 2)
    camera_zoom: float | None = None
    """Pixels per world unit; None fits the arena into the window."""
    population: int | None = None
    """Sets the ``population`` resource (the spawner plugin's target)."""
    max_fps: float = 60.0
    """Real-time mode: most frames drawn per second."""
    min_fps: float = 6.0
    """Real-time mode: fewest frames per second while ticks fall behind."""
    max_catch_up: int | None = None
    """Most ticks per frame before the loop drops time; None: enough for ``min_fps``."""
    memory_every: int = 60
    """Ticks between RSS samples of host and children (0: never)."""
    telemetry_window: int = 600
    sandbox: bool | None = None
    parallel: bool = True
    """Run the systems of a wave in their children at the same time."""
    drawlist_size: int = DEFAULT_DRAWLIST_SIZE
    """Bytes of each drawing plugin's draw-list buffer."""
    timeout: float | None = None
    draw_entities: bool | None = None
    """Host draws every Position entity as a small quad; None: only when no plugin draws."""
    clear_color: tuple[float, float, float, float] = (0.05, 0.07, 0.12, 1.0)


@dataclass
class SceneConfig:
    """A scene file's content (see the module docstring)."""

    plugins: list[Path]
    seed: int = 0
    ticks: int | None = None
    population: int | None = None
    camera_center: tuple[float, float] = (ARENA / 2, ARENA / 2)
    camera_zoom: float | None = None
    path: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def app_config(self, **overrides: Any) -> AppConfig:
        """An :class:`AppConfig` for this scene, with ``overrides`` applied."""
        cfg = AppConfig(plugins=list(self.plugins), seed=self.seed, population=self.population,
                        camera_center=self.camera_center, camera_zoom=self.camera_zoom)
        for k, v in overrides.items():
            setattr(cfg, k, v)
        return cfg


def _pair(value: Any, where: str) -> tuple[float, float]:
    if (not isinstance(value, list | tuple) or len(value) != 2
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)):
        raise SceneError(f"{where} must be a list of two numbers, like [50.0, 50.0]; got {value!r}")
    return (float(value[0]), float(value[1]))


def load_scene(path: str | os.PathLike[str]) -> SceneConfig:
    """Read a scene TOML file; plugin paths are relative to the file's folder."""
    p = Path(path)
    if not p.is_file():
        raise SceneError(f"scene file {str(p)!r} does not exist; pass a .toml file listing plugins")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SceneError(f"scene file {str(p)!r} is not valid TOML: {exc}") from None
    known = {"plugins", "seed", "ticks", "population", "camera"}
    plugins = data.get("plugins")
    if not isinstance(plugins, list) or not plugins or not all(isinstance(x, str) for x in plugins):
        raise SceneError(f"scene file {str(p)!r}: 'plugins' must be a non-empty list of plugin folder paths")
    dirs = [(p.parent / x).resolve() if not Path(x).is_absolute() else Path(x) for x in plugins]
    for d, raw in zip(dirs, plugins, strict=True):
        if not (d / "plugin.toml").is_file():
            raise SceneError(f"scene file {str(p)!r}: plugin folder {raw!r} ({d}) has no plugin.toml")

    def _int(name: str, minimum: int) -> int | None:
        v = data.get(name)
        if v is None:
            return None
        if not isinstance(v, int) or isinstance(v, bool) or v < minimum:
            raise SceneError(f"scene file {str(p)!r}: {name!r} must be an integer >= {minimum}; got {v!r}")
        return v

    seed = _int("seed", 0) or 0
    cam = data.get("camera", {})
    if not isinstance(cam, dict):
        raise SceneError(f"scene file {str(p)!r}: [camera] must be a table with center and zoom")
    center = _pair(cam["center"], f"scene file {str(p)!r}: camera.center") if "center" in cam \
        else (ARENA / 2, ARENA / 2)
    zoom = cam.get("zoom")
    if zoom is not None and (not isinstance(zoom, int | float) or isinstance(zoom, bool) or zoom <= 0):
        raise SceneError(f"scene file {str(p)!r}: camera.zoom must be a positive number (pixels per unit)")
    return SceneConfig(plugins=dirs, seed=seed, ticks=_int("ticks", 1), population=_int("population", 0),
                       camera_center=center, camera_zoom=None if zoom is None else float(zoom), path=p,
                       extra={k: v for k, v in data.items() if k not in known})


def parse_screenshot(spec: str) -> tuple[int, Path]:
    """``"TICK:FILE"`` -> ``(tick, Path(FILE))``; raises ValueError with what is expected."""
    tick_s, sep, file = spec.partition(":")
    if not sep or not file:
        raise ValueError(f"--screenshot {spec!r}: expected TICK:FILE, e.g. 120:out/shot.png")
    try:
        tick = int(tick_s)
    except ValueError:
        raise ValueError(f"--screenshot {spec!r}: TICK must be an integer, got {tick_s!r}") from None
    if tick < 0:
        raise ValueError(f"--screenshot {spec!r}: TICK must be >= 0")
    if not file.lower().endswith(".png"):
        raise ValueError(f"--screenshot {spec!r}: FILE must end in .png")
    return tick, Path(file)


def demo_plugin_dirs(root: str | os.PathLike[str] | None = None, names: Sequence[str] = DEMO_PLUGINS) -> list[Path]:
    """The example plugin folders (``examples/plugins/<name>`` of the source tree)."""
    base = Path(root) if root is not None else Path(__file__).resolve().parents[2] / "examples" / "plugins"
    dirs = [base / n for n in names]
    missing = [str(d) for d in dirs if not (d / "plugin.toml").is_file()]
    if missing:
        raise AppError(f"example plugins not found: {missing}; run from a source checkout of GPI Sandbox")
    return dirs


def default_recorder(app: App, path: str) -> Any:
    """A :class:`gpi.replays.writer.Recorder` for ``app`` from its current tick.

    The header names the plugins (name, version, content hash, folder), the
    world schema, the seed and tick rate, and holds a snapshot of the world
    now, so a re-simulation can start from this tick.
    """
    from gpi.plugins.signing import content_hash
    from gpi.replays import Recorder, ReplayHeader

    plugins = [{"name": lp.name, "version": lp.manifest.version, "content_hash": content_hash(lp.manifest.path),
                "path": os.fspath(lp.manifest.path)} for lp in app.host.plugins.values()]
    header = ReplayHeader(
        seed=int(app.world.seed), tick_rate=float(app.loop.rate), plugins=tuple(plugins),
        schema=tuple(c.to_dict() for c in app.world.components.values()),
        initial_snapshot=app.world.snapshot(), start_tick=int(app.host.tick_count),
        meta={"isolation": app.config.isolation, "population": app.config.population,
              "recorded_by": "gpi.runtime.app"},
    )
    return Recorder(path, header)


# -- telemetry bridge -----------------------------------------------------------------------


class _TelemetryBridge:
    """Turns the plugin host's per-call dicts into CallRecords and WaveRecords (see module doc).

    :meth:`on_record` runs once per system call, so it is kept lean: the
    telemetry's bound methods are looked up once, a record of the wave that is
    already open (the same raw ``tick``/``stage``/``wave`` as the last one) skips
    the wave bookkeeping, and fields the plugin host already gives as ``int``/
    ``str`` are not converted again. The values are those of the plain
    ``int(rec.get(...) or 0)`` reading of every field.
    """

    def __init__(self, telemetry: Telemetry) -> None:
        self.telemetry = telemetry
        self._now_ns = telemetry.now_ns
        self._record_call = telemetry.record_call
        self._wave_key: tuple[int, str, int] | None = None
        self._raw_key: tuple[Any, Any, Any] | None = None  # the open wave's key as the records spell it
        self._wave_index = -1
        self._wave_start = 0
        self._wave_stage = ""
        self._recv = 0
        self._last_emit = 0
        self._tick = -1

    def on_record(self, rec: Mapping[str, Any]) -> None:
        now = self._now_ns()
        get = rec.get
        raw = (rec["tick"], get("stage", ""), get("wave", 0))
        if raw != self._raw_key:
            self._open_wave(raw, now, get("apply_ns"))
        host_ns = get("host_ns")
        if type(host_ns) is not int:
            host_ns = int(host_ns or 0)
        if host_ns < 0:
            host_ns = 0
        start = self._recv - host_ns
        sent = get("start_ns")  # when the host reports its send time (same perf_counter_ns clock)
        if isinstance(sent, int) and 0 < sent <= now - host_ns:
            start = sent
        if start < self._wave_start:
            self._wave_start = start
        self._last_emit = now
        cpu = get("cpu_ns") or get("child_ns") or 0
        ipc = get("ipc_ns") or 0
        nbytes = get("cmd_bytes") or 0
        system, plugin = rec["system"], rec["plugin"]
        self._record_call(CallRecord(
            system if type(system) is str else str(system), plugin if type(plugin) is str else str(plugin),
            self._tick, self._wave_index, host_ns, cpu if type(cpu) is int else int(cpu),
            ipc if type(ipc) is int else int(ipc), nbytes if type(nbytes) is int else int(nbytes), start,
        ))

    def _open_wave(self, raw: tuple[Any, Any, Any], now: int, apply_ns: Any) -> None:
        """A record whose raw key differs from the open wave's: same wave after all, or a new one."""
        key = (int(raw[0]), str(raw[1]), int(raw[2]))
        if key == self._wave_key:
            self._raw_key = raw
            return
        self.flush()
        self._raw_key = raw
        if key[0] != self._tick:
            self._tick, self._wave_index = key[0], -1
        self._wave_key = key
        self._wave_index += 1
        self._wave_stage = key[1]
        # every call of the wave was received at the same instant, before any apply
        self._recv = now - int(apply_ns or 0)
        self._wave_start = self._recv

    def flush(self) -> None:
        """Close the open wave (call at the end of every tick)."""
        if self._wave_key is None:
            return
        self.telemetry.record_wave(self._wave_key[0], self._wave_index, self._wave_start,
                                   max(self._last_emit - self._wave_start, 0), self._wave_stage)
        self._wave_key = None
        self._raw_key = None


# -- the app --------------------------------------------------------------------------------


class App:
    """The host application (see the module docstring)."""

    _closed = True
    window: Any = None
    renderer: Any = None
    overlay: Any = None

    def __init__(self, config: AppConfig, *, clock: Clock = monotonic_clock,
                 world: World | None = None) -> None:
        if config.isolation not in ("process", "none"):
            raise AppError(f"isolation must be 'process' or 'none', got {config.isolation!r}")
        if config.width < 64 or config.height < 64:
            raise AppError(f"window size {config.width}x{config.height} is too small (at least 64x64)")
        if not config.tick_rate > 0 or not config.min_fps > 0:
            raise AppError(f"tick_rate ({config.tick_rate}) and min_fps ({config.min_fps}) must be positive")
        self.config = config
        self._owns_world = world is None
        self.world = World(seed=config.seed) if world is None else world
        self.telemetry = Telemetry(window=config.telemetry_window)
        self._bridge = _TelemetryBridge(self.telemetry)
        kwargs: dict[str, Any] = {"isolation": config.isolation, "dt": 1.0 / config.tick_rate,
                                  "sandbox": config.sandbox, "parallel": config.parallel,
                                  "on_call_record": self._bridge.on_record}
        if "drawlist_size" in inspect.signature(PluginHost).parameters:
            kwargs["drawlist_size"] = max(config.drawlist_size, 0)
        if config.timeout is not None:
            kwargs["timeout"] = config.timeout
        try:
            self.host = PluginHost(self.world, **kwargs)
        except BaseException:
            if self._owns_world:
                self.world.close()
            raise
        self._closed = False
        self.mapper = InputMapper((config.width, config.height))
        self._clock = clock
        # catch up through the slowest frames real-time mode allows (min_fps) before dropping time
        catch_up = config.max_catch_up or int(math.ceil(config.tick_rate / max(config.min_fps, 0.1))) + 2
        self.loop = FixedStepLoop(self._on_tick, rate=config.tick_rate, clock=clock, max_catch_up=catch_up)
        self.input_source: Callable[[int], InputState | Mapping[str, Any]] | None = None
        """Scripted input: ``f(tick)`` replaces the window's input for every tick (headless demos)."""
        self.recorder: Any = None
        """The active recorder (``record_tick(...)``, ``close()``) or None."""
        self.recorder_factory: Callable[[App, str], Any] | None = None
        """Makes a recorder for a path (``--record``, the overlay's record button)."""
        self.record_path = ""
        self.logs: list[str] = []
        """Messages of the app itself (reload, recording, screenshots)."""
        self.screenshots_taken: list[Path] = []
        self.last_frame_stats: Any = None
        self.last_input = InputState()
        self.host_drawlist: Any = None
        self._faults_seen = 0
        self._started = False
        self._frame_ticks = 0
        self._overlay_fbo: tuple[int, int, int, int] | None = None  # (fbo, renderbuffer, w, h)
        self._overlay_age = 1 << 30
        self._overlay_rect = (0, 0, 0, 0)

    # -- lifetime ---------------------------------------------------------------------------

    def start(self) -> list[str]:
        """Load the plugins (children start here) and open the window when rendering."""
        if self._started:
            return list(self.host.plugins)
        names = self.host.load(*self.config.plugins) if self.config.plugins else []
        if self.config.population is not None:
            self.world.insert_resource("population", int(self.config.population))
        if self.config.render:
            self._open_window()
        self._started = True
        return names

    def _open_window(self) -> None:
        from gpi.draw import DrawList
        from gpi.runtime.window import Window, configure_platform

        configure_platform(self.config.headless)
        from gpi.runtime.render import Renderer

        try:
            self.window = Window(self.config.width, self.config.height, self.config.title,
                                 headless=self.config.headless)
            self.renderer = Renderer(self.window)
            if self.config.overlay:
                from gpi.runtime.overlay import Overlay

                self.overlay = Overlay(self.window, width=self._overlay_width())
        except Exception:
            self._close_window()
            raise
        self.mapper = InputMapper(self.window.size)
        # with a motion stream from the start: entities with a Velocity interpolate between ticks
        self.host_drawlist = DrawList.allocate(_HOST_DRAW_VERTICES, motion=True)

    def _close_window(self) -> None:
        self._free_overlay_fbo()
        for name in ("overlay", "renderer", "window"):
            obj = getattr(self, name, None)
            if obj is not None:
                try:
                    obj.close()
                except Exception:
                    pass
                setattr(self, name, None)

    def close(self) -> None:
        """Stop recording, close the overlay, renderer, window, children and world. Safe twice."""
        if self._closed:
            return
        self._closed = True
        try:
            self.stop_recording()
        finally:
            try:
                self._close_window()
            finally:
                try:
                    self.host.close()
                finally:
                    if self._owns_world:
                        self.world.close()

    def __enter__(self) -> App:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = "no render" if not self.config.render else ("headless" if self.headless else "window")
        return (f"<App {mode} plugins={list(self.host.plugins)} tick={self.loop.tick} "
                f"overlay={'on' if self.overlay is not None else 'off'}>")

    # -- state ------------------------------------------------------------------------------

    @property
    def tick(self) -> int:
        """Ticks run so far."""
        return self.loop.tick

    @property
    def headless(self) -> bool:
        """Whether the window is offscreen (True also when not rendering at all)."""
        return self.window is None or bool(self.window.headless)

    def _log(self, text: str, level: int = logging.INFO) -> None:
        self.logs.append(text)
        _log.log(level, "%s", text)

    def child_pids(self) -> dict[str, int]:
        """``{plugin: pid}`` of every plugin running in its own process."""
        me = os.getpid()
        return {n: int(lp.pid) for n, lp in self.host.plugins.items() if lp.pid and lp.pid != me}

    def _overlay_width(self) -> float:
        return float(min(680, max(320, self.config.width // 2)))

    def camera(self) -> Any:
        """The camera for the current window size; the arena sits beside the overlay when it shows."""
        from gpi.runtime.render import Camera

        w, h = self.window.drawable_size if self.window is not None else (self.config.width, self.config.height)
        left = 0.0
        if self.overlay is not None and self.overlay.visible and self.window is not None:
            scale = w / max(self.window.size[0], 1)  # overlay width is in screen units
            left = min((self._overlay_width() + 20) * scale, w * 0.6)
        zoom = self.config.camera_zoom or min(w - left, h) / (ARENA * 1.08)
        cx, cy = self.config.camera_center
        return Camera(center=(cx - left / 2 / zoom, cy), zoom=zoom, viewport=(w, h))

    def archetype_counts(self) -> dict[str, int]:
        """Entities per archetype, labelled by component names."""
        return {",".join(t.names) or "(empty)": int(t.rows) for t in self.world.tables if t.rows}

    def plugin_statuses(self) -> list[PluginStatus]:
        """Rows for the overlay's plugin table."""
        rss = self.telemetry.memory[-1].rss if self.telemetry.memory else {}
        out = []
        for name, lp in self.host.plugins.items():
            state = str(lp.status)
            layers = {}
            sb = lp.sandbox or {}
            for lname, ls in (sb.get("layers") or {}).items():
                layers[str(lname)] = bool(ls.get("active")) if isinstance(ls, Mapping) else bool(ls)
            recent = itertools.islice(reversed(self.host.faults), 256)
            last = next((f.get("error", "") for f in recent if f.get("plugin") == name), "")
            out.append(PluginStatus(name, state, restarts=lp.restarts, pid=lp.pid, rss_bytes=rss.get(name),
                                    sandbox_layers=layers, systems=len(lp.systems), last_error=str(last)[:200]))
        return out

    def overlay_model(self) -> OverlayModel:
        """What the overlay draws this frame."""
        return OverlayModel(
            telemetry=self.telemetry, plugins=self.plugin_statuses(), archetypes=self.archetype_counts(),
            controls=ControlState(paused=self.loop.paused, time_scale=self.loop.time_scale,
                                  recording=self.recorder is not None, tick=self.loop.tick,
                                  tick_rate=self.loop.rate, record_path=self.record_path),
        )

    # -- ticks ------------------------------------------------------------------------------

    def _on_tick(self, tick: int, dt: float) -> None:
        # the pointer in world units too (axes mouse_world_x/y, gpi.plugins.input), when a window shows it
        state = self.mapper.snapshot(self.camera().screen_to_world if self.window is not None else None)
        if self.input_source is not None:
            scripted = self.input_source(tick)
            state = scripted if isinstance(scripted, InputState) else InputState.from_dict(scripted)
        self.last_input = state
        world_tick = int(self.host.tick_count)  # differs from the loop's after a snapshot load
        self.host.tick(state.to_dict())
        self._bridge.flush()
        self._frame_ticks += 1
        if self.recorder is not None:
            self._record(world_tick, state)
        every = self.config.memory_every
        if every and tick % every == 0:
            self.telemetry.sample_memory(tick, self.child_pids())

    def _record(self, tick: int, state: InputState) -> None:
        faults = self.host.events.faults_since(self._faults_seen)
        self._faults_seen = self.host.events.fault_count
        mapped = [{"kind": replay_fault_kind(str(f.get("kind"))), "plugin": f.get("plugin", ""),
                   "system": f.get("system", ""), "error": str(f.get("error", ""))[:500]} for f in faults]
        rec = self.recorder
        try:
            keyframe = None
            due = getattr(rec, "keyframe_due", None)
            if due is not None and due(tick):
                keyframe = self.world.snapshot()
            rec.record_tick(tick, state, self.world.checksum(), faults=mapped, keyframe=keyframe)
        except TypeError:  # a simpler recorder: record_tick(tick, input_state, checksum)
            rec.record_tick(tick, state, self.world.checksum())
        except Exception as exc:
            self._log(f"recording stopped at tick {tick}: {type(exc).__name__}: {exc}", logging.ERROR)
            self.stop_recording()

    def start_recording(self, path: str | os.PathLike[str]) -> bool:
        """Start recording to ``path`` through :attr:`recorder_factory`; False (logged) if unavailable."""
        if self.recorder is not None:
            return True
        factory = self.recorder_factory
        if factory is None:
            try:
                factory = importlib.import_module("gpi.runtime.replay_sim").make_recorder
            except ModuleNotFoundError as exc:
                if exc.name != "gpi.runtime.replay_sim":
                    raise
                factory = default_recorder
        try:
            self.recorder = factory(self, os.fspath(path))
        except Exception as exc:
            self._log(f"cannot start recording to {os.fspath(path)!r}: {type(exc).__name__}: {exc}", logging.ERROR)
            return False
        self.record_path = os.fspath(path)
        self._faults_seen = self.host.events.fault_count
        self._log(f"recording to {self.record_path} from tick {self.loop.tick}")
        return True

    def stop_recording(self) -> None:
        """Close the recorder, if any."""
        rec, self.recorder = self.recorder, None
        if rec is not None:
            try:
                rec.close()
            finally:
                self._log(f"recording stopped at tick {self.loop.tick}: {self.record_path}")

    def reload_plugin(self, name: str) -> bool:
        """Reload a plugin through the host (``PluginHost.reload``); False (logged) if unsupported."""
        reload = getattr(self.host, "reload", None)
        if reload is None:
            self._log(f"reload of plugin {name!r} is not supported by this plugin host "
                      "(no PluginHost.reload); restart the app to pick up changes", logging.WARNING)
            return False
        try:
            ok = reload(name)
        except Exception as exc:
            self._log(f"reload of plugin {name!r} failed: {type(exc).__name__}: {exc}", logging.ERROR)
            return False
        if ok is False:
            self._log(f"reload of plugin {name!r} failed; the old code keeps running (see the plugin log)",
                      logging.ERROR)
            return False
        self._log(f"plugin {name!r} reloaded at tick {self.loop.tick}")
        return True

    def handle_actions(self, actions: Sequence[OverlayAction]) -> None:
        """Apply overlay actions: loop controls, reload, recording, overlay toggle."""
        for action in apply_loop_actions(actions, self.loop):
            if action.kind == "reload" and action.plugin:
                self.reload_plugin(action.plugin)
            elif action.kind == "record_start":
                self.start_recording(self.record_path or f"gpi-{time.strftime('%Y%m%d-%H%M%S')}.gpir")
            elif action.kind == "record_stop":
                self.stop_recording()
            elif action.kind == "toggle_overlay":  # the overlay already toggled itself
                self._overlay_age = 1 << 30

    # -- drawing ----------------------------------------------------------------------------

    def drawlists(self) -> list[Any]:
        """The host's list, then each drawing child's list in schedule order."""
        out: list[Any] = [self.host_drawlist] if self.host_drawlist is not None else []
        for name, lp in self.host.plugins.items():
            if "draw" in lp.granted and lp.status == PluginState.RUNNING:
                seg = self.host.drawlist(name)
                if seg is not None:
                    out.append(seg)
        return out

    def _children_draw(self) -> bool:
        return any(self.host.drawlist(name) is not None for name in self.host.plugins)

    def _fill_host_drawlist(self) -> None:
        dl = self.host_drawlist
        dl.clear()
        frame = (90, 100, 130, 255)
        for x0, y0, x1, y1 in ((0, 0, ARENA, 0), (ARENA, 0, ARENA, ARENA), (ARENA, ARENA, 0, ARENA),
                               (0, ARENA, 0, 0)):
            dl.line(x0, y0, x1, y1, frame, width=0.4, layer=-10)
        comps = self.world.components
        draw_all = self.config.draw_entities
        if draw_all is None:
            draw_all = not self._children_draw()
        if draw_all and "Position" in comps:
            budget = _HOST_DRAW_VERTICES // 6 - 64
            skip = ["Player"] if "Player" in comps else []
            tinted = "Tint" in comps
            queries = [(self.world.query("Position", "Tint", without=skip), True)] if tinted else []
            queries.append((self.world.query("Position", without=[*skip, *(["Tint"] if tinted else [])]), False))
            for chunks, has_tint in queries:
                for chunk in chunks:
                    n = min(len(chunk), budget)
                    if n <= 0:
                        continue
                    color: Any = (120, 200, 255, 255)
                    if has_tint:
                        color = np.array(chunk["Tint"][:n])
                        color[:, 3] = 255
                    motion = None  # this tick's displacement, as movement integrates it
                    if "Velocity" in chunk.components:
                        motion = chunk["Velocity"][:n] * np.float32(self.loop.dt)
                    dl.draw_quads(chunk["Position"][:n], 0.8, color, motion=motion)
                    budget -= n
        if "Player" in comps:
            for chunk in self.world.query("Position", with_=["Player"]):
                dl.draw_quads(chunk["Position"], 2.5, (255, 210, 40, 255), layer=5)
        dl.finish()

    def render_frame(self, *, fresh_overlay: bool = False, alpha: float = 1.0) -> list[OverlayAction]:
        """Draw the scene and the overlay into the back buffer (no swap); returns overlay actions.

        ``fresh_overlay`` redraws the overlay now instead of reusing its cached
        pixels (screenshots show the numbers of their own tick). ``alpha`` is
        the loop's interpolation factor (1: the current tick exactly, as
        headless runs and screenshots draw it).
        """
        if self.renderer is None:
            raise AppError("render_frame() needs a window: start an App with render=True")
        if fresh_overlay:
            self._overlay_age = 1 << 30
        self._fill_host_drawlist()
        self.last_frame_stats = self.renderer.render(self.drawlists(), self.camera(), clear=self.config.clear_color,
                                                     alpha=alpha)
        return self._draw_overlay()

    def _draw_overlay(self) -> list[OverlayAction]:
        """Draw the overlay, redrawing it into an offscreen buffer every ``overlay_every`` frames.

        ImGui's pixels change slowly (its table refreshes four times a second) but
        rasterising them costs a software renderer (llvmpipe) tens of milliseconds,
        so in between the cached pixels of the overlay's window are copied with one
        framebuffer blit (the rectangle follows the window if it is dragged).
        """
        ov = self.overlay
        if ov is None:
            return []
        if not ov.visible or self.config.overlay_every <= 1:
            return list(ov.frame(self.overlay_model()))
        from OpenGL import GL

        w, h = self.window.drawable_size
        if self._overlay_fbo is None or self._overlay_fbo[2:] != (w, h):
            self._free_overlay_fbo()
            fbo = int(GL.glGenFramebuffers(1))
            rb = int(GL.glGenRenderbuffers(1))
            GL.glBindRenderbuffer(GL.GL_RENDERBUFFER, rb)
            GL.glRenderbufferStorage(GL.GL_RENDERBUFFER, GL.GL_RGBA8, w, h)
            GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, fbo)
            GL.glFramebufferRenderbuffer(GL.GL_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0, GL.GL_RENDERBUFFER, rb)
            GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, 0)
            self._overlay_fbo = (fbo, rb, w, h)
            self._overlay_age = 1 << 30
        fbo = self._overlay_fbo[0]
        actions: list[OverlayAction] = []
        if self._overlay_age >= self.config.overlay_every:
            GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, fbo)
            GL.glViewport(0, 0, w, h)
            GL.glClearColor(*self.config.clear_color)
            GL.glClear(GL.GL_COLOR_BUFFER_BIT)
            try:
                actions = list(ov.frame(self.overlay_model()))
                self._overlay_rect = self._imgui_window_rect(w, h)
            finally:
                GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, 0)
            self._overlay_age = 0
        self._overlay_age += 1
        x0, y0, x1, y1 = self._overlay_rect
        GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, fbo)
        GL.glBindFramebuffer(GL.GL_DRAW_FRAMEBUFFER, 0)
        GL.glBlitFramebuffer(x0, y0, x1, y1, x0, y0, x1, y1, GL.GL_COLOR_BUFFER_BIT, GL.GL_NEAREST)
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, 0)
        return actions

    def _imgui_window_rect(self, w: int, h: int) -> tuple[int, int, int, int]:
        """Where the overlay's ImGui window is, in framebuffer pixels (GL origin bottom-left).

        Found by its title, so the cached copy follows the window when the user
        drags or resizes it; if ImGui cannot say, the left column.
        """
        scale = w / max(self.window.size[0], 1)
        try:
            from imgui_bundle import imgui

            from gpi.runtime.overlay.overlay import WINDOW_TITLE

            win = imgui.internal.find_window_by_name(WINDOW_TITLE)
            px, py, sx, sy = win.pos.x, win.pos.y, win.size.x, win.size.y
        except Exception:
            return 0, 0, min(int((self._overlay_width() + 20) * scale), w), h
        pad = 2.0  # borders and anti-aliased edges
        x0 = max(int((px - pad) * scale), 0)
        x1 = min(int((px + sx + pad) * scale) + 1, w)
        top = max(int((py - pad) * scale), 0)
        bottom = min(int((py + sy + pad) * scale) + 1, h)
        if x1 <= x0 or bottom <= top:
            return 0, 0, 0, 0
        return x0, h - bottom, x1, h - top

    def _free_overlay_fbo(self) -> None:
        if self._overlay_fbo is None:
            return
        fbo, rb, _, _ = self._overlay_fbo
        self._overlay_fbo = None
        try:
            from OpenGL import GL

            GL.glDeleteFramebuffers(1, [fbo])
            GL.glDeleteRenderbuffers(1, [rb])
        except Exception:
            pass

    def save_screenshot(self, path: str | os.PathLike[str]) -> Path:
        """Save the current back buffer (scene + overlay) as a PNG."""
        if self.renderer is None:
            raise AppError(f"cannot save screenshot {os.fspath(path)!r}: the app is not rendering")
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        out = Path(self.renderer.save_png(p))
        self.screenshots_taken.append(out)
        self._log(f"screenshot at tick {self.loop.tick}: {out}")
        return out

    def _poll(self) -> None:
        if self.window is None:
            return
        consume = self.overlay.handle_event if self.overlay is not None else None
        self.mapper.feed(self.window.poll_events(), consume=consume)
        if self.window.should_close:
            self.mapper.quit_requested = True

    # -- running ----------------------------------------------------------------------------

    def run_headless(self, ticks: int, *, render_every: int = 1,
                     screenshots: Mapping[int, str | os.PathLike[str]] | None = None,
                     progress: Callable[[int], None] | None = None) -> int:
        """Run ``ticks`` ticks back to back, one telemetry frame per tick; returns ticks run.

        With a window, frames are drawn every ``render_every`` ticks (0: only at
        screenshot ticks), each with the overlay when it is on.
        """
        if ticks < 0:
            raise AppError(f"ticks must be >= 0, got {ticks}")
        self.start()
        shots = self._check_shots(screenshots, self.loop.tick + ticks)
        self._shoot_due(shots, render_first=True)
        for i in range(ticks):
            self.telemetry.begin_frame(self.loop.tick)
            self._poll()
            self._frame_ticks = 0
            self.loop.run_ticks(1)
            due = self.renderer is not None and (
                (render_every > 0 and (i + 1) % render_every == 0) or self.loop.tick in shots)
            if due:
                self.handle_actions(self.render_frame(fresh_overlay=self.loop.tick in shots))
                self._shoot_due(shots, render_first=False)
                self.window.swap()
            self.telemetry.end_frame(ticks=self._frame_ticks)
            if progress is not None:
                progress(i + 1)
            if self.mapper.quit_requested:
                return i + 1
        return ticks

    def run_window(self, ticks: int | None = None, *,
                   screenshots: Mapping[int, str | os.PathLike[str]] | None = None,
                   progress: Callable[[int], None] | None = None,
                   max_frames: int | None = None) -> int:
        """Real-time loop at the tick rate until the window closes or ``ticks`` ticks ran.

        Ticks come first: frames are drawn at most ``max_fps`` times a second,
        and less often (down to ``min_fps``) while ticks fall behind, so a slow
        renderer (llvmpipe) costs frame rate, not tick rate. The last few ticks
        before the end or a screenshot tick run one per frame, so the run stops
        (and the screenshot is taken) exactly there.
        """
        self.start()
        if self.window is None:
            raise AppError("run_window() needs a window: start an App with render=True")
        loop, clock = self.loop, self._clock
        start_tick = loop.tick
        end = None if ticks is None else start_tick + ticks
        shots = self._check_shots(screenshots, end)
        fastest = 1.0 / max(self.config.max_fps, 1.0)
        slowest = 1.0 / max(min(self.config.min_fps, self.config.max_fps), 0.1)
        interval = min(2 * fastest, slowest)
        last_render = -1e30
        last_step = clock()
        bank = 0.0
        auto_paused = False
        frames = 0
        loop.reset_clock()
        while not self.mapper.quit_requested and (end is None or loop.tick < end):
            if max_frames is not None and frames >= max_frames:
                break
            t0 = self.telemetry.now_ns()
            tick0 = loop.tick
            self._poll()
            self._frame_ticks = 0
            stops = [t for t in (end, *shots) if t is not None and t > loop.tick]
            precise = bool(stops) and min(stops) - loop.tick <= loop.max_catch_up
            if precise and not loop.paused:
                loop.pause()
                auto_paused = True
            elif not precise and auto_paused:
                auto_paused = False
                loop.resume()
            now = clock()
            if auto_paused:  # step at the tick rate, never past the stop
                bank += max(now - last_step, 0.0) * loop.time_scale
                steps = min(int((bank + 1e-9) / loop.dt), min(stops) - loop.tick, loop.max_catch_up)
                if steps > 0 and loop.pending_steps == 0:
                    loop.step(steps)
                    bank -= steps * loop.dt
                bank = min(bank, loop.dt * loop.max_catch_up)
            last_step = now
            result = loop.advance()
            if not auto_paused:
                bank = loop.accumulator
            if result.ticks > 1 or result.dropped > 0:
                interval = min(interval * 1.25, slowest)
            elif result.ticks == 1:
                interval = max(interval * 0.97, fastest)
            shot_due = any(t <= loop.tick for t in shots)
            rendered = shot_due or now - last_render >= interval or loop.paused and not auto_paused \
                and now - last_render >= fastest
            if rendered:
                # between ticks, draw moving shapes alpha of the way from the last tick to this
                # one; exact ticks while paused, single-stepping to a stop, or for a screenshot
                alpha = 1.0 if shot_due or loop.paused else result.alpha
                self.handle_actions(self.render_frame(fresh_overlay=shot_due, alpha=alpha))
                self._shoot_due(shots, render_first=False)
                self.window.swap()
                last_render = now
            if result.ticks or rendered:
                self.telemetry.record_frame(tick0, t0, self.telemetry.now_ns() - t0, ticks=result.ticks)
                frames += 1
            if progress is not None and result.ticks:
                progress(loop.tick - start_tick)
            wait = loop.time_until_next_tick() if not auto_paused else \
                max(loop.dt - bank, 0.0) / max(loop.time_scale, 1e-3)
            wait = min(wait, last_render + interval - clock(), 0.01)
            if wait > 0.0005:
                time.sleep(wait)
        if auto_paused:
            loop.resume()
        if any(t <= loop.tick for t in shots):  # asked for the last tick: draw it now
            self.handle_actions(self.render_frame(fresh_overlay=True))
            self._shoot_due(shots, render_first=False)
            self.window.swap()
        return loop.tick - start_tick

    def run(self, ticks: int | None = None, *, realtime: bool | None = None,
            screenshots: Mapping[int, str | os.PathLike[str]] | None = None,
            progress: Callable[[int], None] | None = None) -> int:
        """Windowed real time when there is a screen, else headless as fast as it goes."""
        self.start()
        if realtime is None:
            realtime = self.window is not None and not self.window.headless
        if realtime:
            return self.run_window(ticks, screenshots=screenshots, progress=progress)
        if ticks is None:
            raise AppError("a headless run needs a number of ticks (--ticks N)")
        return self.run_headless(ticks, screenshots=screenshots, progress=progress)

    def _check_shots(self, screenshots: Mapping[int, str | os.PathLike[str]] | None,
                     end: int | None) -> dict[int, Path]:
        shots = {int(t): Path(p) for t, p in (screenshots or {}).items()}
        if shots and self.renderer is None:
            raise AppError("screenshots need rendering: start the App with render=True")
        late = sorted(t for t in shots if end is not None and t > end)
        if late:
            raise AppError(f"screenshot ticks {late} lie after the last tick ({end}); use --ticks >= {late[-1]}")
        early = sorted(t for t in shots if t < self.loop.tick)
        if early:
            raise AppError(f"screenshot ticks {early} lie before the current tick {self.loop.tick}")
        return shots

    def _shoot_due(self, shots: dict[int, Path], *, render_first: bool) -> None:
        due = sorted(t for t in shots if t <= self.loop.tick)
        if not due:
            return
        if render_first:
            self.handle_actions(self.render_frame(fresh_overlay=True))
        for t in due:
            self.save_screenshot(shots.pop(t))
        if render_first:
            self.window.swap()

    # -- results ----------------------------------------------------------------------------

    def write_profile(self, out_dir: str | os.PathLike[str]) -> ProfileReport:
        """Trace JSON, frame-time PNG and tables under ``out_dir`` (see :func:`write_profile`)."""
        meta = {"plugins": list(self.host.plugins), "isolation": self.config.isolation,
                "ticks": self.loop.tick, "entities": int(self.world.entity_count)}
        return write_profile(self.telemetry, out_dir, budget_ms=1000.0 / self.loop.rate, metadata=meta)
