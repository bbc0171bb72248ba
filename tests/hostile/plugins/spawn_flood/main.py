"""Hostile plugin 'spawn_flood': 10 million entities per call from one broadcast value (a tiny message)."""

import numpy as np

from gpi import Plugin

plugin = Plugin()
plugin.component("Position", "float32", (2,))


@plugin.system(stage="update", writes=["Position"], spawns=True)
def attack(ctx):
    ctx.commands.spawn(10_000_000, {"Position": np.zeros(2, dtype=np.float32)})
