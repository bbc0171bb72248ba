"""Hostile plugin 'fork_bomb': forks in a loop (bounded to 64 forks so a broken sandbox cannot take the machine down)."""

import os

from gpi import Plugin

plugin = Plugin()
plugin.component("Position", "float32", (2,))


@plugin.system(stage="update", reads=["Position"])
def attack(ctx):
    for _ in range(64):
        pid = os.fork()
        if pid == 0:
            os._exit(0)
    raise RuntimeError('fork succeeded: the sandbox let a process be created')
