"""The GL renderer drawing draw lists headless: pixels checked, PNGs saved."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from gpi import draw as d
from gpi.draw import DrawList
from gpi.runtime.render import Camera, RenderError
from gpi.runtime.window import Window
from gpi.shm.segment import Segment

REPO = Path(__file__).resolve().parents[2]
RED, GREEN, BLUE, WHITE = (255, 0, 0, 255), (0, 255, 0, 255), (0, 0, 255, 255), (255, 255, 255, 255)


def test_camera_maps_world_screen_and_view():
    cam = Camera(center=(10.0, 20.0), zoom=2.0, viewport=(200, 100))
    assert cam.view_rect() == (-40.0, -5.0, 60.0, 45.0)
    assert cam.world_to_screen(10.0, 20.0) == (100.0, 50.0)
    sx, sy = cam.world_to_screen(-40.0, 45.0)
    assert (sx, sy) == (0.0, 0.0)
    assert cam.screen_to_world(*cam.world_to_screen(3.5, -7.25)) == (3.5, -7.25)
    sx_, sy_, ox, oy = cam.transform()
    assert -40.0 * sx_ + ox == pytest.approx(-1.0) and 45.0 * sy_ + oy == pytest.approx(1.0)
    with pytest.raises(ValueError):
        Camera(zoom=0.0)



@pytest.fixture(scope="module")
def gl():
    from gpi.runtime.render import Renderer

    win = Window(256, 256, "render test", headless=True)
    renderer = Renderer(win)
    yield win, renderer
    renderer.close()
    renderer.close()
    win.close()


def _scene() -> DrawList:
    dl = DrawList.allocate(20_000)
    dl.draw_quads(np.array([[-64, 0]], np.float32), (60, 60), RED, layer=0, rotation=[0.0])
    dl.draw_circles(np.array([[64, 0]], np.float32), 30.0, BLUE, layer=0)
    dl.draw_lines(np.array([[-100, -90]], np.float32), (200, 0), 8.0, GREEN, layer=1)
    dl.text(-100, 110, "GPI", WHITE, scale=3, layer=2)
    dl.finish()
    return dl


def _px(img: np.ndarray, x: float, y: float) -> tuple[int, ...]:
    """Pixel at world (x, y) for a zoom-1 camera centred on the origin of a 256x256 frame."""
    return tuple(int(v) for v in img[int(128 - y), int(128 + x)])


@pytest.mark.gl
def test_known_scene_pixels_and_png(gl, tmp_path):
    win, renderer = gl
    stats = renderer.render([_scene()], Camera(), clear=(0, 0, 0, 1))
    assert stats.errors == [] and stats.lists == 1 and stats.vertices > 0
    img = renderer.read_pixels()
    assert img.shape == (256, 256, 4)
    assert _px(img, -64, 0) == RED
    assert _px(img, 64, 0) == BLUE
    assert _px(img, 0, -90) == GREEN
    assert _px(img, 0, 60) == (0, 0, 0, 255)  # background
    assert _px(img, -64 + 28, 28) == RED and _px(img, -64 + 33, 0) == (0, 0, 0, 255)
    text = img[128 - 110 : 128 - 110 + 33, 128 - 100 : 128 - 100 + 54]
    assert (text == 255).all(axis=2).sum() > 50  # white text pixels where "GPI" is
    path = renderer.save_png(tmp_path / "scene.png")
    renderer.save_png(REPO / "out" / "render_test.png")
    from PIL import Image

    assert np.array_equal(np.asarray(Image.open(path)), img)


@pytest.mark.gl
def test_camera_pan_and_zoom_move_the_scene(gl):
    _, renderer = gl
    renderer.render([_scene()], Camera(center=(-64.0, 0.0), zoom=2.0))
    img = renderer.read_pixels()
    assert tuple(img[128, 128]) == RED  # the quad is now in the middle
    assert tuple(img[128, 128 + 58]) == RED and tuple(img[128, 128 + 62]) != RED  # 60 units * 2 px


@pytest.mark.gl
def test_layers_order_across_lists(gl):
    _, renderer = gl
    one = np.zeros((1, 2), np.float32)
    host, child = DrawList.allocate(100), DrawList.allocate(100)
    host.draw_quads(one, (100, 100), RED, layer=5)  # host list first, but a higher layer
    child.draw_quads(one, (100, 100), BLUE, layer=1)
    child.draw_quads(one + 60, (40, 40), GREEN, layer=5)  # same layer as red: child after host
    host.draw_quads(one + 60, (40, 40), RED, layer=5)
    host.finish()
    child.finish()
    renderer.render([host, child], Camera())
    img = renderer.read_pixels()
    assert _px(img, 0, 0) == RED
    assert _px(img, 60, 60) == GREEN
    renderer.render([child, host], Camera())
    img = renderer.read_pixels()
    assert _px(img, 0, 0) == RED and _px(img, 60, 60) == RED


@pytest.mark.gl
def test_immediate_and_screen_lists_are_drawn_and_cleared(gl):
    _, renderer = gl
    renderer.immediate.circle(0, 0, 20, GREEN, layer=100)
    renderer.screen.rect(0, 0, 20, 20, WHITE)  # bottom-left corner of the window
    renderer.render([_scene()], Camera())
    img = renderer.read_pixels()
    assert _px(img, 0, 0) == GREEN
    assert tuple(img[250, 5]) == WHITE
    renderer.render([], Camera())
    img = renderer.read_pixels()
    assert _px(img, 0, 0) == (0, 0, 0, 255) and tuple(img[250, 5]) == (0, 0, 0, 255)


@pytest.mark.gl
def test_corrupt_list_is_skipped_not_fatal(gl):
    _, renderer = gl
    good = _scene()
    bad = good.buffer.copy()
    bad[16:20] = np.frombuffer(np.uint32(10**8).tobytes(), np.uint8)  # lies about vertex_count
    stats = renderer.render([bad, good, np.zeros(16, np.uint8)], Camera())
    assert stats.lists_skipped == 2 and len(stats.errors) == 2
    assert "draw list 0" in stats.errors[0] and "draw list 2" in stats.errors[1]
    assert _px(renderer.read_pixels(), 64, 0) == BLUE
    with pytest.raises(RenderError, match="draw list 0"):
        renderer.render([bad], Camera(), strict=True)


@pytest.mark.gl
def test_upload_paths_agree(gl):
    _, renderer = gl
    dl = _scene()
    assert renderer.upload_only([dl]) == renderer.upload_only([dl], copy=True) == dl.vertex_count * 12
    renderer.render([dl], Camera(), copy_upload=True)
    a = renderer.read_pixels()
    renderer.render([dl], Camera())
    assert np.array_equal(a, renderer.read_pixels())


CHILD = textwrap.dedent(
    """
    import socket, sys
    import numpy as np
    from gpi.shm.fdpass import recv_with_fds
    from gpi.shm.segment import Segment
    from gpi.draw import DrawList
    sock = socket.socket(fileno=int(sys.argv[1]))
    msg, fds = recv_with_fds(sock)
    seg = Segment.attach(fds[0], msg["size"], readonly=False)
    dl = DrawList(seg)
    dl.set_view(tuple(msg["view"]))
    n = 1000
    pos = np.zeros((n, 2), np.float32)
    pos[:, 0] = np.linspace(-2000, 2000, n)  # most are outside the view: culled
    dl.draw_quads(pos, (10, 10), (255, 0, 255, 255), layer=3)
    dl.finish()
    sock.sendall(b"k")
    """
)


@pytest.mark.gl
@pytest.mark.subprocess
def test_child_process_draw_list_in_shared_memory(gl):
    from gpi.shm.fdpass import send_with_fds

    _, renderer = gl
    host, child = socket.socketpair()
    with Segment.create(d.required_bytes(10_000), "child-drawlist") as seg:
        seg.seal(allow_peer_writes=True)
        env = dict(os.environ, PYTHONPATH=str(REPO))
        proc = subprocess.Popen([sys.executable, "-c", CHILD, str(child.fileno())],
                                pass_fds=[child.fileno()], env=env)
        child.close()
        cam = Camera()
        send_with_fds(host, {"size": seg.size, "view": list(cam.view_rect())}, [seg.fd])
        assert host.recv(1) == b"k"
        assert proc.wait(timeout=60) == 0
        host.close()
        hdr = d.read_header(seg)
        assert 0 < hdr.vertex_count < 1000 * 6  # culled in the child
        stats = renderer.render([seg], cam)
        assert stats.errors == [] and stats.bytes_uploaded == hdr.vertex_count * 12
        img = renderer.read_pixels()
        assert _px(img, 0, 0) in ((255, 0, 255, 255), (0, 0, 0, 255))
        assert (img == np.array([255, 0, 255, 255], np.uint8)).all(axis=2).sum() > 100


@pytest.mark.gl
@pytest.mark.subprocess
def test_renderer_without_a_context_says_so():
    code = (
        "from gpi.runtime.render import Renderer, RenderError\n"
        "try:\n    Renderer()\nexcept RenderError as e:\n    print('ERR', e)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO), SDL_VIDEODRIVER="offscreen", PYOPENGL_PLATFORM="egl")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=60)
    assert "ERR renderer: no current OpenGL context" in out.stdout, out.stderr


def test_importing_render_loads_no_opengl():
    code = "import sys, gpi.runtime.render, gpi.runtime.window; print('OpenGL' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, PYTHONPATH=str(REPO)),
                         capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr


@pytest.mark.gl
def test_render_image_one_shot(tmp_path):
    from gpi.runtime.render import render_image

    img = render_image([_scene()], Camera(), size=(128, 96), png=tmp_path / "shot.png")
    assert img.shape == (96, 128, 4)
    assert tuple(img[48, 14]) == RED  # world (-50, 0): inside the quad
    assert tuple(img[48, 110]) == BLUE  # world (46, 0): inside the circle
    assert (tmp_path / "shot.png").exists()
    with pytest.raises(RenderError):
        bad = np.zeros(8, np.uint8)
        render_image([bad], Camera())
