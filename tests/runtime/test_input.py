"""SDL events to per-tick input state, with real SDL_Event structs."""

from __future__ import annotations

import ctypes

import pytest
import sdl2
from hypothesis import given, settings
from hypothesis import strategies as st

from gpi.runtime.input import InputMapper, InputState, key_name


def key_event(kind: int, scancode: int) -> sdl2.SDL_Event:
    ev = sdl2.SDL_Event()
    ev.type = kind
    ev.key.type = kind
    ev.key.keysym.scancode = scancode
    ev.key.keysym.sym = sdl2.SDL_GetKeyFromScancode(scancode)
    ev.key.state = sdl2.SDL_PRESSED if kind == sdl2.SDL_KEYDOWN else sdl2.SDL_RELEASED
    return ev


def motion(x: int, y: int) -> sdl2.SDL_Event:
    ev = sdl2.SDL_Event()
    ev.type = sdl2.SDL_MOUSEMOTION
    ev.motion.type = sdl2.SDL_MOUSEMOTION
    ev.motion.x, ev.motion.y = x, y
    return ev


def button(kind: int, b: int, x: int, y: int) -> sdl2.SDL_Event:
    ev = sdl2.SDL_Event()
    ev.type = kind
    ev.button.type = kind
    ev.button.button = b
    ev.button.x, ev.button.y = x, y
    return ev


def wheel(dx: int, dy: int) -> sdl2.SDL_Event:
    ev = sdl2.SDL_Event()
    ev.type = sdl2.SDL_MOUSEWHEEL
    ev.wheel.type = sdl2.SDL_MOUSEWHEEL
    ev.wheel.x, ev.wheel.y = dx, dy
    return ev


def window_event(which: int, w: int = 0, h: int = 0) -> sdl2.SDL_Event:
    ev = sdl2.SDL_Event()
    ev.type = sdl2.SDL_WINDOWEVENT
    ev.window.type = sdl2.SDL_WINDOWEVENT
    ev.window.event = which
    ev.window.data1, ev.window.data2 = w, h
    return ev


def test_key_names_are_lowercase_scancode_names():
    assert key_name(sdl2.SDL_SCANCODE_A) == "a"
    assert key_name(sdl2.SDL_SCANCODE_SPACE) == "space"
    assert key_name(sdl2.SDL_SCANCODE_F1) == "f1"
    assert key_name(sdl2.SDL_SCANCODE_LEFT) == "left"
    assert key_name(0).startswith("scancode_")


def test_held_keys_and_short_taps():
    m = InputMapper()
    m.handle(key_event(sdl2.SDL_KEYDOWN, sdl2.SDL_SCANCODE_W))
    m.handle(key_event(sdl2.SDL_KEYDOWN, sdl2.SDL_SCANCODE_SPACE))
    m.handle(key_event(sdl2.SDL_KEYUP, sdl2.SDL_SCANCODE_SPACE))  # tap within one tick
    s1 = m.snapshot()
    assert isinstance(s1, InputState)
    assert s1.keys == frozenset({"w", "space"})
    s2 = m.snapshot()  # next tick: only the held key
    assert s2.keys == frozenset({"w"})
    m.handle(key_event(sdl2.SDL_KEYUP, sdl2.SDL_SCANCODE_W))
    assert m.snapshot().keys == frozenset()


def test_mouse_buttons_wheel():
    m = InputMapper()
    m.handle(motion(10, 20))
    m.handle(button(sdl2.SDL_MOUSEBUTTONDOWN, sdl2.SDL_BUTTON_LEFT, 11, 21))
    m.handle(button(sdl2.SDL_MOUSEBUTTONDOWN, sdl2.SDL_BUTTON_RIGHT, 11, 21))
    m.handle(button(sdl2.SDL_MOUSEBUTTONUP, sdl2.SDL_BUTTON_RIGHT, 12, 22))
    m.handle(wheel(0, 3))
    m.handle(wheel(1, -1))
    s = m.snapshot()
    assert s.mouse == (12, 22)
    assert s.buttons == frozenset({1, 3})
    assert s.axes == {"wheel_x": 1.0, "wheel_y": 2.0}
    s = m.snapshot()
    assert s.buttons == frozenset({1}) and s.axes == {}


def test_resize_and_quit():
    m = InputMapper(window_size=(640, 480))
    assert m.window_size == (640, 480) and m.take_resize() is None
    m.handle(window_event(sdl2.SDL_WINDOWEVENT_RESIZED, 800, 600))
    assert m.take_resize() == (800, 600) and m.take_resize() is None
    assert m.window_size == (800, 600)
    assert not m.quit_requested
    m.handle(window_event(sdl2.SDL_WINDOWEVENT_CLOSE))
    assert m.quit_requested
    m2 = InputMapper()
    ev = sdl2.SDL_Event()
    ev.type = sdl2.SDL_QUIT
    m2.handle(ev)
    assert m2.quit_requested


