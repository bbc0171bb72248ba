"""Hostile plugin 'segfault': dereferences a near-NULL pointer through ctypes (SIGSEGV)."""

import ctypes

from gpi import Plugin

plugin = Plugin()
plugin.component("Position", "float32", (2,))


@plugin.system(stage="update", reads=["Position"])
def attack(ctx):
    # string_at(0, n) would just build n uninitialised bytes: read from address 8 instead.
    ctypes.string_at(8, 16)
    raise RuntimeError("read unmapped memory without crashing")
