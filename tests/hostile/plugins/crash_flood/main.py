"""Hostile plugin 'crash_flood': prints 40 lines of 4 MiB, then aborts.

The crash report keeps the child's last output lines: kept whole, that was
about 92 MB on disk per crash. Reports must stay small.
"""

import os
import sys

from gpi import Plugin

plugin = Plugin()
plugin.component("Position", "float32", (2,))

LINE = b"C" * (4 << 20) + b"\n"


@plugin.system(stage="update", reads=["Position"])
def attack(ctx):
    fd = sys.stdout.fileno()
    for _ in range(40):
        os.write(fd, LINE)
    os.abort()
