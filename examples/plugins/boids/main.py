"""Plugin 'boids': flocking over a uniform grid.

Every boid looks at the boids in its grid cell (cell size ``CELL``): it steers
toward their centre (cohesion), toward their mean heading (alignment) and away
from the centre when it is too close (separation), plus a little uniform noise
from ``ctx.rng``. Per-cell sums are ``np.bincount`` over the cell index, so a tick
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
COHESION, ALIGNMENT, SEPARATION, NOISE = (np.float32(x) for x in (0.8, 0.5, 2.0, 0.5))
MIN_SPEED, MAX_SPEED = np.float32(2.0), np.float32(20.0)


def steer_chunk(pos: np.ndarray, vel: np.ndarray, dt: float, noise: np.ndarray) -> np.ndarray:
    """New velocities for one chunk (pure function: the tests call it directly).

    Written over contiguous columns: reductions over a length-2 axis
    (``.sum(axis=1)``) and strided column math are several times slower in
    numpy. The four per-cell means are gathered back in one fancy index.
    """
    px, py = np.ascontiguousarray(pos[:, 0]), np.ascontiguousarray(pos[:, 1])
    vx, vy = np.ascontiguousarray(vel[:, 0]), np.ascontiguousarray(vel[:, 1])
    inv_cell = np.float32(1.0 / CELL)
    cx = np.clip((px * inv_cell).astype(np.int32), 0, GRID - 1)
    cy = np.clip((py * inv_cell).astype(np.int32), 0, GRID - 1)
    cell = cx * GRID + cy
    cells = GRID * GRID
    inv_n = 1.0 / np.maximum(np.bincount(cell, minlength=cells), 1)
    means = np.empty((cells, 4), np.float32)
    for i, column in enumerate((px, py, vx, vy)):
        means[:, i] = np.bincount(cell, column, cells) * inv_n
    mine = means[cell]  # (n, 4): the cell's mean position and heading, per boid
    tx, ty = mine[:, 0] - px, mine[:, 1] - py  # towards the cell's centre
    hx, hy = mine[:, 2] - vx, mine[:, 3] - vy  # towards the cell's heading
    dist = np.sqrt(tx * tx + ty * ty)
    push = np.where(dist < 1.0, -SEPARATION / np.maximum(dist, np.float32(1e-3)), np.float32(0.0))
    f = np.float32(dt)
    ax = COHESION * tx + ALIGNMENT * hx + push * tx + NOISE * noise[:, 0]
    ay = COHESION * ty + ALIGNMENT * hy + push * ty + NOISE * noise[:, 1]
    nx, ny = vx + ax * f, vy + ay * f
    speed = np.sqrt(nx * nx + ny * ny)
    scale = np.clip(speed, MIN_SPEED, MAX_SPEED) / np.maximum(speed, np.float32(1e-6))
    out = np.empty_like(vel)
    out[:, 0] = nx * scale
    out[:, 1] = ny * scale
    return out


@plugin.system(stage="update", reads=["Position"], writes=["Velocity"], before=["movement.integrate"])
def steer(ctx):
    """Flocking forces on every boid (entities without Player)."""
    for chunk in ctx.query("Position", "Velocity", without=["Player"]):
        noise = ctx.rng.random((len(chunk), 2), dtype=np.float32) - np.float32(0.5)
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
