"""The well-behaved reference plugin the hostile corpus runs beside."""

import numpy as np

from gpi import Plugin

plugin = Plugin()
plugin.component("Position", "float32", (2,))
plugin.component("Velocity", "float32", (2,))

N = 256


@plugin.system(stage="input", writes=["Position", "Velocity"], spawns=True)
def populate(ctx):
    if ctx.tick == 0:
        i = np.arange(N, dtype=np.float32)
        pos = np.stack([i % 16, i // 16], axis=1).astype(np.float32)
        vel = np.stack([np.cos(i), np.sin(i)], axis=1).astype(np.float32)
        ctx.commands.spawn(N, {"Position": pos, "Velocity": vel})


@plugin.system(stage="update", reads=["Velocity"], writes=["Position"])
def move(ctx):
    for chunk in ctx.query("Position", "Velocity"):
        ctx.commands.set_chunk(chunk, "Position", chunk["Position"] + chunk["Velocity"] * ctx.dt)
