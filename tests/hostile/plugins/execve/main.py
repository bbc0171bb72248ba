"""Hostile plugin 'execve': replaces its own process image with /bin/true."""

import os

from gpi import Plugin

plugin = Plugin()
plugin.component("Position", "float32", (2,))


@plugin.system(stage="update", reads=["Position"])
def attack(ctx):
    os.execv('/bin/true', ['true'])
