"""Input state of one tick and its delta encoding.

An :class:`InputState` is everything a simulation may read from the player in
one tick: the keys held, the mouse position, the mouse buttons held and any
number of named analogue axes (gamepad sticks, the wheel, ...). The runtime
maps SDL events onto it (``gpi/runtime/input.py``); replays store it.

Replays store only what changed since the previous tick. A delta is a plain
dict with any of these keys (absent key = no change), so an idle tick is the
empty dict and costs nothing in the file:

========  =====================================================
``kd``    keys pressed this tick (list, sorted)
``ku``    keys released this tick (list, sorted)
``m``     new mouse position ``[x, y]``
``bd``    mouse buttons pressed (list of ints, sorted)
``bu``    mouse buttons released (list of ints, sorted)
``a``     axes set or changed ``{name: value}``
``ar``    axes removed (list of names, sorted)
``=``     the full state (``InputState.to_dict()``); replaces ``prev``
========  =====================================================

The ``=`` form is never made by :func:`diff`; the recorder writes it on
keyframe ticks so that seeking can start from a keyframe without replaying
every delta since the first tick.

Keys are SDL keycodes (ints) or key names (strs). Values are msgpack-native,
so a delta round-trips through the file unchanged and
``apply(prev, diff(prev, cur)) == cur`` holds exactly (floats included).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DELTA_KEYS",
    "EMPTY_INPUT",
    "InputState",
    "apply",
    "diff",
    "full",
    "identical",
    "same_input_dict",
]

Key = int | str

#: the fields an input delta may have
DELTA_KEYS = frozenset({"kd", "ku", "m", "bd", "bu", "a", "ar", "="})


def _sort_keys(keys: Iterable[Key]) -> list[Key]:
    # ints sort before strs; within one type the natural order
    return sorted(keys, key=lambda k: (isinstance(k, str), k))


@dataclass(frozen=True)
class InputState:
    """What the player holds in one tick: keys, mouse position and buttons, axes."""

    keys: frozenset[Key] = frozenset()
    mouse: tuple[float, float] = (0, 0)
    buttons: frozenset[int] = frozenset()
    axes: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "keys", frozenset(self.keys))
        object.__setattr__(self, "buttons", frozenset(self.buttons))
        object.__setattr__(self, "mouse", tuple(self.mouse))
        object.__setattr__(self, "axes", dict(self.axes))
        for k in self.keys:
            if not isinstance(k, int | str) or isinstance(k, bool):
                raise TypeError(f"InputState key {k!r} must be an int keycode or a str name")
        if len(self.mouse) != 2:
            raise ValueError(f"InputState mouse must be (x, y), got {self.mouse!r}")

    def __hash__(self) -> int:
        return hash((self.keys, self.mouse, self.buttons, tuple(sorted(self.axes.items()))))

    def held(self, key: Key) -> bool:
        """Whether ``key`` is held this tick."""
        return key in self.keys

    def axis(self, name: str, default: float = 0.0) -> float:
        """The value of axis ``name`` (``default`` when absent)."""
        return self.axes.get(name, default)

    def to_dict(self) -> dict[str, Any]:
        """A msgpack-ready dict (sorted lists, so equal states give equal bytes)."""
        return {
            "keys": _sort_keys(self.keys),
            "mouse": list(self.mouse),
            "buttons": sorted(self.buttons),
            "axes": {k: self.axes[k] for k in sorted(self.axes)},
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> InputState:
        """The inverse of :meth:`to_dict`."""
        return cls(
            keys=frozenset(d.get("keys", ())),
            mouse=tuple(d.get("mouse", (0, 0))),  # type: ignore[arg-type]
            buttons=frozenset(d.get("buttons", ())),
            axes=dict(d.get("axes", {})),
        )


EMPTY_INPUT = InputState()


def diff(prev: InputState, cur: InputState) -> dict[str, Any]:
    """The delta that turns ``prev`` into ``cur`` (``{}`` when nothing changed)."""
    delta: dict[str, Any] = {}
    if cur.keys != prev.keys:
        down = cur.keys - prev.keys
        up = prev.keys - cur.keys
        if down:
            delta["kd"] = _sort_keys(down)
        if up:
            delta["ku"] = _sort_keys(up)
    pm, cm = prev.mouse, cur.mouse
    if pm is not cm and (
        pm != cm or ((0 in cm) and not (_same(pm[0], cm[0]) and _same(pm[1], cm[1])))
    ):
        delta["m"] = list(cm)
    if cur.buttons != prev.buttons:
        bdown = cur.buttons - prev.buttons
        bup = prev.buttons - cur.buttons
        if bdown:
            delta["bd"] = sorted(bdown)
        if bup:
            delta["bu"] = sorted(bup)
    if (cur.axes or prev.axes) and cur.axes is not prev.axes:  # not "!=": 0.0 == -0.0
        changed = {
            k: v
            for k, v in sorted(cur.axes.items())
            if k not in prev.axes or not _same(prev.axes[k], v)
        }
        removed = sorted(k for k in prev.axes if k not in cur.axes)
        if changed:
            delta["a"] = changed
        if removed:
            delta["ar"] = removed
    return delta


def _same(a: float, b: float) -> bool:
    # value equality that still tells 0.0 from -0.0 and lets NaN equal NaN, so a
    # sign flip the simulation could observe is never dropped from the replay
    if a is b:
        return True
    if a != a:
        return b != b
    return bool(a == b and math.copysign(1, a) == math.copysign(1, b))


def identical(a: Any, b: Any) -> bool:
    """Whether two msgpack-like values are exactly the same: types too, ``-0.0`` is not ``0.0``, NaN is NaN.

    Plain ``==`` says ``1 == 1.0 == True`` and ``0.0 == -0.0``; a simulation
    can tell those apart, so a cache keyed on input values must not.
    """
    t = type(a)
    if t is not type(b):
        return False
    if t is float:
        return _same(a, b)
    if t is list or t is tuple:
        if len(a) != len(b):
            return False
        for x, y in zip(a, b):
            if not identical(x, y):
                return False
        return True
    if t is dict:
        if len(a) != len(b):
            return False
        for k, v in a.items():
            if k not in b or not identical(v, b[k]):
                return False
        return True
    if t is str or t is int or t is bytes or t is bool or a is None:
        return bool(a == b)
    return False  # sets and other types: not worth comparing, never cached


_STATE_FIELDS = ("keys", "mouse", "buttons", "axes")


def same_input_dict(given: Mapping[str, Any], known: Mapping[str, Any]) -> bool:
    """Whether ``InputState.from_dict(given)`` is certainly the state whose ``to_dict()`` is ``known``.

    True only when each of the four fields of ``given`` is :func:`identical`
    to ``known``'s (so an unsorted key list or a missing field just says
    False); the recorder uses it to skip rebuilding an unchanged input.
    """
    get = given.get
    for name in _STATE_FIELDS:
        if not identical(get(name), known.get(name)):
            return False
    return True


def apply(prev: InputState, delta: Mapping[str, Any]) -> InputState:
    """The state after applying ``delta`` (as made by :func:`diff`) to ``prev``."""
    if not delta:
        return prev
    unknown = set(delta) - DELTA_KEYS
    if unknown:
        raise ValueError(
            f"input delta has unknown field(s) {sorted(unknown)}; known: {sorted(DELTA_KEYS)}"
        )
    if "=" in delta:
        return InputState.from_dict(delta["="])
    keys = prev.keys
    if "kd" in delta or "ku" in delta:
        keys = (keys | frozenset(delta.get("kd", ()))) - frozenset(delta.get("ku", ()))
    mouse = tuple(delta["m"]) if "m" in delta else prev.mouse
    buttons = prev.buttons
    if "bd" in delta or "bu" in delta:
        buttons = (buttons | frozenset(delta.get("bd", ()))) - frozenset(delta.get("bu", ()))
    axes: Mapping[str, float] = prev.axes
    if "a" in delta or "ar" in delta:
        new_axes = dict(prev.axes)
        new_axes.update(delta.get("a", {}))
        for name in delta.get("ar", ()):
            new_axes.pop(name, None)
        axes = new_axes
    return InputState(keys=keys, mouse=mouse, buttons=buttons, axes=axes)  # type: ignore[arg-type]


def full(state: InputState) -> dict[str, Any]:
    """A delta that sets the whole state, whatever came before (``{"=": ...}``)."""
    return {"=": state.to_dict()}
