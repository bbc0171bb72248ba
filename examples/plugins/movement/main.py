"""Plugin 'movement': the physics step every moving entity shares.

Position and Velocity are float32[2] in world units; the arena is the square
[0, ARENA) x [0, ARENA) and positions wrap around its edges. Other plugins
reuse these two components (same name, same schema).
"""

from __future__ import annotations

import numpy as np

from gpi import Plugin

plugin = Plugin("movement")
Position = plugin.component("Position", "float32", (2,))
Velocity = plugin.component("Velocity", "float32", (2,))

ARENA = np.float32(100.0)
MAX_SPEED = np.float32(30.0)


def wrap(pos: np.ndarray) -> np.ndarray:
    """Wrap positions that left the arena by less than one arena width back in (in place).

    Two masked adds instead of ``np.mod``, which is ~20x slower on floats;
    a step never moves farther than MAX_SPEED * dt, far less than ARENA.
    """
    np.subtract(pos, ARENA, out=pos, where=pos >= ARENA)
    np.add(pos, ARENA, out=pos, where=pos < 0)
    return pos


@plugin.system(stage="update", reads=["Velocity"], writes=["Position"])
def integrate(ctx):
    """Position += Velocity * dt, wrapped into the arena (one column write per chunk).

    The result is computed straight into ``ctx.output`` (the child's output
    arena), so a million new positions reach the host without an extra copy.
    """
    dt = np.float32(ctx.dt)
    for chunk in ctx.query("Position", "Velocity"):
        pos = chunk["Position"]
        out = ctx.output(pos.shape, pos.dtype)
        np.multiply(chunk["Velocity"], dt, out=out)
        out += pos
        wrap(out)
        ctx.commands.set_chunk(chunk, "Position", out)
