"""The ImGui overlay renders headless over a scene, and its controls produce actions.

GL tests use gpi.runtime.window.Window (SDL's offscreen driver with Mesa EGL,
OpenGL 3.3 core) and gpi.runtime.render.Renderer to draw a scene under it.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image
from rt_telemetry_samples import fill

from gpi.runtime.clock import ManualClock
from gpi.runtime.loop import FixedStepLoop
from gpi.runtime.overlay import (
    ControlState,
    OverlayAction,
    OverlayModel,
    PluginStatus,
    apply_loop_actions,
)
from gpi.runtime.telemetry import Telemetry

W, H = 1024, 720
SCENE = (26, 51, 102)  # glClearColor(0.1, 0.2, 0.4)


def sample_model() -> OverlayModel:
    tel = fill(Telemetry(window=300), frames=300)
    tel.sample_memory(299)
    return OverlayModel(
        telemetry=tel,
        plugins=[
            PluginStatus("boids", "running", restarts=0, pid=1234, rss_bytes=42 << 20,
                         sandbox_layers={"seccomp": True, "landlock": True, "netns": True},
                         systems=2),
            PluginStatus("physics", "restarting", restarts=2, rss_bytes=30 << 20,
                         sandbox_layers={"seccomp": True, "landlock": False}),
            PluginStatus("render", "crashed", restarts=3, last_error="SIGSEGV"),
            PluginStatus("broken", "disabled", restarts=5),
        ],
        archetypes={"Position,Velocity": 9000, "Position,Velocity,Tint": 1000, "Camera": 1},
        controls=ControlState(paused=False, time_scale=1.0, recording=True, tick=299,
                              record_path="out/run.gpir"),
    )


def test_model_validation_and_loop_actions():
    with pytest.raises(ValueError):
        PluginStatus("x", state="sleeping")
    with pytest.raises(ValueError):
        OverlayAction("explode")
    assert sample_model().entity_count == 10001
    loop = FixedStepLoop(clock=ManualClock())
    rest = apply_loop_actions(
        [
            OverlayAction("time_scale", 0.25),
            OverlayAction("step", 2.0),
            OverlayAction("reload", plugin="boids"),
            OverlayAction("record_start"),
        ],
        loop,
    )
    assert loop.time_scale == 0.25 and loop.paused and loop.pending_steps == 2
    assert [a.kind for a in rest] == ["reload", "record_start"]
    apply_loop_actions([OverlayAction("resume")], loop)
    assert not loop.paused
    apply_loop_actions([OverlayAction("pause")], loop)
    assert loop.paused


@pytest.fixture(scope="module")
def gl_window():
    from gpi.runtime.render import Renderer
    from gpi.runtime.window import Window

    with Window(W, H, "overlay test", headless=True, hidden=True, resizable=False) as window:
        renderer = Renderer(window)
        yield window, renderer
        renderer.close()


@pytest.fixture
def overlay(gl_window):
    from gpi.runtime.overlay import Overlay

    window, renderer = gl_window
    ov = Overlay(window)
    ov.renderer = renderer  # the test's scene renderer rides along
    yield ov
    ov.close()


SPRITE = (255, 200, 0)
SPRITE_BOX = (780, 200, 180, 150)  # x, y (bottom-left origin), w, h in window pixels


def draw_scene(renderer) -> None:
    from gpi.runtime.render import Camera

    x, y, w, h = SPRITE_BOX
    renderer.screen.rect(x, y, w, h, (*SPRITE, 255))
    renderer.render([], Camera.pixels(W, H), clear=(0.1, 0.2, 0.4, 1.0))


def render(ov, model):
    draw_scene(ov.renderer)
    actions = ov.frame(model)
    return actions, ov.renderer.read_pixels()[:, :, :3].copy()


@pytest.mark.gl
def test_overlay_renders_over_scene(overlay, tmp_path):
    model = sample_model()
    for _ in range(2):  # first frame lays out the window, second draws settled contents
        actions, img = render(overlay, model)
    assert actions == []
    Image.fromarray(img).save(tmp_path / "overlay.png")
    os.makedirs("out", exist_ok=True)
    Image.fromarray(img).save("out/overlay_test.png")

    scene = np.all(img == SCENE, axis=-1)
    # The scene is visible to the right of the overlay window: background and a sprite.
    sprite = np.all(img == SPRITE, axis=-1)
    x, y, w, h = SPRITE_BOX
    assert sprite[H - y - h + 2 : H - y - 2, x + 2 : x + w - 2].all()
    assert (scene | sprite)[:, 740:].mean() > 0.99
    assert not sprite[:, :700].any()
    # The overlay window (at 10,10, 680 wide) covers its region with non-scene pixels.
    region = scene[20:H - 20, 20:680]
    assert region.mean() < 0.05
    # ImGui's window background (dark grey at 94 % over the scene) dominates the region.
    from imgui_bundle import imgui

    bg = imgui.get_style().color_(imgui.Col_.window_bg)
    expect = np.array([bg.x, bg.y, bg.z]) * 255 * 0.94 + np.array(SCENE) * 0.06
    close = np.all(np.abs(img[20:H - 20, 20:680].astype(float) - expect) <= 3, axis=-1)
    assert close.mean() > 0.2
    # Text (light pixels) is drawn: headers, the table, the labels.
    assert (img[20:H - 20, 20:680].min(axis=-1) > 200).sum() > 2000
    # Controls were laid out where the test can click them.
    assert {"pause", "step", "record", "time_scale", "reload:boids"} <= set(overlay.item_rects)


def click(ov, model, rect):
    import sdl2

    (x0, y0), (x1, y1) = rect
    x, y = int((x0 + x1) / 2), int((y0 + y1) / 2)
    ev = sdl2.SDL_Event()
    ev.type = sdl2.SDL_MOUSEMOTION
    ev.motion.x, ev.motion.y = x, y
    ov.handle_event(ev)
    actions = ov.frame(model)
    for kind in (sdl2.SDL_MOUSEBUTTONDOWN, sdl2.SDL_MOUSEBUTTONUP):
        ev = sdl2.SDL_Event()
        ev.type = kind
        ev.button.button = sdl2.SDL_BUTTON_LEFT
        ev.button.x, ev.button.y = x, y
        assert ov.handle_event(ev) is True  # over the overlay: not for the game
        actions += ov.frame(model)
    actions += ov.frame(model)
    return actions


@pytest.mark.gl
def test_controls_report_actions(overlay):
    model = sample_model()
    overlay.frame(model)
    overlay.frame(model)
    assert click(overlay, model, overlay.item_rects["pause"]) == [OverlayAction("pause")]
    assert click(overlay, model, overlay.item_rects["step"]) == [OverlayAction("step", 1.0)]
    assert click(overlay, model, overlay.item_rects["record"]) == [OverlayAction("record_stop")]
    assert click(overlay, model, overlay.item_rects["reload:physics"]) == [
        OverlayAction("reload", plugin="physics")
    ]
    model.controls.paused = True
    overlay.frame(model)
    assert click(overlay, model, overlay.item_rects["pause"]) == [OverlayAction("resume")]
    loop = FixedStepLoop(clock=ManualClock())
    loop.pause()
    assert apply_loop_actions([OverlayAction("resume")], loop) == [] and not loop.paused


@pytest.mark.gl
def test_clicking_headers_sorts_the_system_table(overlay):
    model = sample_model()
    overlay.frame(model)
    overlay.frame(model)
    assert (overlay.sort_key, overlay.sort_descending) == ("host_mean", True)
    assert {f"header:{k}" for k in ("name", "calls", "host_p95", "cmd_bytes")} <= set(
        overlay.item_rects
    )
    click(overlay, model, overlay.item_rects["header:cmd_bytes"])
    assert overlay.sort_key == "cmd_bytes"
    first = overlay.sort_descending
    click(overlay, model, overlay.item_rects["header:cmd_bytes"])
    assert overlay.sort_key == "cmd_bytes" and overlay.sort_descending is not first
    click(overlay, model, overlay.item_rects["header:name"])
    assert overlay.sort_key == "name"


@pytest.mark.gl
def test_toggle_key_hides_overlay(overlay):
    import sdl2

    model = sample_model()
    render(overlay, model)
    ev = sdl2.SDL_Event()
    ev.type = sdl2.SDL_KEYDOWN
    ev.key.keysym.scancode = sdl2.SDL_SCANCODE_F1
    assert overlay.handle_event(ev) is True
    assert not overlay.visible
    actions, img = render(overlay, model)
    assert actions == [OverlayAction("toggle_overlay", 0.0)]
    assert np.all(np.all(img == SCENE, axis=-1) | np.all(img == SPRITE, axis=-1))  # only the scene
    # Events pass through to the game while hidden.
    motion = sdl2.SDL_Event()
    motion.type = sdl2.SDL_MOUSEMOTION
    assert overlay.handle_event(motion) is False
    ev.key.keysym.scancode = sdl2.SDL_SCANCODE_GRAVE
    assert overlay.handle_event(ev) is True and overlay.visible
    actions, img = render(overlay, model)
    assert actions == [OverlayAction("toggle_overlay", 1.0)]
    assert not np.all(img == SCENE)


@pytest.mark.gl
def test_empty_model_and_cost_and_close(overlay):
    from gpi.runtime.overlay import OverlayError, overlay_cost

    empty = OverlayModel(telemetry=Telemetry())
    actions, img = render(overlay, empty)
    assert actions == []
    cost = overlay_cost(overlay, sample_model(), frames=5, warmup=1)
    assert cost.frames == 5 and cost.ms.count == 5 and cost.ms.mean > 0
    assert cost.build_ms.count == 5 and 0 < cost.build_ms.mean <= cost.ms.mean
    assert cost.gpu_ms.mean == pytest.approx(cost.ms.mean - cost.build_ms.mean, rel=1e-6)
    assert "visible" in repr(overlay)
    overlay.close()
    overlay.close()
    assert "closed" in repr(overlay)
    with pytest.raises(OverlayError):
        overlay.frame(empty)


@pytest.mark.gl
def test_system_table_refreshes_every_n_frames(overlay):
    from gpi.runtime.telemetry import CallRecord

    model = OverlayModel(telemetry=Telemetry())
    tel = model.telemetry
    overlay.refresh_frames = 3
    tel.record_call(CallRecord("a", "p", 0, 0, host_wall_ns=1000))
    first = overlay.table_rows(model)
    assert [r.name for r in first] == ["p/a"]
    tel.record_frame(0, 0, 5000)
    tel.record_call(CallRecord("b", "p", 1, 0, host_wall_ns=1000))
    tel.record_frame(1, 5000, 5000)
    assert overlay.table_rows(model) is first  # held steady between refreshes
    tel.record_frame(2, 10000, 5000)
    assert {r.name for r in overlay.table_rows(model)} == {"p/a", "p/b"}


def test_headless_imports_load_no_sdl_gl_or_imgui():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import gpi.runtime.overlay, gpi.runtime.telemetry, gpi.runtime.loop, gpi.runtime.input\n"
        "bad = [m for m in ('imgui_bundle', 'OpenGL', 'sdl2') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=os.getcwd())


@pytest.mark.gl
def test_second_overlay_while_the_first_is_alive_draws_with_its_own_context(overlay):
    from gpi.runtime.overlay import Overlay

    model = sample_model()
    second = Overlay(overlay._window)
    second.renderer = overlay.renderer
    try:
        for _ in range(2):
            _, img_second = render(second, model)
        _, img_first = render(overlay, model)
    finally:
        second.close()
    for img in (img_first, img_second):
        overlay_px = np.any(img != np.array(SCENE, dtype=np.uint8), axis=-1)
        assert overlay_px[:, : W // 2].mean() > 0.05  # each drew its panel over the scene
