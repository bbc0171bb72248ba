"""Render interpolation: shapes with motion drawn alpha of the way between two ticks (real GL)."""

from __future__ import annotations

import numpy as np
import pytest

from gpi.draw import DrawList
from gpi.runtime.render import Camera
from gpi.runtime.window import Window
from gpi.shm.segment import Segment

RED, BLUE, BLACK = (255, 0, 0, 255), (0, 0, 255, 255), (0, 0, 0, 255)

pytestmark = pytest.mark.gl


@pytest.fixture(scope="module")
def gl():
    from gpi.runtime.render import Renderer

    win = Window(256, 256, "interpolation test", headless=True)
    renderer = Renderer(win)
    yield renderer
    renderer.close()
    win.close()


def _px(img: np.ndarray, x: float, y: float) -> tuple[int, ...]:
    """Pixel at world (x, y) for a zoom-1 camera centred on the origin of a 256x256 frame."""
    return tuple(int(v) for v in img[int(128 - y), int(128 + x)])


def _red_span(img: np.ndarray, y: float = 0.0) -> tuple[int, int]:
    """World x of the first and last red pixel on row ``y``."""
    xs = np.flatnonzero((img[int(128 - y), :, :3] == RED[:3]).all(axis=1))
    return int(xs[0]) - 128, int(xs[-1]) - 128


def _moving(kind: str = "quad") -> DrawList:
    """A red shape now at x = 40 that moved +80 in x during the last tick (it was at -40)."""
    dl = DrawList.allocate(1000)
    pos, motion = np.array([[40, 0]], np.float32), np.array([[80, 0]], np.float32)
    if kind == "quad":
        dl.draw_quads(pos, 20, RED, motion=motion)
    elif kind == "circle":
        dl.draw_circles(pos, 10.0, RED, motion=motion)
    else:
        dl.draw_lines(pos - (10, 0), (20, 0), 20.0, RED, motion=motion)
    dl.finish()
    return dl


@pytest.mark.parametrize("kind", ["quad", "circle", "line"])
def test_alpha_places_a_moving_shape_between_its_two_positions(gl, kind):
    dl = _moving(kind)
    for alpha, centre in ((0.0, -40), (0.25, -20), (0.5, 0), (1.0, 40)):
        stats = gl.render([dl], Camera(), alpha=alpha)
        img = gl.read_pixels()
        assert stats.moving_lists == (1 if alpha < 1 else 0)
        lo, hi = _red_span(img)
        assert abs((lo + hi) / 2 - centre) <= 1, (kind, alpha, lo, hi)
        assert 17 <= hi - lo + 1 <= 21  # 20 units wide wherever it is drawn
        assert _px(img, centre, 0) == RED
        for other in {-40, 0, 40} - {centre}:
            assert _px(img, other, 0) == BLACK


def test_alpha_one_is_exactly_the_tick(gl):
    moving, still = _moving(), DrawList.allocate(1000)
    still.draw_quads(np.array([[40, 0]], np.float32), 20, RED)
    still.finish()
    gl.render([moving], Camera(), alpha=1.0)
    a = gl.read_pixels()
    gl.render([still], Camera())
    assert np.array_equal(a, gl.read_pixels())


def test_lists_without_motion_do_not_move_for_any_alpha(gl):
    dl = DrawList.allocate(1000)
    dl.draw_quads(np.array([[40, 0]], np.float32), 20, RED)
    dl.draw_circles(np.array([[-60, 50]], np.float32), 15.0, BLUE)
    dl.text(-100, -60, "GPI", (255, 255, 255), scale=3)
    dl.finish()
    gl.render([dl], Camera())
    ref = gl.read_pixels()
    for alpha in (0.0, 0.3, 0.999):
        stats = gl.render([dl], Camera(), alpha=alpha)
        assert stats.moving_lists == 0
        assert np.array_equal(gl.read_pixels(), ref)


def test_still_and_moving_lists_and_shapes_together(gl):
    """Shapes without motion (in a moving list, or in lists without a stream) stay put."""
    moving = DrawList.allocate(1000)
    moving.rect(-70, 60, 20, 20, BLUE)  # immediate shape: zero motion
    moving.draw_quads(np.array([[40, 0]], np.float32), 20, RED, motion=[[80, 0]])
    moving.draw_quads(np.array([[60, -60]], np.float32), 20, BLUE)  # no motion column
    moving.finish()
    still = DrawList.allocate(1000)
    still.draw_quads(np.array([[-60, -60]], np.float32), 20, BLUE)
    still.finish()
    for order in ([still, moving], [moving, still]):
        stats = gl.render(order, Camera(), alpha=0.0)
        img = gl.read_pixels()
        assert stats.moving_lists == 1
        assert _px(img, -40, 0) == RED and _px(img, 40, 0) == BLACK
        assert _px(img, -60, 70) == BLUE and _px(img, 60, -60) == BLUE and _px(img, -60, -60) == BLUE


