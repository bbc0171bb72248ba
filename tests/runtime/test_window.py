"""The SDL2 window and its GL context, headless (SDL offscreen driver + Mesa EGL)."""

from __future__ import annotations

import pytest

from gpi.errors import GpiError
from gpi.runtime.window import Window, WindowError, configure_platform, headless_default

pytestmark = pytest.mark.gl


def test_open_poll_resize_close_twice():
    win = Window(200, 120, "test", headless=True)
    try:
        assert win.headless and headless_default()
        assert win.sdl_window and win.gl_context
        assert win.size == (200, 120) and win.drawable_size == (200, 120)
        events = win.poll_events()
        assert isinstance(events, list)
        win.resize(320, 200)
        events = win.poll_events()
        import sdl2

        sizes = [(e.window.data1, e.window.data2) for e in events
                 if e.type == sdl2.SDL_WINDOWEVENT and e.window.event == sdl2.SDL_WINDOWEVENT_SIZE_CHANGED]
        assert (320, 200) in sizes
        assert win.size == (320, 200)
        win.swap()
        assert not win.should_close
        assert "320x200" in repr(win)
    finally:
        win.close()
        win.close()
    assert win.closed and repr(win) == "<Window closed>"
    with pytest.raises(WindowError, match="closed"):
        win.swap()


def test_quit_event_sets_should_close():
    import ctypes

    import sdl2

    with Window(64, 64, headless=True) as win:
        ev = sdl2.SDL_Event()
        ev.type = sdl2.SDL_QUIT
        sdl2.SDL_PushEvent(ctypes.byref(ev))
        events = win.poll_events()
        assert any(e.type == sdl2.SDL_QUIT for e in events)
        assert win.should_close


def test_two_windows_and_bad_sizes():
    with Window(32, 32, headless=True) as a, Window(48, 48, headless=True) as b:
        b.make_current()
        a.make_current()
        assert a.size == (32, 32) and b.size == (48, 48)
    with pytest.raises(WindowError, match="positive") as info:
        Window(0, 10, headless=True)
    assert isinstance(info.value, GpiError)
    with Window(16, 16, headless=True) as w, pytest.raises(WindowError, match="positive"):
        w.resize(-1, 5)


def test_configure_platform_is_idempotent():
    assert configure_platform(True) is True
    assert configure_platform(True) is True
