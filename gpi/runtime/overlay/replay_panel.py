"""The replay panel: timeline scrubber, transport buttons and entity inspector.

A separate ImGui window, "GPI replay", drawn by the windowed replay player
(:func:`gpi.runtime.replay.render.play`) beside or instead of the profiler:

- **Timeline**: a slider over the replay's readable ticks (dragging it seeks,
  re-simulating from the nearest keyframe), the current tick, the keyframe
  ticks, and the first checksum divergence seen, if any;
- **Transport**: |< (first tick), step back, play/pause, step, >| (last tick),
  and a speed slider (0.1x to 8x of the recorded tick rate);
- **Entity inspector**: a list of entities (the first ``list_limit``) to pick
  from, or the entity under the mouse (:func:`pick_entity`); the picked
  entity's components and values.

The logic is :class:`ReplayControls` (no ImGui): it holds play state and
drives a :class:`~gpi.replays.Player`, so tests and headless tools use it
directly. :func:`make_replay_overlay` wraps it in an
:class:`~gpi.runtime.overlay.overlay.Overlay` subclass whose ``build`` draws
this panel (and the profiler too when given a model). ImGui is imported only
when a panel is drawn.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["ReplayControls", "entity_rows", "make_replay_overlay", "pick_entity"]

WINDOW_TITLE = "GPI replay"


class ReplayControls:
    """Play state over a :class:`~gpi.replays.Player`: play/pause, speed, step, seek, selection."""

    def __init__(self, player: Any, *, rate: float = 60.0) -> None:
        self.player = player
        self.rate = float(rate)
        self.playing = False
        self.speed = 1.0
        self.selected: int | None = None
        self._acc = 0.0

    @property
    def tick(self) -> int:
        """The tick whose state is shown (``first_tick - 1``: the initial state)."""
        return int(self.player.tick)

    def toggle(self) -> bool:
        """Play or pause; returns whether it now plays."""
        self.playing = not self.playing
        self._acc = 0.0
        return self.playing

    def step(self) -> None:
        """One tick forward (pauses)."""
        self.playing = False
        self.player.step()

    def step_back(self) -> None:
        """One tick back (pauses; re-simulates from the nearest keyframe)."""
        self.playing = False
        self.player.step_back()

    def seek(self, tick: int) -> None:
        """Go to the state after ``tick``, clamped to the replay (pauses)."""
        self.playing = False
        lo, hi = self.player.first_tick - 1, self.player.last_tick
        self.player.seek(int(min(max(tick, lo), hi)))

    def update(self, elapsed_s: float, *, max_ticks: int = 8) -> int:
        """Advance playback by ``elapsed_s`` of wall time; returns ticks run."""
        if not self.playing:
            return 0
        self._acc += max(0.0, elapsed_s) * self.rate * self.speed
        n = 0
        while self._acc >= 1.0 and n < max_ticks:
            if self.player.step() is None:
                self.playing = False
                break
            self._acc -= 1.0
            n += 1
        if n == max_ticks:
            self._acc = min(self._acc, 1.0)  # too slow to keep up: drop time, not frames
        return n

    def key(self, name: str) -> None:
        """Keyboard shortcuts: space, right, left, home, end."""
        if name == "space":
            self.toggle()
        elif name == "right":
            self.step()
        elif name == "left":
            self.step_back()
        elif name == "home":
            self.seek(self.player.first_tick - 1)
        elif name == "end":
            self.seek(self.player.last_tick)


def pick_entity(world: Any, camera: Any, screen_xy: tuple[float, float], *, radius_px: float = 8.0) -> int | None:
    """The entity whose ``Position`` is nearest the screen point, within ``radius_px``; or None."""
    if "Position" not in world.components:
        return None
    wx, wy = camera.screen_to_world(float(screen_xy[0]), float(screen_xy[1]))
    best: tuple[float, int] | None = None
    for chunk in world.query("Position"):
        if not len(chunk):
            continue
        pos = np.asarray(chunk["Position"], dtype=np.float64)
        d2 = (pos[:, 0] - wx) ** 2 + (pos[:, 1] - wy) ** 2
        i = int(np.argmin(d2))
        if best is None or d2[i] < best[0]:
            best = (float(d2[i]), int(chunk.entities[i]))
    if best is None or np.sqrt(best[0]) * camera.zoom > radius_px:
        return None
    return best[1]


def entity_rows(world: Any, entity: int) -> list[tuple[str, str]]:
    """``(component, value text)`` of every component of a live entity (empty if dead)."""
    eid = np.uint64(entity)
    if not world.is_alive(eid):
        return []
    rows = []
    for name in sorted(world.components_of(eid)):
        value = world.get(eid, name)
        text = np.array2string(np.asarray(value), precision=3, separator=", ") if value is not None else "-"
        rows.append((name, text))
    return rows


def _entity_list(world: Any, limit: int) -> list[int]:
    out: list[int] = []
    names = list(world.components)
    if not names:
        return out
    seen: set[int] = set()
    for name in names:
        for chunk in world.query(name):
            for e in np.asarray(chunk.entities)[: limit - len(out)]:
                if int(e) not in seen:
                    seen.add(int(e))
                    out.append(int(e))
            if len(out) >= limit:
                return out
    return out


class ReplayPanel:
    """Draws the replay window with ImGui for a :class:`ReplayControls`."""

    def __init__(self, controls: ReplayControls, *, list_limit: int = 200) -> None:
        self.controls = controls
        self.list_limit = list_limit

    def build(self) -> None:
        """Issue the ImGui calls of the panel (between ``new_frame`` and ``render``)."""
        from imgui_bundle import imgui

        c = self.controls
        p = c.player
        imgui.set_next_window_pos(imgui.ImVec2(10, 420), imgui.Cond_.first_use_ever)
        imgui.set_next_window_size(imgui.ImVec2(520, 290), imgui.Cond_.first_use_ever)
        expanded, _ = imgui.begin(WINDOW_TITLE)
        try:
            if not expanded:
                return
            lo, hi = p.first_tick - 1, p.last_tick
            imgui.text(f"tick {p.tick} of {p.first_tick}..{p.last_tick}   "
                       f"keyframes: {len(p.replay.keyframe_ticks)}")
            imgui.set_next_item_width(-1)
            changed, value = imgui.slider_int("##timeline", int(p.tick), int(lo), int(max(hi, lo)))
            if changed and value != p.tick:
                c.seek(int(value))
            if imgui.button("|<"):
                c.seek(lo)
            imgui.same_line()
            if imgui.button("< step"):
                c.step_back()
            imgui.same_line()
            if imgui.button("pause" if c.playing else "play"):
                c.toggle()
            imgui.same_line()
            if imgui.button("step >"):
                c.step()
            imgui.same_line()
            if imgui.button(">|"):
                c.seek(hi)
            imgui.same_line()
            imgui.set_next_item_width(120)
            _, c.speed = imgui.slider_float("speed", float(c.speed), 0.1, 8.0)
            if p.divergence is not None:
                t, rec, sim = p.divergence
                imgui.text_colored(imgui.ImVec4(0.95, 0.3, 0.3, 1.0),
                                   f"diverged at tick {t}: recorded {rec:#x}, simulated {sim:#x}")
            imgui.separator()
            self._inspector()
        finally:
            imgui.end()

    def _inspector(self) -> None:
        from imgui_bundle import imgui

        c = self.controls
        world = c.player.simulator.world
        imgui.text("entities")
        imgui.begin_child("entity_list", imgui.ImVec2(150, 0))
        for e in _entity_list(world, self.list_limit):
            if imgui.selectable(f"{e & 0xFFFFFFFF}:{e >> 32}", c.selected == e)[0]:
                c.selected = e
        imgui.end_child()
        imgui.same_line()
        imgui.begin_child("entity_view", imgui.ImVec2(0, 0))
        if c.selected is None:
            imgui.text("click an entity or pick one from the list")
        else:
            rows = entity_rows(world, c.selected)
            imgui.text(f"entity {c.selected & 0xFFFFFFFF} (generation {c.selected >> 32})")
            if not rows:
                imgui.text("not alive at this tick")
            for name, text in rows:
                imgui.text(f"{name}: {text}")
        imgui.end_child()


def make_replay_overlay(window: Any, controls: ReplayControls, **kwargs: Any) -> Any:
    """An :class:`Overlay` on ``window`` whose frame draws the replay panel (and the profiler
    when :meth:`frame` gets a model)."""
    from gpi.runtime.overlay.overlay import Overlay

    panel = ReplayPanel(controls)

    class ReplayOverlay(Overlay):
        """The profiler overlay plus the replay panel."""

        def build(self, model: Any) -> list[Any]:
            actions = list(super().build(model)) if model is not None else []
            panel.build()
            return actions

    ov = ReplayOverlay(window, **kwargs)
    ov.panel = panel  # type: ignore[attr-defined]
    return ov
