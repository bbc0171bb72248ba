"""The host application: plugins, fixed-step loop, window, renderer, overlay, telemetry.

:class:`App` is what ``gpi run``, ``gpi demo`` and ``gpi profile`` start. It
composes the parts of :mod:`gpi.runtime` around one
:class:`~gpi.plugins.host.PluginHost` and its :class:`~gpi.ecs.World`::

    with App(AppConfig(plugins=["examples/plugins/movement", ...])) as app:
        app.start()                       # load plugins; open the window if rendering
        app.run(ticks=600, screenshots={300: "out/t300.png"})
        report = app.write_profile("out/profile")

One *frame* (windowed, :meth:`App.run_window`, paced by
:class:`~gpi.runtime.pacing.FramePacer`):

1. poll SDL events; the overlay takes what lands on it, the rest goes to the
   :class:`~gpi.runtime.input.InputMapper`;
2. the loop runs the ticks that are due; each tick takes one ``InputState``
   snapshot, runs ``host.tick`` and hands the tick to the recorder (if
   recording);
3. render the host's scene (:mod:`gpi.runtime.scene`) and every drawing
   child's draw list through the camera, at the loop's ``alpha`` (render
   interpolation; 1, the exact tick, while paused and for screenshots);
4. draw the overlay (through :class:`~gpi.runtime.framecache.OverlayCache`);
   apply its actions (pause, step, time scale through the loop; reload,
   record start/stop, overlay toggle here);
5. save a screenshot if one is due, swap, close the telemetry frame.

Headless (:meth:`App.run_headless`) runs N ticks back to back, one frame per
tick, rendering (offscreen, SDL + EGL) only when ``render`` is on: every
``render_every`` ticks and at screenshot ticks.

Telemetry: the host's per-call records go through a
:class:`~gpi.runtime.telemetry.bridge.TelemetryBridge` into a
:class:`~gpi.runtime.telemetry.Telemetry` whose windows are bounded, so a
run of any length holds the same amount; with ``AppConfig.trace_path`` every
record is also streamed to a Chrome trace file as it comes. Memory (host and
children RSS) is sampled every ``memory_every`` ticks.

Screenshot ticks: ``{T: path}`` saves the frame drawn once ``T`` ticks have
run (``T = 0``: before the first tick), with the overlay when it is on.

Recording: :attr:`App.recorder` is a :class:`TickRecorder` (``after_tick``,
``close``); :attr:`App.recorder_factory` (``f(app, path) -> recorder``,
default :func:`gpi.runtime.replay.recording.make_recorder`) makes one for
``--record`` and the overlay's record button.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from gpi.ecs import World
from gpi.plugins.faults import PluginState
from gpi.plugins.host import PluginHost
from gpi.runtime.clock import Clock, monotonic_clock
from gpi.runtime.config import AppConfig
from gpi.runtime.errors import AppError
from gpi.runtime.framecache import OverlayCache
from gpi.runtime.input import InputMapper, InputState
from gpi.runtime.loop import FixedStepLoop
from gpi.runtime.overlay.model import (
    ControlState,
    OverlayAction,
    OverlayModel,
    PluginStatus,
    apply_loop_actions,
)
from gpi.runtime.pacing import FramePacer
from gpi.runtime.render.camera import Camera
from gpi.runtime.replay.recording import make_recorder
from gpi.runtime.scene import arena_camera, draw_scene, scene_drawlist
from gpi.runtime.telemetry import ProfileReport, Telemetry, TelemetryBridge, write_profile
from gpi.safetext import neutralise

__all__ = ["App", "AppConfig", "AppError", "TickRecorder"]

_log = logging.getLogger("gpi.runtime")
_LOG_LINES = 1000  # the app's own messages kept for the overlay and tests (the log has them all)


class TickRecorder(Protocol):
    """What the app records through: told after every tick, closed at the end."""

    def after_tick(self, input_state: InputState) -> None:
        """Record the tick the host just ran, with the input it ran on."""

    def close(self, stopped: str | None = None) -> None:
        """Finish the recording; ``stopped`` says why it ends before the run (kept in the file)."""


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
        timeout: dict[str, Any] = {} if config.timeout is None else {"timeout": config.timeout}
        telemetry: Telemetry | None = None
        try:
            self.telemetry = telemetry = Telemetry(window=config.telemetry_window,
                                                   history=config.telemetry_history, trace_path=config.trace_path)
            self._bridge = TelemetryBridge(telemetry)
            self.host = PluginHost(self.world, isolation=config.isolation, dt=1.0 / config.tick_rate,
                                   sandbox=config.sandbox, parallel=config.parallel,
                                   on_call_record=self._bridge.on_record,
                                   drawlist_size=max(config.drawlist_size, 0),
                                   record_limit=max(config.host_records, 1),
                                   **timeout)
        except BaseException:
            if telemetry is not None and telemetry.trace is not None:
                telemetry.trace.abort()  # no half trace file left behind
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
        self.recorder: TickRecorder | None = None
        """The active recorder or None."""
        self.recorder_factory: Callable[[App, str], TickRecorder] = make_recorder
        """Makes a recorder for a path (``--record``, the overlay's record button)."""
        self.record_path = ""
        self.logs: list[str] = []
        """Messages of the app itself (reload, recording, screenshots)."""
        self.screenshots_taken: list[Path] = []
        self.last_frame_stats: Any = None
        self.last_input = InputState()
        self.host_drawlist: Any = None
        self._started = False
        self._frame_ticks = 0
        self.overlay_cache = OverlayCache(config.overlay_every, config.clear_color)
        """The overlay's framebuffer cache (redrawn every ``overlay_every`` frames)."""

    # -- lifetime ---------------------------------------------------------------------------

    def start(self) -> list[str]:
        """Load the plugins (children start here) and open the window when rendering."""
        if self._started:
            return list(self.host.plugins)
        names = self.host.load(*self.config.plugins, available=self.config.available) if self.config.plugins else []
        if self.config.population is not None:
            self.world.insert_resource("population", int(self.config.population))
        if self.config.render:
            self._open_window()
        self._started = True
        return names

    def _open_window(self) -> None:
        from gpi.runtime.window import Window, configure_platform

        configure_platform(self.config.headless)
        from gpi.runtime.render import Renderer

        try:
            self.window = Window(self.config.width, self.config.height, self.config.title,
                                 headless=self.config.headless)
            self.renderer = Renderer(self.window)
            if self.config.overlay:
                from gpi.runtime.overlay import Overlay

                self.overlay = Overlay(self.window, width=self.overlay_width())
        except Exception:
            self._close_window()
            raise
        self.mapper = InputMapper(self.window.size)
        self.host_drawlist = scene_drawlist()

    def _close_window(self) -> None:
        self.overlay_cache.close()
        for name in ("overlay", "renderer", "window"):
            obj = getattr(self, name)
            if obj is not None:
                try:
                    obj.close()
                except Exception as exc:  # closing the rest matters more; say what failed
                    _log.warning("closing the %s failed: %s: %s", name, type(exc).__name__, exc)
                setattr(self, name, None)

    def close(self) -> None:
        """Stop recording, close the overlay, renderer, window, children, trace and world. Safe twice."""
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
                    try:
                        self.telemetry.close()
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
        del self.logs[:-_LOG_LINES]
        _log.log(level, "%s", text)

    def child_pids(self) -> dict[str, int]:
        """``{plugin: pid}`` of every plugin running in its own process."""
        me = os.getpid()
        return {n: int(lp.pid) for n, lp in self.host.plugins.items() if lp.pid and lp.pid != me}

    def overlay_width(self) -> float:
        """Width of the overlay's window in screen units (half the window, 320 to 680)."""
        return float(min(680, max(320, self.config.width // 2)))

    def camera(self) -> Camera:
        """The camera for the current window size; the arena sits beside the overlay when it shows."""
        w, h = self.window.drawable_size if self.window is not None else (self.config.width, self.config.height)
        left = 0.0
        if self.overlay is not None and self.overlay.visible and self.window is not None:
            scale = w / max(self.window.size[0], 1)  # overlay width is in screen units
            left = min((self.overlay_width() + 20) * scale, w * 0.6)
        return arena_camera((w, h), center=self.config.camera_center, zoom=self.config.camera_zoom, left=left)

    def retained(self) -> dict[str, int]:
        """How many records the app, its telemetry and its host hold now (flat once warm; counts, not bytes)."""
        out = {f"telemetry.{k}": v for k, v in self.telemetry.retained().items()}
        out["app.logs"] = len(self.logs)
        out["host.records"] = len(self.host.records)
        return out

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
        self.host.tick(state.to_dict())
        self._bridge.flush()
        self._frame_ticks += 1
        if self.recorder is not None:
            self._record(state)
        every = self.config.memory_every
        if every and tick % every == 0:
            self.telemetry.sample_memory(tick, self.child_pids())

    def _record(self, state: InputState) -> None:
        assert self.recorder is not None
        try:
            self.recorder.after_tick(state)
        except Exception as exc:  # a full disk must not stop the game: say so, stop recording, keep why
            why = f"tick {self.loop.tick} could not be recorded: {type(exc).__name__}: {neutralise(exc, limit=500)}"
            self._log(f"recording stopped early: {why}", logging.ERROR)
            self.stop_recording(stopped=why)

    def start_recording(self, path: str | os.PathLike[str]) -> bool:
        """Start recording to ``path`` through :attr:`recorder_factory`; False (logged) if it cannot."""
        if self.recorder is not None:
            return True
        try:
            self.recorder = self.recorder_factory(self, os.fspath(path))
        except Exception as exc:
            self._log(f"cannot start recording to {os.fspath(path)!r}: {type(exc).__name__}: {exc}", logging.ERROR)
            return False
        self.record_path = os.fspath(path)
        self._log(f"recording to {self.record_path} from tick {self.loop.tick}")
        return True

    def stop_recording(self, stopped: str | None = None) -> None:
        """Close the recorder, if any; ``stopped`` says why recording ends before the run (kept in the file)."""
        rec, self.recorder = self.recorder, None
        if rec is not None:
            try:
                if stopped:  # a recorder keeps why it stopped early (Recorder.close(stopped=...))
                    rec.close(stopped)
                else:
                    rec.close()  # any recorder: close() is all the recorder protocol needs
            finally:
                self._log(f"recording stopped at tick {self.loop.tick}: {self.record_path}")

    def reload_plugin(self, name: str) -> bool:
        """Hot-swap a plugin through :meth:`PluginHost.reload`; False (logged) if it failed."""
        try:
            ok = self.host.reload(name)
        except Exception as exc:
            self._log(f"reload of plugin {name!r} failed: {type(exc).__name__}: {exc}", logging.ERROR)
            return False
        if not ok:
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
                self.overlay_cache.invalidate()

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
            self.overlay_cache.invalidate()
        entities = self.config.draw_entities
        draw_scene(self.world, self.host_drawlist, dt=self.loop.dt,
                   entities=not self._children_draw() if entities is None else entities)
        self.last_frame_stats = self.renderer.render(self.drawlists(), self.camera(), clear=self.config.clear_color,
                                                     alpha=alpha)
        if self.overlay is None:
            return []
        return self.overlay_cache.draw(self.overlay, self.window, self.overlay_model, self.overlay_width())

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

        Paced by :class:`~gpi.runtime.pacing.FramePacer`: ticks come first,
        frames are drawn as often as the renderer keeps up with (``min_fps``
        to ``max_fps``), and the run stops exactly at its last tick and at
        each screenshot tick.
        """
        self.start()
        if self.window is None:
            raise AppError("run_window() needs a window: start an App with render=True")
        loop = self.loop
        start_tick = loop.tick
        end = None if ticks is None else start_tick + ticks
        shots = self._check_shots(screenshots, end)
        pacer = FramePacer(loop, self._clock, max_fps=self.config.max_fps, min_fps=self.config.min_fps)
        frames = 0
        try:
            while not self.mapper.quit_requested and (end is None or loop.tick < end):
                if max_frames is not None and frames >= max_frames:
                    break
                t0 = self.telemetry.now_ns()
                tick0 = loop.tick
                self._poll()
                self._frame_ticks = 0
                stops = [t for t in (end, *shots) if t is not None]
                frame = pacer.advance(stops, exact_at=shots)
                if frame.render:
                    due = any(t <= loop.tick for t in shots)
                    self.handle_actions(self.render_frame(fresh_overlay=due, alpha=frame.alpha))
                    self._shoot_due(shots, render_first=False)
                    self.window.swap()
                if frame.result.ticks or frame.render:
                    self.telemetry.record_frame(tick0, t0, self.telemetry.now_ns() - t0, ticks=frame.result.ticks)
                    frames += 1
                if progress is not None and frame.result.ticks:
                    progress(loop.tick - start_tick)
                pacer.wait()
        finally:
            pacer.finish()
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

    def write_profile(self, out_dir: str | os.PathLike[str], *, leak_warmup: float = 0.2,
                      max_slope_mib: float | None = None) -> ProfileReport:
        """Trace JSON, frame-time PNG and tables under ``out_dir`` (see :func:`write_profile`)."""
        meta = {"plugins": list(self.host.plugins), "isolation": self.config.isolation,
                "ticks": self.loop.tick, "entities": int(self.world.entity_count)}
        leak = {} if max_slope_mib is None else {"max_slope_mib": max_slope_mib}
        return write_profile(self.telemetry, out_dir, budget_ms=1000.0 / self.loop.rate, metadata=meta,
                             leak_warmup=leak_warmup, **leak)
