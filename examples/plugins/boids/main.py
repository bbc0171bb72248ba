"""Plugin 'boids': flocking over a uniform grid.

Every boid looks at the boids in its grid cell (cell size ``CELL``): it steers
toward their centre (cohesion), toward their mean heading (alignment) and away
from the centre when it is too close (separation), plus a little uniform noise
from ``ctx.rng``. Per-cell sums are ``np.bincount`` over the cell index, so a tick
is O(n) numpy work with no Python loop over boids. Entities with a ``Player``
component are left alone (the player plugin steers those).

Cost at 10k boids is a few dozen whole-array numpy passes (see
:func:`steer_chunk`); the per-cell sums are five ``bincount`` calls.
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


def _c(a: np.ndarray) -> np.ndarray:
    """A contiguous float32 ``(n, 2)`` array seen as ``n`` complex64 values (a free view)."""
    return a.view(np.complex64).reshape(-1)


def _f(z: np.ndarray) -> np.ndarray:
    """The inverse view of :func:`_c`: ``n`` complex64 values as float32 ``(n, 2)``."""
    return z.view(np.float32).reshape(-1, 2)


def cell_of(pos: np.ndarray) -> np.ndarray:
    """The grid cell index (``intp``) of every position, clamped into the grid (NaN lands in row 0)."""
    gi = (pos * np.float32(1.0 / CELL)).astype(np.int32)
    np.minimum(gi, np.int32(GRID - 1), out=gi)
    np.maximum(gi, np.int32(0), out=gi)
    cell = gi[:, 0] * np.int32(GRID)
    cell += gi[:, 1]
    return cell.astype(np.intp)


def steer_chunk(pos: np.ndarray, vel: np.ndarray, dt: float, noise: np.ndarray,
                out: np.ndarray | None = None) -> np.ndarray:
    """New velocities for one chunk (pure function: the tests call it directly).

    ``noise`` is ``(n, 2)`` uniform in [-0.5, 0.5) (any real dtype); ``out``
    an optional float32 ``(n, 2)`` array for the result. Every pass over the
    boids works on whole contiguous ``(n, 2)`` arrays; per-cell means are gathered
    back through a complex64 view (one 8-byte element per boid, a fast 1-d
    take), and separation and the speed clamp touch only the boids they apply
    to (found with ``flatnonzero``), also through complex64 views.
    """
    cell = cell_of(pos)
    cells = GRID * GRID
    inv_n = 1.0 / np.maximum(np.bincount(cell, minlength=cells), 1)
    means = np.empty((2, cells, 2), np.float32)  # [position, heading] mean per cell
    for k, col in enumerate((pos, vel)):
        for i in (0, 1):
            means[k, :, i] = np.bincount(cell, col[:, i], cells) * inv_n
    t = _f(_c(means[0])[cell])
    t -= pos  # towards the cell's centre
    h = _f(_c(means[1])[cell])
    h -= vel  # towards the cell's heading
    acc = np.multiply(t, COHESION, out=out)
    h *= ALIGNMENT
    acc += h
    acc += noise * NOISE
    sq = t * t
    d2 = sq[:, 0] + sq[:, 1]
    close = np.flatnonzero(d2 < np.float32(1.0))  # separation: pushed away from a crowded centre
    if len(close):
        push = -SEPARATION / np.maximum(np.sqrt(d2[close]), np.float32(1e-3))
        ac = _c(acc)
        ac[close] += _c(t)[close] * push
    acc *= np.float32(dt)
    acc += vel  # the new velocity
    np.multiply(acc, acc, out=sq)
    s2 = sq[:, 0] + sq[:, 1]
    off = np.flatnonzero((s2 < MIN_SPEED * MIN_SPEED) | (s2 > MAX_SPEED * MAX_SPEED))
    if len(off):  # clamp the speed into [MIN_SPEED, MAX_SPEED]
        speed = np.sqrt(s2[off])
        ac = _c(acc)
        ac[off] *= np.clip(speed, MIN_SPEED, MAX_SPEED) / np.maximum(speed, np.float32(1e-6))
    return acc


def noise_for(rng: np.random.Generator, n: int) -> np.ndarray:
    """``(n, 2)`` uniform noise in [-0.5, 0.5) in steps of 1/256 (random bytes: the cheapest draw)."""
    return np.frombuffer(rng.bytes(2 * n), np.int8).reshape(n, 2) * np.float32(1.0 / 256.0)


@plugin.system(stage="update", reads=["Position"], writes=["Velocity"], before=["movement.integrate"])
def steer(ctx):
    """Flocking forces on every boid (entities without Player)."""
    for chunk in ctx.query("Position", "Velocity", without=["Player"]):
        vel = chunk["Velocity"]
        out = ctx.output(vel.shape, vel.dtype)  # straight into the output arena in a child
        noise = noise_for(ctx.rng, len(chunk))
        ctx.commands.set_chunk(chunk, "Velocity", steer_chunk(chunk["Position"], vel, ctx.dt, noise, out))


@plugin.system(stage="render", reads=["Position", "Velocity"])
def draw(ctx):
    """One small quad per boid (needs capability 'draw'; skipped when headless).

    ``motion=Velocity * dt`` is how far each boid moved during this tick
    (movement's ``Position += Velocity * dt``): the host's renderer uses it to
    draw frames that fall between two ticks at the in-between position.
    """
    if "draw" not in ctx.granted:
        return
    try:
        dl = ctx.draw
    except Exception:  # headless: no draw-list buffer attached
        return
    dt = np.float32(ctx.dt)
    for chunk in ctx.query("Position", "Velocity", without=["Player"]):
        dl.draw_quads(chunk["Position"], 0.6, (120, 200, 255, 255), motion=chunk["Velocity"] * dt)
