"""Hostile plugin 'undeclared_write': commands changes it never declared or was never granted.

The system declares ``reads=["Position", "Velocity"]`` and no writes, and the
plugin asks for no capabilities, so the host grants it none. It then queues,
straight on the command buffer (bypassing the context's own checks), writes
to both components and a spawn. The host checks every command list against
the system's declared access before applying it (``World.apply(access=...)``):
the whole list must be rejected and the world left as it was.
"""

import numpy as np

from gpi import Plugin

plugin = Plugin()
plugin.component("Position", "float32", (2,))
plugin.component("Velocity", "float32", (2,))


@plugin.system(stage="update", reads=["Position", "Velocity"])
def attack(ctx):
    for chunk in ctx.query("Position", "Velocity"):
        ids = chunk.entities.copy()
        ctx.commands.set("Velocity", ids, np.zeros((len(ids), 2), np.float32))
        ctx.commands.set("Position", ids, np.full((len(ids), 2), -1e6, np.float32))
    ctx.commands.spawn(3, {"Position": np.zeros((3, 2), np.float32)})
