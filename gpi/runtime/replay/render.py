"""Replays on screen: chosen ticks to PNGs, and the windowed player.

Both draw the re-simulated world through :func:`gpi.runtime.scene.draw_scene`
(the picture the app draws when no plugin draws) and
:func:`gpi.runtime.scene.arena_camera`, centred where the recording's app
camera was (``header.meta["camera_center"]``).

- :func:`render_ticks` / :func:`render` (``gpi replay render``): seek the
  simulator to each tick and render it headless, one offscreen GL window for
  all ticks;
- :func:`play` (``gpi replay play --window``): the windowed player with the
  replay panel (:mod:`gpi.runtime.overlay.replay_panel`): timeline scrubber,
  play/pause, step, step back, and an entity inspector.

The simulator is any :class:`~gpi.replays.verify.Simulator` with a ``world``
(:class:`~gpi.runtime.replay.simulation.HostSimulator` has one).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gpi.replays import Replay, ReplayHeader, seek
from gpi.runtime.render.camera import Camera
from gpi.runtime.scene import arena_camera, draw_scene, scene_drawlist

__all__ = ["CLEAR", "play", "render", "render_ticks", "replay_camera"]

CLEAR = (0.08, 0.09, 0.12, 1.0)
"""Background of replay images (the golden reference images were made with it)."""


def replay_camera(size: tuple[int, int], header: ReplayHeader | None = None) -> Camera:
    """The camera that fits the arena in ``size`` pixels, centred as the recording's app camera was."""
    center = header.meta.get("camera_center") if header is not None else None
    return arena_camera(size, center=center or None)


def render_ticks(
    replay: Replay,
    sim: Any,
    ticks: Sequence[int],
    *,
    size: tuple[int, int] = (256, 256),
    camera: Camera | None = None,
) -> dict[int, np.ndarray]:
    """Images ``(h, w, 4)`` of the world after each tick, rendered headless in one GL window.

    ``camera`` (its viewport is set to ``size``) defaults to :func:`replay_camera`.
    """
    from gpi.runtime.window import Window, configure_platform

    configure_platform()
    from gpi.runtime.render import Renderer

    w, h = int(size[0]), int(size[1])
    cam = replay_camera((w, h), replay.header) if camera is None else camera
    out: dict[int, np.ndarray] = {}
    dl = scene_drawlist()
    with Window(w, h, "gpi replay render", hidden=True, resizable=False) as win, Renderer(win) as ren:
        for t in sorted(set(int(t) for t in ticks)):
            seek(replay, sim, t)
            draw_scene(sim.world, dl, dt=1.0 / replay.header.tick_rate)
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


def play(replay: Replay, sim: Any, *, to: int | None = None, headless: bool | None = None,
         max_frames: int | None = None) -> int:
    """Play ``replay`` in a window with the replay panel; returns an exit code.

    Keys: space play/pause, right/left step / step back, home/end first/last
    tick. Click an entity to inspect it. ``to`` seeks there first (paused);
    ``max_frames`` (tests) stops after that many frames.
    """
    import sdl2

    from gpi.replays import Player
    from gpi.runtime.overlay.replay_panel import ReplayControls, make_replay_overlay, pick_entity
    from gpi.runtime.window import Window, configure_platform

    configure_platform(headless)
    from gpi.runtime.render import Renderer

    player = Player(replay, sim)
    controls = ReplayControls(player, rate=replay.header.tick_rate)
    if to is not None:
        controls.seek(int(to))
    else:
        controls.playing = True
    frames = 0
    dl = scene_drawlist()
    dt = 1.0 / replay.header.tick_rate
    with Window(1280, 720, f"gpi replay {replay.path}", headless=headless) as win, Renderer(win) as ren:
        overlay = make_replay_overlay(win, controls)
        try:
            last = time.monotonic()
            while not win.should_close and (max_frames is None or frames < max_frames):
                w, h = win.drawable_size
                cam = replay_camera((w, h), replay.header)
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
                draw_scene(sim.world, dl, dt=dt)
                ren.render([dl], cam, CLEAR)
                overlay.frame(None)
                win.swap()
                frames += 1
        finally:
            overlay.close()
    return 0
