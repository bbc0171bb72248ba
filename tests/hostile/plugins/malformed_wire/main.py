"""Hostile plugin 'malformed_wire': corrupts its own command lists on the wire.

The plugin code runs in the child process, so it can monkeypatch whatever the
child runner uses. Here it replaces ``CommandBuffer.to_wire`` (what the child
calls to encode a system's commands for the host) with a function that
returns a different kind of garbage each tick: an unknown operation kind, an
arena reference far outside the arena, an array whose shape disagrees with its
bytes, an object dtype, a wrong wire version, a list instead of a map, ids that
are floats. The host must reject each list without applying any of it and keep
ticking. The system declares write access to Position, so a list the host
wrongly accepted would change the world checksum.
"""

import numpy as np

from gpi import Plugin
from gpi.ecs import CommandBuffer

plugin = Plugin()
plugin.component("Position", "float32", (2,))

_state = {"tick": 0}
_F4 = np.dtype("<f4").str
_U8 = np.dtype("<u8").str


def _inline(dtype, shape, data):
    return {"dtype": dtype, "shape": list(shape), "data": data}


def _garbage(tick):
    vals = _inline(_F4, (1, 2), np.full((1, 2), 1e9, np.float32).tobytes())
    ids = _inline(_U8, (1,), np.zeros(1, np.uint64).tobytes())
    variants = [
        {"v": 1, "ops": [{"op": "format_disk", "target": "/"}]},
        {"v": 1, "ops": [{"op": "set", "name": "Position", "values": vals,
                          "ids": {"arena": {"off": 1 << 40, "nbytes": 8, "shape": [1], "dtype": _U8}}}]},
        {"v": 1, "ops": [{"op": "set", "name": "Position", "ids": ids,
                          "values": _inline(_F4, (1 << 40, 2), b"\x00" * 8)}]},
        {"v": 1, "ops": [{"op": "set", "name": "Position", "ids": ids, "values": _inline("|O", (1, 2), b"\x00" * 16)}]},
        {"v": 99, "ops": []},
        ["not", "a", "command", "list"],
        {"v": 1, "ops": [{"op": "set", "name": "Position", "values": vals,
                          "ids": _inline(_F4, (2,), np.array([0.5, -1], np.float32).tobytes())}]},
        {"v": 1, "ops": [{"op": "spawn", "count": -5, "values": {"Position": vals}}]},
    ]
    return variants[tick % len(variants)]


def _hostile_to_wire(self, encode_array=None):
    return _garbage(_state["tick"])


CommandBuffer.to_wire = _hostile_to_wire


@plugin.system(stage="update", writes=["Position"])
def attack(ctx):
    _state["tick"] = ctx.tick
    for chunk in ctx.query("Position"):
        ctx.commands.set("Position", chunk.entities[:1].copy(), np.full((1, 2), 1e9, np.float32))
        return
