"""Plugin 'spawner': keeps the world populated.

Every tick it spawns up to ``BATCH`` entities while the population is below
the ``population`` resource (default ``DEFAULT_POPULATION``), each with a
random position and velocity from ``ctx.rng`` (deterministic), an Age of 0
and a Tint. Entities reach ``MAX_AGE`` ticks at staggered times; every
``RETIRE_EVERY`` ticks those past it are despawned in one wave and replaced in
the same tick, so the world keeps changing structure (table rows, layout
epochs) twice a second rather than every tick: each structural change costs
every reader a little (views, chunk caches, checksum plan), so changes are
batched the way a game would batch them.
"""

from __future__ import annotations

import numpy as np

from gpi import Plugin

plugin = Plugin("spawner")
Position = plugin.component("Position", "float32", (2,))
Velocity = plugin.component("Velocity", "float32", (2,))
Age = plugin.component("Age", "uint32")
Tint = plugin.component("Tint", "uint8", (4,))

ARENA = 100.0
DEFAULT_POPULATION = 1000
BATCH = 5000
MAX_AGE = 600
RETIRE_EVERY = 30  # ticks between retirement waves


@plugin.system(stage="update", reads=["Age"], writes=["Position", "Velocity", "Age", "Tint"],
               resources=["population"], spawns=True, despawns=True)
def populate(ctx):
    """Every RETIRE_EVERY ticks despawn entities past MAX_AGE; spawn a batch if below the target population."""
    retired = 0
    if ctx.tick % RETIRE_EVERY == 0:
        for chunk in ctx.query("Age"):
            old = chunk["Age"] >= MAX_AGE
            if old.any():
                ctx.despawn(chunk.entities[old])
                retired += int(old.sum())
    target = int(ctx.try_resource("population", DEFAULT_POPULATION))
    alive = sum(len(c) for c in ctx.query("Age")) - retired
    n = min(BATCH, target - alive)
    if n <= 0:
        return
    rng = ctx.rng
    ctx.spawn(n, {
        "Position": rng.uniform(0.0, ARENA, (n, 2)).astype(np.float32),
        "Velocity": rng.uniform(-10.0, 10.0, (n, 2)).astype(np.float32),
        # Staggered ages so that retirement is spread over time.
        "Age": rng.integers(0, MAX_AGE // 2, n).astype(np.uint32),
        "Tint": rng.integers(64, 256, (n, 4)).astype(np.uint8),
    })
    if ctx.tick % 60 == 0:
        ctx.log(f"tick {ctx.tick}: spawned {n}, retired {retired}")


@plugin.system(stage="post_update", writes=["Age"])
def grow_old(ctx):
    """Every entity with an Age gets one tick older (computed straight into the output arena)."""
    for chunk in ctx.query("Age"):
        age = chunk["Age"]
        ctx.commands.set_chunk(chunk, "Age", np.add(age, np.uint32(1), out=ctx.output(age.shape, age.dtype)))
