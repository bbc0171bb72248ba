"""The scene the host draws itself: the arena, its entities, and the camera that fits it.

One picture, drawn the same way by the live app (:class:`gpi.runtime.app.App`)
and by replay rendering (:mod:`gpi.runtime.replay.render`), so a replay's
PNG shows what the window showed:

- the arena frame, a square of side :data:`ARENA` (world units) from the
  origin, the one the example plugins move in (layer -10);
- when asked (the app does it when no plugin draws), every entity with a
  ``Position`` as a small quad, tinted by its ``Tint`` where it has one; an
  entity with a ``Velocity`` carries its last tick's displacement
  (``Velocity * dt``) as motion, so the renderer interpolates it between
  ticks. The quads are capped by the draw list's capacity (the vertex
  budget): entities past it are not drawn rather than overflowing the list;
- every ``Player`` entity larger and yellow on top (layer 5).

:func:`arena_camera` is the one camera fit: the whole arena with a small
margin, optionally beside a panel of ``left`` pixels (the overlay).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from gpi.draw import DrawList
from gpi.runtime.render.camera import Camera

__all__ = [
    "ARENA",
    "SCENE_VERTICES",
    "arena_camera",
    "draw_scene",
    "scene_drawlist",
]

ARENA = 100.0
"""Side of the square arena the example plugins use (world units); the default camera fits it."""

SCENE_VERTICES = 1 << 18
"""Vertex capacity of the host's scene list: about 43,000 entity quads (6 vertices each)."""

_MARGIN = 1.08  # the arena fills the shorter side of the view but for this margin
_FRAME = (90, 100, 130, 255)
_ENTITY = (120, 200, 255, 255)
_PLAYER = (255, 210, 40, 255)
_RESERVED = 64  # vertices kept free for the frame and the players, in quads


def scene_drawlist(vertices: int = SCENE_VERTICES) -> DrawList:
    """A private draw list for :func:`draw_scene`, with a motion stream (entities interpolate)."""
    return DrawList.allocate(vertices, motion=True)


def arena_camera(size: tuple[int, int], *, center: Sequence[float] | None = None, zoom: float | None = None,
                 left: float = 0.0) -> Camera:
    """A camera over ``size`` pixels that shows the arena beside a panel ``left`` pixels wide.

    ``center`` defaults to the arena's centre and ``zoom`` (pixels per world
    unit) to the fit of the whole arena in what the panel leaves.
    """
    w, h = int(size[0]), int(size[1])
    cx, cy = (ARENA / 2, ARENA / 2) if center is None else (float(center[0]), float(center[1]))
    z = zoom or min(w - left, h) / (ARENA * _MARGIN)
    return Camera(center=(cx - left / 2 / z, cy), zoom=z, viewport=(w, h))


def draw_scene(world: Any, dl: DrawList, *, entities: bool = True, dt: float = 0.0) -> None:
    """Fill ``dl`` with the arena frame, (optionally) every entity, and the players (see module doc).

    ``dt`` is the fixed step: an entity's motion is ``Velocity * dt`` (0: no
    motion). The list is cleared first and finished last.
    """
    dl.clear()
    for x0, y0, x1, y1 in ((0, 0, ARENA, 0), (ARENA, 0, ARENA, ARENA), (ARENA, ARENA, 0, ARENA),
                           (0, ARENA, 0, 0)):
        dl.line(x0, y0, x1, y1, _FRAME, width=0.4, layer=-10)
    comps = world.components
    if "Position" not in comps:
        dl.finish()
        return
    has_player = "Player" in comps
    if entities:
        budget = dl.vertex_capacity // 6 - _RESERVED
        skip = ["Player"] if has_player else []
        tinted = "Tint" in comps
        queries = [(world.query("Position", "Tint", without=skip), True)] if tinted else []
        queries.append((world.query("Position", without=[*skip, *(["Tint"] if tinted else [])]), False))
        step = np.float32(dt)
        for chunks, has_tint in queries:
            for chunk in chunks:
                n = min(len(chunk), budget)
                if n <= 0:
                    continue
                color: Any = _ENTITY
                if has_tint:
                    color = np.array(chunk["Tint"][:n])
                    color[:, 3] = 255
                motion = None
                if dt and "Velocity" in chunk.components:
                    motion = chunk["Velocity"][:n] * step  # this tick's displacement, as movement integrates it
                dl.draw_quads(chunk["Position"][:n], 0.8, color, motion=motion)
                budget -= n
    if has_player:
        for chunk in world.query("Position", with_=["Player"]):
            if len(chunk):
                dl.draw_quads(chunk["Position"], 2.5, _PLAYER, layer=5)
    dl.finish()
