"""Hostile plugin 'deaf_socket': its child never reads its control socket again, and it keeps answering.

Plugin code runs in its child with the child's own code: on its first call it
replaces the child's layout reader with one that only adopts the epoch, so
the layouts the host sends (segment fds on the control socket) pile up
unread. Each tick it spawns one entity into a new archetype (a new table, so
every child needs a full layout): without a deadline on the host's sends,
the socket fills and the host blocks sending the next layout, forever.
"""

import numpy as np

import gpi.plugins.child as child_module
from gpi import Plugin

plugin = Plugin()
TAGS = [f"DeafTag{i}" for i in range(16)]
for name in TAGS:
    plugin.component(name, "uint8")


def _deaf(self, epoch):
    self.epoch = epoch  # "in sync", without reading anything


@plugin.system(stage="update", writes=TAGS, spawns=True)
def attack(ctx):
    child_module._Child.sync_layout = _deaf
    mask = ctx.tick + 1  # a different set of tags every tick: a new table every tick
    values = {name: np.ones(1, dtype=np.uint8) for i, name in enumerate(TAGS) if mask >> i & 1}
    ctx.commands.spawn(1, values)
