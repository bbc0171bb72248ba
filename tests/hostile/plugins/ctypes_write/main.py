"""Hostile plugin 'ctypes_write': writes into its read-only world view through ctypes.memset."""

import ctypes

from gpi import Plugin

plugin = Plugin()
plugin.component("Position", "float32", (2,))


@plugin.system(stage="update", reads=["Position"])
def attack(ctx):
    for chunk in ctx.query('Position'):
        view = chunk['Position']
        ctypes.memset(view.ctypes.data, 0x7F, view.nbytes)
