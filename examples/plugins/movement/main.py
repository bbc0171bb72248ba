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


@plugin.system(stage="update", reads=["Velocity"], writes=["Position"])
def integrate(ctx):
    """Position += Velocity * dt, wrapped into the arena (one column write per chunk)."""
    dt = np.float32(ctx.dt)
    for chunk in ctx.query("Position", "Velocity"):
        pos = chunk["Position"] + chunk["Velocity"] * dt
        np.mod(pos, ARENA, out=pos)
        ctx.commands.set_chunk(chunk, "Position", pos)
