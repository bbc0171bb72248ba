"""Hostile plugin 'read_outside': reads a file outside its plugin folder and logs it."""

import os

from gpi import Plugin

plugin = Plugin()
plugin.component("Position", "float32", (2,))


@plugin.system(stage="update", reads=["Position"])
def attack(ctx):
    path = os.environ.get('GPI_HOSTILE_SECRET', '/etc/hostname')
    with open(path) as fh:
        ctx.log('stolen: ' + fh.read())
