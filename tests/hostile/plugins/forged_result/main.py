"""Hostile plugin 'forged_result': every result it sends has one forged field.

Plugin code runs in the child, so it can wrap the channel the child answers
through (``gpi.shm.Channel.request``) and change the result after the
runner built it. Each tick forges another field: ``logs`` an int, ``error``
a string, ``cpu_ns`` a string, a log text that is a 1,000-deep nested list,
``dropped`` negative, ``tick`` a string, an ``error`` whose type is a list,
``cmds`` an int, ``child_ns`` negative, a ``violation`` that is a list. The
host must make each one a ``protocol`` fault for this plugin and keep going.
The system declares a write to Position and really commands one, so a
result the host wrongly applied would change the world checksum.
"""

import numpy as np

from gpi import Plugin
from gpi.shm import Channel

plugin = Plugin()
plugin.component("Position", "float32", (2,))


def _deep(n):
    v = "x"
    for _ in range(n):
        v = [v]
    return v


FORGERIES = [
    ("logs", 7),
    ("error", "boom"),
    ("cpu_ns", "fast"),
    ("logs", [["info", _deep(1000)]]),
    ("dropped", -1),
    ("tick", "0"),
    ("error", {"type": ["Exception"], "message": "m", "traceback": ""}),
    ("cmds", 12345),
    ("child_ns", -5),
    ("error", {"type": "E", "message": "m", "traceback": "", "violation": [1, 2]}),
]

_original = Channel.request


def _forging_request(self, msg, timeout=None):
    if isinstance(msg, dict) and msg.get("kind") == "result" and isinstance(msg.get("tick"), int):
        field, value = FORGERIES[msg["tick"] % len(FORGERIES)]
        msg = dict(msg)
        msg[field] = value
    return _original(self, msg, timeout)


Channel.request = _forging_request


@plugin.system(stage="update", writes=["Position"])
def attack(ctx):
    for chunk in ctx.query("Position"):
        ctx.commands.set("Position", chunk.entities[:1].copy(), np.full((1, 2), 1e9, np.float32))
        return
