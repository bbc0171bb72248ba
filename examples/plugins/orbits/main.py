"""Plugin 'orbits': startup systems and change detection, end to end.

- ``setup`` (``stage="startup"``) spawns ``BODIES`` bodies once, before the
  first tick (and again after the plugin is reloaded): each has an ``Orbit``
  (centre x, y, radius, angle) and a ``Period``: it moves only on ticks that
  are a multiple of its period, so most bodies stand still on most ticks.
- ``orbit`` moves the bodies whose turn it is (``commands.set`` on just those
  ids: only their rows get a new change tick).
- ``count_moves`` declares ``changed=["Position"]`` and queries
  ``ctx.query("Moves", changed=["Position"])``: it sees only the rows whose
  Position was written since it last ran, and adds one to their ``Moves``.
  After ``T`` ticks a body of period ``P`` has ``Moves == ceil(T / P)``.
- ``retire`` despawns the oldest body every ``RETIRE_EVERY`` ticks;
  ``count_moves`` also declares ``removed=["Position"]`` and logs how many
  bodies ``ctx.removed("Position")`` reports.
"""

from __future__ import annotations

import numpy as np

from gpi import Plugin

plugin = Plugin("orbits")
Position = plugin.component("Position", "float32", (2,))
Orbit = plugin.component("Orbit", "float32", (4,))  # centre x, centre y, radius, angle
Period = plugin.component("Period", "uint32")
Moves = plugin.component("Moves", "uint32")

BODIES = 200
MAX_PERIOD = 20
STEP = 0.25  # radians per move
RETIRE_EVERY = 97


@plugin.system(stage="startup", writes=["Position", "Orbit", "Period", "Moves"], spawns=True)
def setup(ctx):
    """Spawn the bodies once, with deterministic random orbits from ``ctx.rng``."""
    rng = ctx.rng
    n = BODIES
    orbit = np.empty((n, 4), np.float32)
    orbit[:, 0:2] = 50.0
    orbit[:, 2] = rng.uniform(5.0, 45.0, n)
    orbit[:, 3] = rng.uniform(0.0, 2 * np.pi, n)
    ctx.spawn(n, {"Orbit": orbit, "Position": _place(orbit),
                  "Period": rng.integers(1, MAX_PERIOD + 1, n).astype(np.uint32),
                  "Moves": np.zeros(n, np.uint32)})
    ctx.log(f"startup: {n} bodies")


def _place(orbit: np.ndarray) -> np.ndarray:
    out = np.empty((len(orbit), 2), np.float32)
    out[:, 0] = orbit[:, 0] + orbit[:, 2] * np.cos(orbit[:, 3])
    out[:, 1] = orbit[:, 1] + orbit[:, 2] * np.sin(orbit[:, 3])
    return out


@plugin.system(stage="update", reads=["Orbit", "Period"], writes=["Orbit", "Position"])
def orbit(ctx):
    """Advance the bodies whose period divides this tick; write only their rows."""
    for chunk in ctx.query("Orbit", "Period"):
        due = (np.uint32(ctx.tick) % chunk["Period"]) == 0
        if not due.any():
            continue
        ids = chunk.entities[due]
        o = chunk["Orbit"][due].copy()
        o[:, 3] = (o[:, 3] + np.float32(STEP)) % np.float32(2 * np.pi)
        ctx.commands.set("Orbit", ids, o)
        ctx.commands.set("Position", ids, _place(o))


@plugin.system(stage="post_update", reads=["Moves"], writes=["Moves"], changed=["Position"], removed=["Position"])
def count_moves(ctx):
    """Count a move for every body whose Position changed since this system last ran."""
    for chunk in ctx.query("Moves", changed=["Position"]):
        ctx.commands.set("Moves", chunk.entities, chunk["Moves"] + np.uint32(1))
    gone = ctx.removed("Position")
    if len(gone):
        ctx.log(f"tick {ctx.tick}: {len(gone)} bodies left")


@plugin.system(stage="update", reads=["Period"], despawns=True)
def retire(ctx):
    """Every RETIRE_EVERY ticks, despawn the first body (so removals happen)."""
    if ctx.tick % RETIRE_EVERY or not ctx.tick:
        return
    for chunk in ctx.query("Period"):
        if len(chunk):
            ctx.despawn(chunk.entities[:1])
            return
