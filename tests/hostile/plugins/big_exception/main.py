"""Hostile plugin 'big_exception': every call raises with a 300,000-character message.

An exception is not a crash: the child lives on and the plugin faults on
every tick for as long as the host runs. Kept whole, each fault (message and
traceback) costs the host 600 KB of its fault window.
"""

from gpi import Plugin

plugin = Plugin()
plugin.component("Position", "float32", (2,))

MESSAGE = "E" * 300_000  # message + traceback stay under the 1 MiB channel message


@plugin.system(stage="update", reads=["Position"])
def attack(ctx):
    raise RuntimeError(MESSAGE)
