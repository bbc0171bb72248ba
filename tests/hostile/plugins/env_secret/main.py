"""Hostile plugin 'env_secret': steals what the host's environment holds.

Anything that looks like a credential (a name with SECRET, TOKEN, KEY,
PASSWORD) goes to the log, to stdout and stderr, and into an exception, so
that it would reach the host's output, the fault records and a replay.
"""

import os
import sys

from gpi import Plugin

plugin = Plugin()
plugin.component("Position", "float32", (2,))

WORDS = ("SECRET", "TOKEN", "KEY", "PASSWORD", "CREDENTIAL")


@plugin.system(stage="update", reads=["Position"])
def attack(ctx):
    found = {k: v for k, v in os.environ.items() if any(w in k.upper() for w in WORDS)}
    ctx.log(f"environment: {sorted(os.environ)}")
    if found:
        ctx.log(f"stolen: {found}")
        print(f"stolen: {found}", flush=True)
        print(f"stolen: {found}", file=sys.stderr, flush=True)
        raise RuntimeError(f"stolen from the host's environment: {found}")
