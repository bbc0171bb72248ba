"""SDL2 events to a per-tick input state.

The window produces SDL events at frame rate; systems read input once per
*tick*. :class:`InputMapper` sits between the two: it folds every SDL event
(keyboard, mouse motion, buttons, wheel, window resize, quit) into running
state, and :meth:`InputMapper.snapshot` hands out one immutable
``InputState`` per tick, the value the recorder stores and systems read
through the SDK.

Per-tick semantics:

- ``keys``: names of the keys held at the snapshot, plus keys pressed since
  the previous snapshot even if already released (a tap shorter than a tick
  is never lost). Names are SDL scancode names, lower case (``"a"``,
  ``"space"``, ``"left"``, ``"f1"``): physical keys, independent of the
  keyboard layout, so a replay means the same thing everywhere.
- ``buttons``: SDL mouse button numbers held (1 left, 2 middle, 3 right),
  plus buttons clicked since the previous snapshot.
- ``mouse``: last pointer position in window pixels.
- ``axes``: ``wheel_x``/``wheel_y``, wheel movement since the previous
  snapshot (absent when zero, so an idle tick has an empty dict).

Quit requests and window resizes are host matters, not simulation input:
they are kept on the mapper (:attr:`InputMapper.quit_requested`,
:meth:`InputMapper.take_resize`).

Only SDL's event structs are needed here (``sdl2`` is imported lazily in
:meth:`InputMapper.poll`); mapping works on any ``SDL_Event``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from gpi.replays.inputs import InputState  # the replay format owns the canonical InputState

__all__ = ["InputMapper", "InputState", "key_name"]

# SDL2 event type numbers (SDL_events.h); stable ABI values, duplicated here so
# mapping needs no SDL import.
_SDL_QUIT = 0x100
_SDL_WINDOWEVENT = 0x200
_SDL_KEYDOWN = 0x300
_SDL_KEYUP = 0x301
_SDL_MOUSEMOTION = 0x400
_SDL_MOUSEBUTTONDOWN = 0x401
_SDL_MOUSEBUTTONUP = 0x402
_SDL_MOUSEWHEEL = 0x403
_SDL_TEXTINPUT = 0x303
# SDL_WindowEventID values.
_SDL_WINDOWEVENT_RESIZED = 5
_SDL_WINDOWEVENT_SIZE_CHANGED = 6
_SDL_WINDOWEVENT_CLOSE = 14


def key_name(scancode: int) -> str:
    """The lower-case SDL name of a physical key (``"scancode_<n>"`` if SDL has none)."""
    import sdl2

    raw = sdl2.SDL_GetScancodeName(int(scancode))
    name = raw.decode("utf-8", "replace").lower() if raw else ""
    return name or f"scancode_{int(scancode)}"


class InputMapper:
    """Folds SDL events into state and hands out one InputState per tick."""

    def __init__(self, window_size: tuple[int, int] = (0, 0)) -> None:
        self._held_keys: set[str] = set()
        self._tapped_keys: set[str] = set()
        self._held_buttons: set[int] = set()
        self._tapped_buttons: set[int] = set()
        self._mouse: tuple[int, int] = (0, 0)
        self._wheel_x = 0.0
        self._wheel_y = 0.0
        self._text: list[str] = []
        self._window_size = (int(window_size[0]), int(window_size[1]))
        self._resized: tuple[int, int] | None = None
        self._names: dict[int, str] = {}
        self.quit_requested = False
        """True once a quit event or a window close arrived."""
        self.events_seen = 0
        """Events handled so far (of any type)."""

    @property
    def window_size(self) -> tuple[int, int]:
        """The window size from the latest resize event (or the initial size)."""
        return self._window_size

    @property
    def mouse(self) -> tuple[int, int]:
        """The pointer position in window pixels."""
        return self._mouse

    @property
    def held_keys(self) -> frozenset[str]:
        """Keys down right now."""
        return frozenset(self._held_keys)

    def _name(self, scancode: int) -> str:
        name = self._names.get(scancode)
        if name is None:
            name = self._names[scancode] = key_name(scancode)
        return name

    def handle(self, event: Any) -> None:
        """Fold one ``SDL_Event`` into the running state."""
        self.events_seen += 1
        etype = int(event.type)
        if etype == _SDL_KEYDOWN:
            name = self._name(int(event.key.keysym.scancode))
            self._held_keys.add(name)
            self._tapped_keys.add(name)
        elif etype == _SDL_KEYUP:
            self._held_keys.discard(self._name(int(event.key.keysym.scancode)))
        elif etype == _SDL_MOUSEMOTION:
            self._mouse = (int(event.motion.x), int(event.motion.y))
        elif etype == _SDL_MOUSEBUTTONDOWN:
            button = int(event.button.button)
            self._held_buttons.add(button)
            self._tapped_buttons.add(button)
            self._mouse = (int(event.button.x), int(event.button.y))
        elif etype == _SDL_MOUSEBUTTONUP:
            self._held_buttons.discard(int(event.button.button))
            self._mouse = (int(event.button.x), int(event.button.y))
        elif etype == _SDL_TEXTINPUT:
            self._text.append(bytes(event.text.text).split(b"\0", 1)[0].decode("utf-8", "replace"))
        elif etype == _SDL_MOUSEWHEEL:
            self._wheel_x += float(event.wheel.x)
            self._wheel_y += float(event.wheel.y)
        elif etype == _SDL_WINDOWEVENT:
            wev = int(event.window.event)
            if wev in (_SDL_WINDOWEVENT_RESIZED, _SDL_WINDOWEVENT_SIZE_CHANGED):
                size = (int(event.window.data1), int(event.window.data2))
                self._window_size = size
                self._resized = size
            elif wev == _SDL_WINDOWEVENT_CLOSE:
                self.quit_requested = True
        elif etype == _SDL_QUIT:
            self.quit_requested = True

    def feed(self, events: Iterable[Any], consume: Callable[[Any], bool] | None = None) -> int:
        """Handle already-polled events (e.g. ``Window.poll_events()``); return the count.

        ``consume`` (e.g. ``Overlay.handle_event``) sees each event first; an
        event it returns True for does not become game input. Quit and window
        events always reach the mapper.
        """
        count = 0
        for event in events:
            count += 1
            taken = consume(event) if consume is not None else False
            if not taken or int(event.type) in (_SDL_QUIT, _SDL_WINDOWEVENT):
                self.handle(event)
        return count

    def poll(
        self, consume: Callable[[Any], bool] | None = None, limit: int | None = None
    ) -> int:
        """Drain SDL's event queue (``SDL_PollEvent``) into the mapper; return the count.

        ``consume`` (e.g. ``Overlay.handle_event``) sees each event first; an
        event it returns True for does not become game input. Quit and window
        events always reach the mapper.
        """
        import ctypes

        import sdl2

        event = sdl2.SDL_Event()
        count = 0
        while (limit is None or count < limit) and sdl2.SDL_PollEvent(ctypes.byref(event)):
            count += self.feed((event,), consume)
        return count

    def take_resize(self) -> tuple[int, int] | None:
        """The new window size if it changed since the last call, else None."""
        size, self._resized = self._resized, None
        return size

    def snapshot(self, to_world: Callable[[float, float], tuple[float, float]] | None = None) -> InputState:
        """The input for one tick; clears taps, text and wheel movement for the next tick.

        ``to_world`` (e.g. ``Camera.screen_to_world``) adds the pointer in world
        units as axes ``mouse_world_x``/``mouse_world_y``; text typed since the
        last snapshot rides as ``text_N`` axes (see :mod:`gpi.plugins.input`).
        """
        axes: dict[str, float] = {}
        if to_world is not None:
            wx, wy = to_world(float(self._mouse[0]), float(self._mouse[1]))
            axes["mouse_world_x"], axes["mouse_world_y"] = float(wx), float(wy)
        for i, ch in enumerate("".join(self._text)):
            axes[f"text_{i}"] = float(ord(ch))
        self._text.clear()
        if self._wheel_x:
            axes["wheel_x"] = self._wheel_x
        if self._wheel_y:
            axes["wheel_y"] = self._wheel_y
        state = InputState(
            keys=frozenset(self._held_keys | self._tapped_keys),
            mouse=self._mouse,
            buttons=frozenset(self._held_buttons | self._tapped_buttons),
            axes=axes,
        )
        self._tapped_keys.clear()
        self._tapped_buttons.clear()
        self._wheel_x = self._wheel_y = 0.0
        return state

    def reset(self) -> None:
        """Forget every held key and button (e.g. when the window loses focus)."""
        self._held_keys.clear()
        self._tapped_keys.clear()
        self._held_buttons.clear()
        self._tapped_buttons.clear()
        self._wheel_x = self._wheel_y = 0.0
        self._text.clear()

    def __repr__(self) -> str:
        return (
            f"InputMapper(keys={sorted(self._held_keys)}, mouse={self._mouse}, "
            f"window={self._window_size}, quit={self.quit_requested})"
        )
