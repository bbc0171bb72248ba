"""Hostile plugin 'sleeper': sleeps far past its deadline."""

import time

from gpi import Plugin

plugin = Plugin()
plugin.component("Position", "float32", (2,))


@plugin.system(stage="update", reads=["Position"])
def attack(ctx):
    time.sleep(30)
