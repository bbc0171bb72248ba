"""Hostile plugin 'long_logs': four systems, each logging a 1,000,000-character line per call.

Kept whole, the host's log grew by 4 MB a tick. Each line must be cut to
the log-line bound, with the count of dropped characters.
"""

from gpi import Plugin

plugin = Plugin()
plugin.component("Position", "float32", (2,))

LINE = "L" * 1_000_000


@plugin.system(stage="update", reads=["Position"])
def attack(ctx):
    ctx.log(LINE)


@plugin.system(stage="update", reads=["Position"])
def attack2(ctx):
    ctx.log(LINE)


@plugin.system(stage="update", reads=["Position"])
def attack3(ctx):
    ctx.log(LINE)


@plugin.system(stage="update", reads=["Position"])
def attack4(ctx):
    ctx.log(LINE)
