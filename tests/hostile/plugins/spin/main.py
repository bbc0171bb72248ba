"""Hostile plugin 'spin': spins forever inside its system."""

from gpi import Plugin

plugin = Plugin()
plugin.component("Position", "float32", (2,))


@plugin.system(stage="update", reads=["Position"])
def attack(ctx):
    while True:
        pass
