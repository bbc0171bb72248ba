"""The App's real-time loop (clock-paced frames) in an offscreen window.

Its own module: the module-scoped App of test_app.py keeps an ImGui context
alive, and a second Overlay created while another context is current binds
its backend to that one (ImGui makes a new context current only when none is).
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from gpi.runtime.app import App, AppConfig, AppError
from gpi.runtime.config import demo_plugin_dirs


@pytest.mark.gl
def test_realtime_loop_stops_and_shoots_at_exact_ticks(tmp_path):
    cfg = AppConfig(plugins=demo_plugin_dirs(names=("movement", "spawner")), isolation="none",
                    population=200, headless=True, width=640, height=400, memory_every=0,
                    tick_rate=240.0)
    with App(cfg) as app:
        app.start()
        shots = {5: tmp_path / "five.png", 12: tmp_path / "twelve.png"}
        assert app.run_window(12, screenshots=shots) == 12
        assert app.tick == 12 and not app.loop.paused
        assert [p.name for p in app.screenshots_taken] == ["five.png", "twelve.png"]
        img = np.asarray(Image.open(tmp_path / "twelve.png").convert("RGB")).astype(int)
        scene = img[:, int(app.overlay_width()) + 30:]
        # no child draws in isolation 'none': the host draws the entities in their Tint
        assert (np.abs(scene - np.array([13, 18, 31])).sum(axis=2) > 60).sum() > 100
        assert app.telemetry.validate() == []
        assert sum(f.ticks for f in app.telemetry.frames) == 12
        with pytest.raises(AppError, match="after the last tick"):
            app.run_window(3, screenshots={100: tmp_path / "late.png"})


@pytest.mark.gl
def test_cached_overlay_frames_still_show_the_overlay():
    cfg = AppConfig(plugins=demo_plugin_dirs(names=("movement", "spawner")), isolation="none",
                    population=100, headless=True, width=800, height=500, memory_every=0, overlay_every=4)
    with App(cfg) as app:
        app.start()
        app.run_headless(4, render_every=1)
        app.render_frame(fresh_overlay=True)
        fresh = app.renderer.read_pixels().astype(int)
        app.render_frame()  # reuses the overlay's pixels
        cached = app.renderer.read_pixels().astype(int)
        x0, y0, x1, y1 = app.overlay_cache.rect
        assert x1 - x0 > 300 and y1 - y0 > 400  # the ImGui window, found by its title
        h = fresh.shape[0]
        region = (slice(h - y1, h - y0), slice(x0, x1))
        same = (np.abs(fresh[region] - cached[region]).sum(axis=2) == 0).mean()
        assert same > 0.95  # identical pixels: same cached overlay (the scene is outside the rect)
        assert len(np.unique(cached[region].reshape(-1, 4), axis=0)) > 50
        app.overlay.visible = False  # hidden: nothing cached is drawn
        app.render_frame()
        hidden = app.renderer.read_pixels().astype(int)
        assert len(np.unique(hidden[region].reshape(-1, 4), axis=0)) < len(np.unique(cached[region].reshape(-1, 4), axis=0))
