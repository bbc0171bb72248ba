"""Built-in render components: what the draw-list kernels know how to draw.

Each is one structured component, so an entity carries all its drawing data in
one column and a query chunk hands the kernel its fields as strided views (no
copy; see :mod:`gpi.draw`). Positions are the user's own
``Position`` component (``float32[2]``, the shape's centre, or a line's start).

Record layouts (packed, little-endian, every field 4-byte aligned)::

    Quad    20 bytes: size float32[2] (width, height) @0, rotation float32
                      (radians, counter-clockwise) @8, color uint8[4] RGBA @12,
                      layer int32 @16
    Circle  12 bytes: radius float32 @0, color uint8[4] @4, layer int32 @8
    Line    20 bytes: end float32[2] (offset from Position) @0, width float32 @8,
                      color uint8[4] @12, layer int32 @16

``layer`` must lie in [-32768, 32767]; lower layers draw first (underneath).
:func:`quad`, :func:`circle` and :func:`line` build column values for spawning.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gpi.ecs.component import Component

__all__ = [
    "CIRCLE_DTYPE",
    "LINE_DTYPE",
    "QUAD_DTYPE",
    "RENDER_COMPONENTS",
    "Circle",
    "Line",
    "Quad",
    "circle",
    "line",
    "quad",
]

QUAD_DTYPE = np.dtype(
    [("size", "<f4", (2,)), ("rotation", "<f4"), ("color", "u1", (4,)), ("layer", "<i4")]
)
CIRCLE_DTYPE = np.dtype([("radius", "<f4"), ("color", "u1", (4,)), ("layer", "<i4")])
LINE_DTYPE = np.dtype(
    [("end", "<f4", (2,)), ("width", "<f4"), ("color", "u1", (4,)), ("layer", "<i4")]
)

Quad = Component("Quad", QUAD_DTYPE)
Circle = Component("Circle", CIRCLE_DTYPE)
Line = Component("Line", LINE_DTYPE)
RENDER_COMPONENTS = (Quad, Circle, Line)


def _fill(dtype: np.dtype, n: int, **fields: Any) -> np.ndarray:
    out = np.zeros(n, dtype=dtype)
    for name, value in fields.items():
        out[name] = value
    return out


def quad(n: int, size: Any, color: Any, layer: Any = 0, rotation: Any = 0.0) -> np.ndarray:
    """``n`` Quad values (each argument one value for all, or one per entity)."""
    return _fill(QUAD_DTYPE, n, size=size, rotation=rotation, color=color, layer=layer)


def circle(n: int, radius: Any, color: Any, layer: Any = 0) -> np.ndarray:
    """``n`` Circle values."""
    return _fill(CIRCLE_DTYPE, n, radius=radius, color=color, layer=layer)


def line(n: int, end: Any, width: Any, color: Any, layer: Any = 0) -> np.ndarray:
    """``n`` Line values (``end`` is the offset of the far end from the entity's Position)."""
    return _fill(LINE_DTYPE, n, end=end, width=width, color=color, layer=layer)
