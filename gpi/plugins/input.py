"""``ctx.input``: the tick's input as users expect it (held, just pressed, just released).

The runtime records one input state per tick (:class:`gpi.replays.inputs.InputState`:
``keys`` held or tapped during the tick, ``buttons``, ``mouse`` in window
pixels, ``axes``). Edges need the previous tick too, so the host adds it
(:func:`with_previous`) before any system runs, from a memo it keeps in the
world (``World.changes.prev_input``, carried by snapshots and keyframes, so a
replay that seeks gets the same edges as the straight run).

Two things ride in ``axes`` so that recordings need no new fields: the
pointer in world coordinates (``mouse_world_x``/``mouse_world_y``, set by the
runtime through the camera) and text typed during the tick (``text_0``,
``text_1``, ...: Unicode code points in order).

:class:`Input` is still the plain mapping systems had before
(``ctx.input.get("keys", ())``), with methods on top.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["Input", "text_axes", "with_previous"]

_PREV = "prev"


def with_previous(inp: Mapping[str, Any], memo: dict[str, Any]) -> dict[str, Any]:
    """``inp`` plus ``prev`` (last tick's keys and buttons, from ``memo``); ``memo`` becomes this tick's."""
    out = dict(inp)
    keys = sorted(str(k) for k in inp.get("keys", ()))
    buttons = sorted(int(b) for b in inp.get("buttons", ()))
    out[_PREV] = {"keys": list(memo.get("keys", ())), "buttons": list(memo.get("buttons", ()))}
    memo.clear()
    if keys:
        memo["keys"] = keys
    if buttons:
        memo["buttons"] = buttons
    return out


def text_axes(text: str) -> dict[str, float]:
    """The ``text_N`` axes that carry ``text`` in a recorded input state."""
    return {f"text_{i}": float(ord(c)) for i, c in enumerate(text)}


class Input(Mapping[str, Any]):
    """One tick's input for a system: a read-only mapping plus edge queries.

    Keys are SDL scancode names in lower case (``"a"``, ``"space"``,
    ``"left"``, ``"return"``, ``"left shift"``, ``"f1"``); mouse buttons are 1
    (left), 2 (middle), 3 (right).
    """

    def __init__(self, state: Mapping[str, Any]) -> None:
        self._state = dict(state)
        prev = self._state.get(_PREV) or {}
        self._keys = frozenset(str(k) for k in self._state.get("keys", ()))
        self._buttons = frozenset(int(b) for b in self._state.get("buttons", ()))
        self._prev_keys = frozenset(str(k) for k in prev.get("keys", ()))
        self._prev_buttons = frozenset(int(b) for b in prev.get("buttons", ()))

    # -- the mapping (what systems read before) ---------------------------------------

    def __getitem__(self, key: str) -> Any:
        return self._state[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._state)

    def __len__(self) -> int:
        return len(self._state)

    # -- keys -------------------------------------------------------------------------

    def pressed(self, key: str) -> bool:
        """Whether ``key`` is held this tick (or was tapped during it)."""
        return key.lower() in self._keys

    def just_pressed(self, key: str) -> bool:
        """Whether ``key`` is down this tick and was not last tick."""
        k = key.lower()
        return k in self._keys and k not in self._prev_keys

    def just_released(self, key: str) -> bool:
        """Whether ``key`` was down last tick and is not this tick."""
        k = key.lower()
        return k in self._prev_keys and k not in self._keys

    @property
    def keys_pressed(self) -> frozenset[str]:
        """Every key held this tick."""
        return self._keys

    @property
    def keys_just_pressed(self) -> frozenset[str]:
        """Keys that went down this tick."""
        return self._keys - self._prev_keys

    @property
    def keys_just_released(self) -> frozenset[str]:
        """Keys that went up this tick."""
        return self._prev_keys - self._keys

    # -- mouse ------------------------------------------------------------------------

    def mouse_pressed(self, button: int = 1) -> bool:
        """Whether mouse ``button`` is held this tick."""
        return int(button) in self._buttons

    def mouse_just_pressed(self, button: int = 1) -> bool:
        """Whether mouse ``button`` went down this tick."""
        return int(button) in self._buttons and int(button) not in self._prev_buttons

    def mouse_just_released(self, button: int = 1) -> bool:
        """Whether mouse ``button`` went up this tick."""
        return int(button) in self._prev_buttons and int(button) not in self._buttons

    @property
    def mouse_screen(self) -> tuple[float, float]:
        """The pointer in window pixels (origin top left)."""
        m = self._state.get("mouse") or (0, 0)
        return float(m[0]), float(m[1])

    @property
    def mouse_world(self) -> tuple[float, float] | None:
        """The pointer in world units through the runtime's camera (None when headless / not given)."""
        axes = self._state.get("axes") or {}
        if "mouse_world_x" not in axes:
            return None
        return float(axes["mouse_world_x"]), float(axes["mouse_world_y"])

    @property
    def text(self) -> str:
        """Text typed during this tick (from the ``text_N`` axes), in order."""
        axes = self._state.get("axes") or {}
        out = []
        i = 0
        while f"text_{i}" in axes:
            out.append(chr(int(axes[f"text_{i}"])))
            i += 1
        return "".join(out)

    def axis(self, name: str, default: float = 0.0) -> float:
        """Axis ``name`` (``wheel_x``, ``wheel_y``, ...), ``default`` when absent."""
        return float((self._state.get("axes") or {}).get(name, default))

    def __repr__(self) -> str:
        return f"<Input keys={sorted(self._keys)} buttons={sorted(self._buttons)} mouse={self.mouse_screen}>"
