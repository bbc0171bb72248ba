"""The ImGui + ImPlot profiling overlay.

One ImGui window, "GPI profiler", drawn over the scene after it is rendered:

- **Controls**: tick and rate, Pause/Resume, Step, a time-scale slider,
  Start/Stop recording. Pressing one adds an :class:`~.model.OverlayAction`
  to the list :meth:`Overlay.frame` returns; the host applies it.
- **Frame time**: an ImPlot line of the last frames (with the 60 Hz budget)
  and a stacked plot of each system's share of every frame
  (``implot.plot_shaded`` between cumulative sums).
- **Systems**: sortable table (click a header) of host-observed wall time
  mean/p95/max, the child's own CPU time, the IPC share and command bytes.
- **Plugins**: state (running, crashed, restarting, disabled), restarts,
  child RSS, sandbox layers, and a Reload button per plugin.
- **Archetypes**: entity count per archetype and the total.

Rendering goes through ``imgui_bundle.python_backends.sdl2_backend.
SDL2Renderer`` (PyOpenGL, OpenGL 3.3 core), so it needs a current GL context
on the SDL window it is given; headless runs use SDL's offscreen driver with
Mesa EGL. F1 or backtick toggles the overlay (:meth:`Overlay.handle_event`).
Each overlay owns its ImGui and ImPlot contexts; :meth:`Overlay.close`
releases them (safe twice).
"""

from __future__ import annotations

import ctypes
import time
from typing import Any

import numpy as np
import sdl2
from imgui_bundle import imgui, implot
from imgui_bundle.python_backends.sdl2_backend import SDL2Renderer

from gpi.runtime.overlay.errors import OverlayError
from gpi.runtime.overlay.model import OverlayAction, OverlayModel, PluginStatus
from gpi.runtime.telemetry import SystemRow, Telemetry, sort_rows

__all__ = ["TOGGLE_SCANCODES", "Overlay", "WINDOW_TITLE"]

WINDOW_TITLE = "GPI profiler"
TOGGLE_SCANCODES = (sdl2.SDL_SCANCODE_F1, sdl2.SDL_SCANCODE_GRAVE)
"""Keys that show or hide the overlay: F1 and backtick."""

# Table column -> sort key of gpi.runtime.telemetry.sort_rows.
_SYSTEM_COLUMNS = (
    ("system", "name"),
    ("calls", "calls"),
    ("mean ms", "host_mean"),
    ("p95 ms", "host_p95"),
    ("max ms", "host_max"),
    ("child cpu ms", "child_cpu"),
    ("ipc", "ipc_share"),
    ("cmd bytes", "cmd_bytes"),
)
_STATE_COLORS = {
    "running": (0.35, 0.85, 0.35, 1.0),
    "crashed": (0.95, 0.30, 0.30, 1.0),
    "restarting": (0.95, 0.80, 0.25, 1.0),
    "disabled": (0.55, 0.55, 0.55, 1.0),
    "starting": (0.60, 0.75, 0.95, 1.0),
    "stopped": (0.55, 0.55, 0.55, 1.0),
}
_MOUSE_EVENTS = (
    sdl2.SDL_MOUSEMOTION,
    sdl2.SDL_MOUSEBUTTONDOWN,
    sdl2.SDL_MOUSEBUTTONUP,
    sdl2.SDL_MOUSEWHEEL,
)
_KEY_EVENTS = (sdl2.SDL_KEYDOWN, sdl2.SDL_KEYUP, sdl2.SDL_TEXTINPUT)


def _sdl_window(window: Any) -> Any:
    """The raw SDL_Window pointer of ``window`` (a pointer or an object wrapping one)."""
    for attr in ("sdl_window", "handle", "window"):
        inner = getattr(window, attr, None)
        if inner is not None and not isinstance(inner, int | float | str):
            return inner
    return window


def _layers_text(status: PluginStatus) -> str:
    if not status.sandbox_layers:
        return "-"
    return " ".join(f"{name}{'+' if on else '-'}" for name, on in status.sandbox_layers.items())