def test_copy_upload_and_a_shared_memory_segment_agree(gl):
    dl = _moving()
    gl.render([dl], Camera(), alpha=0.5)
    direct = gl.read_pixels()
    gl.render([dl], Camera(), alpha=0.5, copy_upload=True)
    assert np.array_equal(direct, gl.read_pixels())
    with Segment.create(dl.buffer.size, "interp") as seg:  # as a child process draws
        child = DrawList(seg)
        child.draw_quads(np.array([[40, 0]], np.float32), 20, RED, motion=np.array([[80, 0]], np.float32))
        child.finish()
        gl.render([seg], Camera(), alpha=0.5)
        assert np.array_equal(direct, gl.read_pixels())
    assert gl.upload_only([dl], motion=True) == dl.vertex_count * 20


def test_a_bad_motion_offset_is_skipped_not_fatal(gl):
    bad = _moving().buffer.copy()
    bad[48:52] = np.frombuffer(np.uint32(bad.size - 4).tobytes(), np.uint8)
    stats = gl.render([bad], Camera(), alpha=0.5)
    assert stats.lists_skipped == 1 and "motion_offset" in stats.errors[0]


# -- the app and the example plugins ------------------------------------------------------------


def _app_config(**kw):
    from gpi.runtime.app import AppConfig
    from gpi.runtime.config import demo_plugin_dirs

    return AppConfig(plugins=demo_plugin_dirs(names=("spawner", "movement", "boids")), isolation="none",
                     population=60, headless=True, overlay=False, width=128, height=128, memory_every=0,
                     seed=5, **kw)


def test_boids_draw_their_last_tick_displacement_as_motion():
    from gpi import draw as d
    from gpi.runtime.app import App

    with App(_app_config()) as app:
        app.run_headless(3)
        seg = app.host.drawlist("boids")
        hdr = d.read_header(seg)
        assert hdr.has_motion and hdr.vertex_count == 6 * 60
        per_quad = d.motion_view(seg, hdr)[::6]
        vel = np.concatenate([c["Velocity"] for c in app.world.query("Velocity")])
        expected = vel * np.float32(app.loop.dt)
        key = np.lexsort(per_quad.T)
        assert np.array_equal(per_quad[key], expected[np.lexsort(expected.T)])
        # a frame between two ticks draws the boids list with its motion stream
        stats = app.renderer.render(app.drawlists(), app.camera(), alpha=0.5)
        assert stats.moving_lists == 2 and stats.errors == []  # the host's list (arena frame) too


def test_windowed_loop_renders_between_ticks():
    from gpi.runtime.app import App

    now = [0.0]

    def clock() -> float:  # 7 ms per reading: frames fall between the 60 Hz ticks
        now[0] += 0.007
        return now[0]

    alphas: list[float] = []
    with App(_app_config(), clock=clock) as app:
        app.start()
        render = app.render_frame

        def spy(**kw):
            alphas.append(kw.get("alpha", 1.0))
            return render(**kw)

        app.render_frame = spy  # type: ignore[method-assign]
        app.run_window(None, max_frames=40)
    assert alphas and all(0.0 <= a <= 1.0 for a in alphas)
    assert any(0.0 < a < 1.0 for a in alphas)


def test_host_drawn_entities_carry_their_velocity_as_motion():
    from gpi import draw as d
    from gpi.runtime.app import App, AppConfig
    from gpi.runtime.config import demo_plugin_dirs

    cfg = AppConfig(plugins=demo_plugin_dirs(names=("spawner", "movement")), isolation="none",
                    population=30, headless=True, overlay=False, width=128, height=128, memory_every=0)
    with App(cfg) as app:
        app.run_headless(2)
        hdr = d.read_header(app.host_drawlist.buffer)
        per_quad = d.motion_view(app.host_drawlist.buffer, hdr)[24::6]  # after the 4 arena edges
        assert hdr.has_motion and len(per_quad) == 30
        assert np.abs(per_quad).max() > 0 and not d.motion_view(app.host_drawlist.buffer, hdr)[:24].any()
        app.render_frame(alpha=0.5)
        assert app.last_frame_stats.moving_lists == 1
