"""The App's real-time loop (clock-paced frames) in an offscreen window.

Its own module: the module-scoped App of test_app.py keeps an ImGui context
alive, and a second Overlay created while another context is current binds
its backend to that one (ImGui makes a new context current only when none is).
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from gpi.runtime.app import App, AppConfig, AppError, demo_plugin_dirs


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
        scene = img[:, int(app._overlay_width()) + 30:]
        # no child draws in isolation 'none': the host draws the entities in their Tint
        assert (np.abs(scene - np.array([13, 18, 31])).sum(axis=2) > 60).sum() > 100
        assert app.telemetry.validate() == []
        assert sum(f.ticks for f in app.telemetry.frames) == 12
        with pytest.raises(AppError, match="after the last tick"):
            app.run_window(3, screenshots={100: tmp_path / "late.png"})
