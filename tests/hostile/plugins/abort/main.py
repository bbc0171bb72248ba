"""Hostile plugin 'abort': calls os.abort() to kill its own process."""

import os

from gpi import Plugin

plugin = Plugin()
plugin.component("Position", "float32", (2,))


@plugin.system(stage="update", reads=["Position"])
def attack(ctx):
    os.abort()