class Overlay:
    """The profiling overlay on one SDL window with a current OpenGL 3.3 context."""

    _renderer: SDL2Renderer | None = None
    _imgui_ctx: Any = None
    _implot_ctx: Any = None

    def __init__(
        self,
        window: Any,
        *,
        visible: bool = True,
        width: float = 680.0,
        refresh_frames: int = 15,
    ) -> None:
        self._window = _sdl_window(window)
        self.visible = visible
        """Whether :meth:`frame` draws anything."""
        self.width = float(width)
        self.sort_key = "host_mean"
        """Current sort column of the system table (a ``sort_rows`` key)."""
        self.sort_descending = True
        self.item_rects: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {}
        """Screen rectangles of the last frame's control buttons (for tests and tools)."""
        self._pending: list[OverlayAction] = []
        self.refresh_frames = int(refresh_frames)
        """Telemetry frames between recomputing the system table (15 = 4 Hz at 60 fps)."""
        self._rows_cache: tuple[Telemetry, int, list[SystemRow]] | None = None
        self.last_build_ns = 0
        """Time the last frame spent building the ImGui frame in Python (ns)."""
        self.last_submit_ns = 0
        """Time the last frame spent issuing GL draw calls (ns; the GPU may still be busy)."""
        try:
            self._imgui_ctx = imgui.create_context()
            # create_context does not switch contexts when another overlay's is current
            imgui.set_current_context(self._imgui_ctx)
            self._implot_ctx = implot.create_context()
            implot.set_current_context(self._implot_ctx)
            imgui.get_io().set_ini_filename("")  # no imgui.ini next to the user's files
            self._renderer = SDL2Renderer(self._window)
        except Exception as exc:
            self.close()
            raise OverlayError(
                f"cannot start the ImGui overlay on window {window!r}: {exc}; it needs an "
                "SDL window with a current OpenGL 3.3 core context (headless: "
                "SDL_VIDEODRIVER=offscreen and PYOPENGL_PLATFORM=egl)"
            ) from exc

    # -- events ----------------------------------------------------------------
    def toggle(self) -> bool:
        """Show or hide the overlay; return the new visibility."""
        self.visible = not self.visible
        self._pending.append(OverlayAction("toggle_overlay", 1.0 if self.visible else 0.0))
        return self.visible

    def handle_event(self, event: Any) -> bool:
        """Feed one SDL event; True when the overlay consumed it (do not pass it to the game)."""
        if self._renderer is None:
            return False
        etype = int(event.type)
        if (
            etype == sdl2.SDL_KEYDOWN
            and int(event.key.keysym.scancode) in TOGGLE_SCANCODES
            and not event.key.repeat
        ):
            self.toggle()
            return True
        if not self.visible:
            return False
        self._activate()
        self._renderer.process_event(event)
        io = imgui.get_io()
        if etype in _MOUSE_EVENTS:
            return bool(io.want_capture_mouse)
        if etype in _KEY_EVENTS:
            return bool(io.want_capture_keyboard)
        return False

    # -- drawing -----------------------------------------------------------------
    def _activate(self) -> None:
        if self._imgui_ctx is not None:
            imgui.set_current_context(self._imgui_ctx)
        if self._implot_ctx is not None:
            implot.set_current_context(self._implot_ctx)

    def frame(self, model: OverlayModel) -> list[OverlayAction]:
        """Draw one overlay frame on the current framebuffer; return the actions requested."""
        if self._renderer is None:
            raise OverlayError("Overlay.frame() after close(): create a new Overlay")
        actions, self._pending = self._pending, []
        if not self.visible:
            return actions
        t0 = time.perf_counter_ns()
        self._activate()
        self._renderer.process_inputs()
        imgui.new_frame()
        try:
            actions.extend(self.build(model))
        finally:
            imgui.render()
        t1 = time.perf_counter_ns()
        self._renderer.render(imgui.get_draw_data())
        self.last_build_ns = t1 - t0
        self.last_submit_ns = time.perf_counter_ns() - t1
        return actions

    def _remember(self, name: str) -> None:
        lo, hi = imgui.get_item_rect_min(), imgui.get_item_rect_max()
        self.item_rects[name] = ((lo.x, lo.y), (hi.x, hi.y))

    def build(self, model: OverlayModel) -> list[OverlayAction]:
        """Issue the ImGui calls of one frame (between new_frame and render)."""
        actions: list[OverlayAction] = []
        io = imgui.get_io()
        disp_w, disp_h = io.display_size.x, io.display_size.y
        imgui.set_next_window_pos(imgui.ImVec2(10, 10), imgui.Cond_.first_use_ever)
        imgui.set_next_window_size(
            imgui.ImVec2(min(self.width, max(disp_w - 20, 200)), max(disp_h - 20, 200)),
            imgui.Cond_.first_use_ever,
        )
        imgui.set_next_window_bg_alpha(0.94)
        expanded, _ = imgui.begin(WINDOW_TITLE)
        try:
            if expanded:
                self._controls(model, actions)
                self._frame_plots(model)
                self._systems_table(model)
                self._waves(model)
                self._plugins_table(model, actions)
                self._archetypes(model)
        finally:
            imgui.end()
        return actions

    def _controls(self, model: OverlayModel, actions: list[OverlayAction]) -> None:
        c = model.controls
        frame = model.telemetry.frame_stats()
        imgui.text(
            f"tick {c.tick}  @ {c.tick_rate:g} Hz   frame {frame.mean:.2f} ms "
            f"(p95 {frame.p95:.2f}, max {frame.max:.2f})   entities {model.entity_count}"
        )
        if model.telemetry.memory:
            rss = model.telemetry.memory[-1].rss
            host = rss.get("host", 0) / 2**20
            children = sum(v for k, v in rss.items() if k != "host") / 2**20
            imgui.text_disabled(f"RSS: host {host:.0f} MiB, plugins {children:.0f} MiB")
        if imgui.button("Resume" if c.paused else "Pause"):
            actions.append(OverlayAction("resume" if c.paused else "pause"))
        self._remember("pause")
        imgui.same_line()
        if imgui.button("Step"):
            actions.append(OverlayAction("step", 1.0))
        self._remember("step")
        imgui.same_line()
        if imgui.button("Stop recording" if c.recording else "Start recording"):
            actions.append(OverlayAction("record_stop" if c.recording else "record_start"))
        self._remember("record")
        if c.recording:
            imgui.same_line()
            imgui.text_colored(imgui.ImVec4(0.95, 0.3, 0.3, 1.0), f"REC {c.record_path}")
        imgui.set_next_item_width(220)
        changed, value = imgui.slider_float("time scale", float(c.time_scale), 0.0, 4.0, "%.2fx")
        self._remember("time_scale")
        if changed:
            actions.append(OverlayAction("time_scale", float(value)))

    def _frame_plots(self, model: OverlayModel) -> None:
        if not imgui.collapsing_header("Frame time", imgui.TreeNodeFlags_.default_open):
            return
        tel = model.telemetry
        ms = tel.frame_times_ms()[-model.plot_frames :]
        n = len(ms)
        xs = np.arange(-n + 1, 1, dtype=np.float64)
        fit = implot.AxisFlags_.auto_fit
        budget = 1000.0 / model.controls.tick_rate if model.controls.tick_rate > 0 else 0.0
        if implot.begin_plot("##frame_time", imgui.ImVec2(-1, 140)):
            implot.setup_axes("frame", "ms", fit, 0)
            top = max(float(ms.max()) if n else 0.0, budget) * 1.15 or 1.0
            implot.setup_axis_limits(implot.ImAxis_.y1, 0.0, top, implot.Cond_.always)
            if n:
                implot.plot_line("frame", xs, np.ascontiguousarray(ms))
                implot.plot_line(
                    "budget", np.array([xs[0], 0.0]), np.array([budget, budget], dtype=np.float64)
                )
            implot.end_plot()
        keys, series = tel.system_series_ms()
        series = series[:, -model.plot_frames :]
        if implot.begin_plot("##per_system", imgui.ImVec2(-1, 150)):
            implot.setup_axes("frame", "ms per system (stacked)", fit, fit)
            if series.size:
                m = series.shape[1]
                xs2 = np.arange(-m + 1, 1, dtype=np.float64)
                upper = np.cumsum(series, axis=0)
                lower = np.zeros(m, dtype=np.float64)
                for i, (plugin, system) in enumerate(keys):
                    upper_i = np.ascontiguousarray(upper[i])
                    label = f"{plugin}/{system}"
                    implot.plot_shaded(label, xs2, lower, upper_i)
                    implot.plot_line(label, xs2, upper_i)
                    lower = upper_i
            implot.end_plot()

    def _systems_table(self, model: OverlayModel) -> None:
        if not imgui.collapsing_header("Systems", imgui.TreeNodeFlags_.default_open):
            return
        flags = (
            imgui.TableFlags_.sortable
            | imgui.TableFlags_.borders
            | imgui.TableFlags_.row_bg
            | imgui.TableFlags_.resizable
            | imgui.TableFlags_.sizing_fixed_fit
        )
        if not imgui.begin_table("systems", len(_SYSTEM_COLUMNS), flags):
            return
        try:
            for label, key in _SYSTEM_COLUMNS:
                col_flags = 0
                if key == "host_mean":
                    col_flags = (
                        imgui.TableColumnFlags_.default_sort
                        | imgui.TableColumnFlags_.prefer_sort_descending
                    )
                imgui.table_setup_column(label, col_flags)
            # Headers one by one (what table_headers_row does) to remember where each is.
            imgui.table_next_row(imgui.TableRowFlags_.headers)
            for i, (label, key) in enumerate(_SYSTEM_COLUMNS):
                imgui.table_set_column_index(i)
                imgui.table_header(label)
                self._remember(f"header:{key}")
            specs = imgui.table_get_sort_specs()
            if specs is not None and specs.specs_count > 0 and specs.specs_dirty:
                spec = specs.get_specs(0)
                self.sort_key = _SYSTEM_COLUMNS[spec.column_index][1]
                self.sort_descending = spec.sort_direction == imgui.SortDirection.descending
                specs.specs_dirty = False
            rows = sort_rows(self.table_rows(model), self.sort_key, self.sort_descending)
            for r in rows:
                imgui.table_next_row()
                for i, cell in enumerate(r.cells()):
                    imgui.table_set_column_index(i)
                    imgui.text(cell)
        finally:
            imgui.end_table()

    def _waves(self, model: OverlayModel) -> None:
        waves = model.telemetry.wave_stats()
        if not waves:
            return
        parts = [
            f"{stage or 'wave'} {index}: {st.mean:.2f}/{st.p95:.2f}"
            for (stage, index), st in waves.items()
        ]
        imgui.text_disabled("waves mean/p95 ms  " + "   ".join(parts))

    def table_rows(self, model: OverlayModel) -> list[SystemRow]:
        """System rows, recomputed every ``refresh_frames`` telemetry frames (readable, cheap)."""
        tel = model.telemetry
        cached = self._rows_cache
        if (
            cached is None
            or cached[0] is not tel
            or tel.frame_count < cached[1]
            or tel.frame_count - cached[1] >= self.refresh_frames
            or (tel.frame_count == 0 and len(cached[2]) != len(tel.systems()))
        ):
            cached = self._rows_cache = (tel, tel.frame_count, tel.system_rows())
        return cached[2]

    def _plugins_table(self, model: OverlayModel, actions: list[OverlayAction]) -> None:
        if not imgui.collapsing_header("Plugins", imgui.TreeNodeFlags_.default_open):
            return
        if not model.plugins:
            imgui.text_disabled("no plugins loaded")
            return
        flags = (
            imgui.TableFlags_.borders
            | imgui.TableFlags_.row_bg
            | imgui.TableFlags_.resizable
            | imgui.TableFlags_.sizing_fixed_fit
        )
        if not imgui.begin_table("plugins", 6, flags):
            return
        try:
            for label in ("plugin", "state", "restarts", "RSS MiB", "sandbox", ""):
                imgui.table_setup_column(label)
            imgui.table_headers_row()
            for p in model.plugins:
                imgui.push_id(p.name)
                imgui.table_next_row()
                imgui.table_set_column_index(0)
                imgui.text(p.name)
                imgui.table_set_column_index(1)
                imgui.text_colored(imgui.ImVec4(*_STATE_COLORS[p.state]), p.state)
                if p.last_error and imgui.is_item_hovered():
                    imgui.set_tooltip(p.last_error)
                imgui.table_set_column_index(2)
                imgui.text(str(p.restarts))
                imgui.table_set_column_index(3)
                imgui.text("-" if p.rss_bytes is None else f"{p.rss_bytes / 2**20:.1f}")
                imgui.table_set_column_index(4)
                imgui.text(_layers_text(p))
                imgui.table_set_column_index(5)
                if imgui.small_button("Reload"):
                    actions.append(OverlayAction("reload", plugin=p.name))
                self._remember(f"reload:{p.name}")
                imgui.pop_id()
        finally:
            imgui.end_table()

    def _archetypes(self, model: OverlayModel) -> None:
        if not imgui.collapsing_header("Archetypes", imgui.TreeNodeFlags_.default_open):
            return
        imgui.text(f"{model.entity_count} entities in {len(model.archetypes)} archetypes")
        flags = imgui.TableFlags_.borders | imgui.TableFlags_.row_bg
        if not model.archetypes or not imgui.begin_table("archetypes", 2, flags):
            return
        try:
            imgui.table_setup_column("archetype")
            imgui.table_setup_column("entities")
            imgui.table_headers_row()
            for label, count in sorted(model.archetypes.items(), key=lambda kv: -kv[1]):
                imgui.table_next_row()
                imgui.table_set_column_index(0)
                imgui.text(label)
                imgui.table_set_column_index(1)
                imgui.text(str(count))
        finally:
            imgui.end_table()

    # -- lifetime ------------------------------------------------------------------
    @property
    def window_size(self) -> tuple[int, int]:
        """The SDL window's size in pixels."""
        w, h = ctypes.c_int(0), ctypes.c_int(0)
        sdl2.SDL_GetWindowSize(self._window, ctypes.byref(w), ctypes.byref(h))
        return (w.value, h.value)

    def close(self) -> None:
        """Release the GL objects and the ImGui/ImPlot contexts (safe to call twice)."""
        renderer, self._renderer = self._renderer, None
        if renderer is not None and self._imgui_ctx is not None:
            self._activate()
            renderer.shutdown()
        implot_ctx, self._implot_ctx = self._implot_ctx, None
        if implot_ctx is not None:
            implot.destroy_context(implot_ctx)
        imgui_ctx, self._imgui_ctx = self._imgui_ctx, None
        if imgui_ctx is not None:
            imgui.destroy_context(imgui_ctx)

    def __enter__(self) -> Overlay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._renderer is None else ("visible" if self.visible else "hidden")
        return f"Overlay({state}, sort={self.sort_key}{'↓' if self.sort_descending else '↑'})"
