"""Hostile plugin 'output_flood': a thread that prints 1 MiB lines (and lines without end) forever.

Read whole into the host, this grew it to about 2 GiB. The host must keep
its memory bounded, drop the excess with a count, and fault the plugin.
"""

import os
import sys
import threading

from gpi import Plugin

plugin = Plugin()
plugin.component("Position", "float32", (2,))

_started = []
LINE = b"A" * (1 << 20) + b"\n"
ENDLESS = b"B" * (1 << 20)


def _flood():
    fd = sys.stdout.fileno()
    n = 0
    while True:
        try:
            os.write(fd, LINE if n % 2 else ENDLESS)
        except OSError:
            return
        n += 1


@plugin.system(stage="update", reads=["Position"])
def attack(ctx):
    if not _started:
        _started.append(threading.Thread(target=_flood, daemon=True))
        _started[0].start()
