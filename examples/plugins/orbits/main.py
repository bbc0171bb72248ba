"""Plugin 'orbits': a hierarchy of orbiting bodies that uses each ECS feature.

- ``setup`` (``stage="startup"``) runs once before the first tick (and again
  after a reload): a sun, ``PLANETS`` planets ``ChildOf`` the sun and
  ``MOONS`` moons per planet ``ChildOf`` their planet. Each orbiting body has
  an ``Orbit`` (radius, angle) and a ``Period``: it moves only on ticks that
  are a multiple of its period, so most bodies stand still on most ticks.
- ``orbit`` advances the due bodies' ``LocalPosition`` (``commands.set`` on
  just those ids).
- ``propagate_transforms`` (the built-in from :mod:`gpi.plugins.transforms`)
  sets ``Position = LocalPosition + Position(parent)`` down the tree, writing
  only the rows whose world position changed: a moon moves when it or its
  planet moved.
- ``count_moves`` declares ``changed=["Position"]`` and queries
  ``ctx.query("Moves", changed=["Position"])``: only the moved bodies, each
  gets one more ``Moves``. It also reads ``ctx.removed("Position")``.
- ``retire`` despawns a planet and, recursively, its moons every
  ``RETIRE_EVERY`` ticks (``ctx.despawn_recursive``).
"""

from __future__ import annotations

import numpy as np

from gpi import Plugin
from gpi.plugins.transforms import add_transform_propagation

plugin = Plugin("orbits")
add_transform_propagation(plugin)  # ChildOf (despawn with the parent), LocalPosition, Position
Orbit = plugin.component("Orbit", "float32", (2,))  # radius, angle
Period = plugin.component("Period", "uint32")
Moves = plugin.component("Moves", "uint32")
Sun = plugin.component("Sun", "uint8")

CENTER = (50.0, 50.0)
PLANETS = 12
MOONS = 4
MAX_PERIOD = 20
STEP = 0.25  # radians per move
RETIRE_EVERY = 97


def _local(orbit: np.ndarray) -> np.ndarray:
    out = np.empty((len(orbit), 2), np.float32)
    out[:, 0] = orbit[:, 0] * np.cos(orbit[:, 1])
    out[:, 1] = orbit[:, 0] * np.sin(orbit[:, 1])
    return out


@plugin.system(stage="startup", writes=["Position", "Sun"], spawns=True)
def setup(ctx):
    """The sun (spawned first: the planets need its id, so they come in a later startup wave)."""
    ctx.spawn(1, {"Position": np.array([CENTER], np.float32), "Sun": np.ones(1, np.uint8)})


def _bodies(ctx, parents: np.ndarray, per: int, rmin: float, rmax: float) -> None:
    rng = ctx.rng
    n = len(parents) * per
    orbit = np.empty((n, 2), np.float32)
    orbit[:, 0] = rng.uniform(rmin, rmax, n)
    orbit[:, 1] = rng.uniform(0.0, 2 * np.pi, n)
    ctx.spawn(n, {"Orbit": orbit, "LocalPosition": _local(orbit), "Position": np.zeros((n, 2), np.float32),
                  "ChildOf": np.repeat(parents, per).astype(np.uint64),
                  "Period": rng.integers(1, MAX_PERIOD + 1, n).astype(np.uint32),
                  "Moves": np.zeros(n, np.uint32)})


BODY = ["Orbit", "LocalPosition", "Position", "ChildOf", "Period", "Moves"]


@plugin.system(stage="startup", reads=["Sun"], writes=BODY, spawns=True, after=["setup"])
def setup_planets(ctx):
    """PLANETS planets, each ChildOf the sun."""
    suns = [c.entities for c in ctx.query("Sun")]
    if suns:
        _bodies(ctx, np.concatenate(suns)[:1], PLANETS, 12.0, 45.0)


@plugin.system(stage="startup", reads=["Sun"], writes=BODY, spawns=True, after=["setup_planets"])
def setup_moons(ctx):
    """MOONS moons per planet, each ChildOf its planet."""
    for chunk in ctx.query("Sun"):
        planets = ctx.children(int(chunk.entities[0]))
        _bodies(ctx, planets, MOONS, 2.0, 5.0)
        return


@plugin.system(stage="update", reads=["Orbit", "Period"], writes=["Orbit", "LocalPosition"])
def orbit(ctx):
    """Advance the bodies whose period divides this tick; write only their rows."""
    for chunk in ctx.query("Orbit", "Period"):
        due = (np.uint32(ctx.tick) % chunk["Period"]) == 0
        if not due.any():
            continue
        ids = chunk.entities[due]
        o = chunk["Orbit"][due].copy()
        o[:, 1] = (o[:, 1] + np.float32(STEP)) % np.float32(2 * np.pi)
        ctx.commands.set("Orbit", ids, o)
        ctx.commands.set("LocalPosition", ids, _local(o))


@plugin.system(stage="post_update", reads=["Moves"], writes=["Moves"], changed=["Position"], removed=["Position"],
               after=["propagate_transforms"])
def count_moves(ctx):
    """Count a move for every body whose Position changed since this system last ran."""
    for chunk in ctx.query("Moves", changed=["Position"]):
        ctx.commands.set("Moves", chunk.entities, chunk["Moves"] + np.uint32(1))
    gone = ctx.removed("Position")
    if len(gone):
        ctx.log(f"tick {ctx.tick}: {len(gone)} bodies left")


@plugin.system(stage="update", reads=["Sun", "ChildOf"], despawns=True)
def retire(ctx):
    """Every RETIRE_EVERY ticks, despawn the first planet and its moons."""
    if ctx.tick % RETIRE_EVERY or not ctx.tick:
        return
    for chunk in ctx.query("Sun"):
        planets = ctx.children(int(chunk.entities[0]))
        if len(planets):
            ctx.despawn_recursive(planets[:1])
        return
