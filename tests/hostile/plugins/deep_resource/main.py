"""Hostile plugin 'deep_resource': inserts a resource nested 600 levels deep every tick.

Everything that walks resources (checksums, snapshots, the recorder) would
recurse 600 levels per value; the command list must be rejected before any
of it reaches the world.
"""

from gpi import Plugin

plugin = Plugin()
plugin.component("Position", "float32", (2,))


def _deep(n):
    v = 1
    for i in range(n):
        v = [v] if i % 2 else {"k": v}
    return v


@plugin.system(stage="update", reads=["Position"], resources=["deep"])
def attack(ctx):
    ctx.commands.insert_resource("deep", _deep(600))
