"""Plugin 'player': one entity steered by the input state.

``ctx.input`` is a mapping; this plugin reads ``input["keys"]``, the names of
keys held this tick (``"left"``, ``"right"``, ``"up"``, ``"down"`` or WASD).
The player is an entity with a ``Player`` marker, spawned in the middle of the
arena on the first tick.
"""

from __future__ import annotations

import numpy as np

from gpi import Plugin

plugin = Plugin("player")
Position = plugin.component("Position", "float32", (2,))
Velocity = plugin.component("Velocity", "float32", (2,))
Player = plugin.component("Player", "uint8")

SPEED = 25.0
KEYS = {
    "left": (-1, 0), "a": (-1, 0), "right": (1, 0), "d": (1, 0),
    "up": (0, 1), "w": (0, 1), "down": (0, -1), "s": (0, -1),
}


def direction(keys) -> np.ndarray:
    """Unit direction (or zero) for a set of held keys."""
    d = np.zeros(2, dtype=np.float32)
    for k in keys:
        d += KEYS.get(str(k).lower(), (0, 0))
    norm = float(np.hypot(*d))
    return d / norm if norm > 0 else d


@plugin.system(stage="input", reads=["Player"], writes=["Position", "Velocity", "Player"], spawns=True)
def spawn_player(ctx):
    """Spawn the player once."""
    if any(len(c) for c in ctx.query("Player")):
        return
    ctx.spawn(1, {"Position": np.array([[50.0, 50.0]], np.float32),
                  "Velocity": np.zeros((1, 2), np.float32), "Player": np.ones(1, np.uint8)})
    ctx.log("player spawned")


@plugin.system(stage="input", reads=["Player"], writes=["Velocity"], after=["spawn_player"])
def control(ctx):
    """Set the player's velocity from the held keys (no command when it already has that velocity)."""
    vel = direction(ctx.input.get("keys", ())) * np.float32(SPEED)
    for chunk in ctx.query("Velocity", with_=["Player"]):
        if not (chunk["Velocity"] == vel).all():
            ctx.commands.set_chunk(chunk, "Velocity", np.broadcast_to(vel, (len(chunk), 2)))
