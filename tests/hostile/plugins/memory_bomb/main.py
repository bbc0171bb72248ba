"""Hostile plugin 'memory_bomb': allocates memory until something stops it."""

from gpi import Plugin

plugin = Plugin()
plugin.component("Position", "float32", (2,))


@plugin.system(stage="update", reads=["Position"])
def attack(ctx):
    blocks = []
    for _ in range(4096):  # 4096 x 64 MiB = 256 GiB, far past any limit
        blocks.append(bytearray(64 << 20))
    raise RuntimeError('allocated 256 GiB: no memory limit')