def test_reset_forgets_held_state():
    m = InputMapper()
    m.handle(key_event(sdl2.SDL_KEYDOWN, sdl2.SDL_SCANCODE_A))
    m.handle(button(sdl2.SDL_MOUSEBUTTONDOWN, 1, 0, 0))
    m.reset()
    s = m.snapshot()
    assert s.keys == frozenset() and s.buttons == frozenset()
    assert "InputMapper" in repr(m)


@pytest.fixture
def sdl_video():
    assert sdl2.SDL_InitSubSystem(sdl2.SDL_INIT_VIDEO | sdl2.SDL_INIT_EVENTS) == 0, (
        sdl2.SDL_GetError()
    )
    event = sdl2.SDL_Event()
    while sdl2.SDL_PollEvent(ctypes.byref(event)):
        pass
    yield
    sdl2.SDL_QuitSubSystem(sdl2.SDL_INIT_VIDEO | sdl2.SDL_INIT_EVENTS)


def test_events_through_the_sdl_queue(sdl_video):
    pushed = [
        key_event(sdl2.SDL_KEYDOWN, sdl2.SDL_SCANCODE_D),
        motion(5, 6),
        button(sdl2.SDL_MOUSEBUTTONDOWN, sdl2.SDL_BUTTON_MIDDLE, 5, 6),
        window_event(sdl2.SDL_WINDOWEVENT_SIZE_CHANGED, 320, 200),
    ]
    for ev in pushed:
        assert sdl2.SDL_PushEvent(ctypes.byref(ev)) == 1, sdl2.SDL_GetError()
    quit_ev = sdl2.SDL_Event()
    quit_ev.type = sdl2.SDL_QUIT
    assert sdl2.SDL_PushEvent(ctypes.byref(quit_ev)) == 1
    m = InputMapper()
    assert m.poll() >= 5
    s = m.snapshot()
    assert s.keys == frozenset({"d"})
    assert s.mouse == (5, 6) and s.buttons == frozenset({2})
    assert m.take_resize() == (320, 200)
    assert m.quit_requested


def test_poll_lets_a_consumer_take_events_but_not_quit(sdl_video):
    for ev in (
        key_event(sdl2.SDL_KEYDOWN, sdl2.SDL_SCANCODE_F1),
        key_event(sdl2.SDL_KEYDOWN, sdl2.SDL_SCANCODE_A),
    ):
        assert sdl2.SDL_PushEvent(ctypes.byref(ev)) == 1
    quit_ev = sdl2.SDL_Event()
    quit_ev.type = sdl2.SDL_QUIT
    assert sdl2.SDL_PushEvent(ctypes.byref(quit_ev)) == 1
    seen: list[int] = []

    def consume(ev) -> bool:
        seen.append(int(ev.type))
        return True  # e.g. the overlay has the pointer and the keyboard

    m = InputMapper()
    assert m.poll(consume) == 3
    assert len(seen) == 3
    assert m.snapshot().keys == frozenset()
    assert m.quit_requested


def test_feed_window_events_with_a_consumer():
    events = [
        key_event(sdl2.SDL_KEYDOWN, sdl2.SDL_SCANCODE_F1),
        key_event(sdl2.SDL_KEYDOWN, sdl2.SDL_SCANCODE_S),
        window_event(sdl2.SDL_WINDOWEVENT_SIZE_CHANGED, 300, 200),
    ]
    m = InputMapper()
    # The consumer takes F1 (the overlay toggle) and, wrongly, the window event too.
    taken = {sdl2.SDL_SCANCODE_F1}
    n = m.feed(
        events,
        lambda ev: ev.type == sdl2.SDL_WINDOWEVENT
        or (ev.type == sdl2.SDL_KEYDOWN and ev.key.keysym.scancode in taken),
    )
    assert n == 3
    assert m.snapshot().keys == frozenset({"s"})
    assert m.take_resize() == (300, 200)


_SCANCODES = [sdl2.SDL_SCANCODE_A, sdl2.SDL_SCANCODE_W, sdl2.SDL_SCANCODE_SPACE,
              sdl2.SDL_SCANCODE_LEFT]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.tuples(st.sampled_from(["down", "up"]), st.sampled_from(_SCANCODES)),
            st.just(("tick", 0)),
        ),
        max_size=40,
    )
)
def test_keys_match_a_set_model(script):
    """Held keys follow a set model; a snapshot also holds the taps since the last one."""
    m = InputMapper()
    held: set[str] = set()
    tapped: set[str] = set()
    for op, code in script:
        if op == "tick":
            assert m.snapshot().keys == frozenset(held | tapped)
            tapped.clear()
            continue
        name = key_name(code)
        if op == "down":
            m.handle(key_event(sdl2.SDL_KEYDOWN, code))
            held.add(name)
            tapped.add(name)
        else:
            m.handle(key_event(sdl2.SDL_KEYUP, code))
            held.discard(name)
    assert m.held_keys == frozenset(held)
    assert m.snapshot().keys == frozenset(held | tapped)
