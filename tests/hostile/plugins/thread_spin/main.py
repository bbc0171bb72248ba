"""Hostile plugin 'thread_spin': two background threads that spin forever, outliving the call."""

import threading

from gpi import Plugin

plugin = Plugin()
plugin.component("Position", "float32", (2,))


def _spin():
    while True:
        pass


@plugin.system(stage="update", reads=["Position"])
def attack(ctx):
    for _ in range(2):
        threading.Thread(target=_spin, daemon=True).start()
