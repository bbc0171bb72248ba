"""Hostile plugin 'file_bomb': writes a 10 GB file."""

import os

from gpi import Plugin

plugin = Plugin()
plugin.component("Position", "float32", (2,))


@plugin.system(stage="update", reads=["Position"])
def attack(ctx):
    path = os.path.join(os.environ.get('GPI_HOSTILE_TMP', '/tmp'), 'gpi_hostile_10gb.bin')
    chunk = b'\0' * (16 << 20)
    with open(path, 'wb') as fh:
        for _ in range(640):
            fh.write(chunk)
    raise RuntimeError('wrote 10 GB')
