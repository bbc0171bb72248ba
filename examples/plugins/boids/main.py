"""Plugin 'boids': flocking over a uniform grid.

Every boid looks at the boids in its grid cell (cell size ``CELL``): it steers
toward their centre (cohesion), toward their mean heading (alignment) and away
from the centre when it is too close (separation), plus a little noise from
``ctx.rng``. Per-cell sums are ``np.bincount`` over the cell index, so a tick
is O(n) numpy work with no Python loop over boids. Entities with a ``Player``
component are left alone (the player plugin steers those).
"""

from __future__ import annotations

import numpy as np

from gpi import Plugin

plugin = Plugin("boids")
Position = plugin.component("Position", "float32", (2,))
Velocity = plugin.component("Velocity", "float32", (2,))

ARENA = 100.0
CELL = 5.0
GRID = int(ARENA // CELL)
COHESION, ALIGNMENT, SEPARATION, NOISE = 0.8, 0.5, 2.0, 0.5
MIN_SPEED, MAX_SPEED = 2.0, 20.0


def steer_chunk(pos: np.ndarray, vel: np.ndarray, dt: float, noise: np.ndarray) -> np.ndarray:
    """New velocities for one chunk (pure function: the tests call it directly)."""
    cell = (np.clip((pos // CELL).astype(np.int64), 0, GRID - 1) * np.array([GRID, 1])).sum(axis=1)
    n = np.bincount(cell, minlength=GRID * GRID).astype(np.float32)
    safe = np.maximum(n, 1.0)[:, None]
    centre = np.stack([np.bincount(cell, pos[:, i], GRID * GRID) for i in (0, 1)], axis=1) / safe
    heading = np.stack([np.bincount(cell, vel[:, i], GRID * GRID) for i in (0, 1)], axis=1) / safe
    to_centre = centre[cell] - pos
    dist = np.sqrt((to_centre**2).sum(axis=1, keepdims=True))
    away = np.where(dist < 1.0, -to_centre / np.maximum(dist, 1e-3), 0.0)
    acc = COHESION * to_centre + ALIGNMENT * (heading[cell] - vel) + SEPARATION * away + NOISE * noise
    new = vel + (acc * dt).astype(np.float32)
    speed = np.sqrt((new**2).sum(axis=1, keepdims=True))
    clipped = np.clip(speed, MIN_SPEED, MAX_SPEED)
    return (new * (clipped / np.maximum(speed, 1e-6))).astype(np.float32)


@plugin.system(stage="update", reads=["Position"], writes=["Velocity"], before=["movement.integrate"])
def steer(ctx):
    """Flocking forces on every boid (entities without Player)."""
    for chunk in ctx.query("Position", "Velocity", without=["Player"]):
        noise = ctx.rng.standard_normal((len(chunk), 2)).astype(np.float32)
        ctx.commands.set_chunk(chunk, "Velocity", steer_chunk(chunk["Position"], chunk["Velocity"], ctx.dt, noise))


@plugin.system(stage="render", reads=["Position"])
def draw(ctx):
    """One small quad per boid (needs capability 'draw'; skipped when headless)."""
    if "draw" not in ctx.granted:
        return
    try:
        dl = ctx.draw
    except Exception:  # headless: no draw-list buffer attached
        return
    for chunk in ctx.query("Position", without=["Player"]):
        dl.draw_quads(chunk["Position"], 0.6, (120, 200, 255, 255))
