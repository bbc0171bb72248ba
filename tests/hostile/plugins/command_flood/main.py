"""Hostile plugin 'command_flood': answers every call with a flood of 20,000 commands.

It declares write access to Position, so only the host's limits stand
between it and the world: if the host applied the list, entities would be
moved to (1e9, 1e9) and the world checksum would change. The list is about
2 MB on the wire, over the channel's message limit (1 MiB ring), and it would
be over ``gpi.ecs.MAX_OPS`` (65,536 operations) if the plugin made it a bit
longer; either way none of it reaches the world.
"""

import numpy as np

from gpi import Plugin

plugin = Plugin()
plugin.component("Position", "float32", (2,))

OPS = 20_000


@plugin.system(stage="update", writes=["Position"])
def attack(ctx):
    val = np.full((1, 2), 1e9, dtype=np.float32)
    for chunk in ctx.query("Position"):
        ids = chunk.entities[:1].copy()
        for _ in range(OPS):
            ctx.commands.set("Position", ids, val)
        return
