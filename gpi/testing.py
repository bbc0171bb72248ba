"""Testing helpers for plugin authors: run one system in-process on a small world.

::

    from gpi.ecs import World
    from gpi.testing import make_world, run_system

    world = make_world(plugin, {"Position": [[0, 0], [1, 1]], "Velocity": [[1, 0], [0, 1]]})
    cmds = run_system(plugin, "move", world, dt=0.5)   # applied to world by default

The system runs through the same runner and context as in a plugin child
(isolation ``none``), and its command list goes through the same validation
(``world.apply`` with the system's declared :class:`~gpi.ecs.Access`), so an
undeclared write fails here exactly as it would in the host.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from gpi.ecs import Access, CommandBuffer, World
from gpi.plugins.errors import PluginSystemError
from gpi.plugins.manifest import CAPABILITIES
from gpi.plugins.sdk import Plugin

__all__ = ["make_world", "run_system"]


def make_world(plugin: Plugin | Iterable[Plugin], values: Mapping[str, Any] | None = None, *,
               count: int | None = None, seed: int = 0) -> World:
    """A world with the components of ``plugin`` registered and, optionally, entities spawned.

    ``values`` maps component names to per-entity arrays (or a scalar broadcast
    over ``count`` entities).
    """
    plugins = [plugin] if isinstance(plugin, Plugin) else list(plugin)
    world = World(seed=seed)
    comps = {}
    for p in plugins:
        comps.update(p.components)
    world.register(*comps.values())
    if values:
        n = count
        if n is None:
            n = max((len(np.asarray(v)) for v in values.values() if np.ndim(v) > 0), default=1)
        world.spawn(n, {k: np.asarray(v) for k, v in values.items()})
    return world


def run_system(
    plugin: Plugin,
    system: str,
    world: World,
    *,
    dt: float = 1.0 / 60.0,
    tick: int = 0,
    seed: int | None = None,
    input_state: Mapping[str, Any] | None = None,
    granted: Iterable[str] | None = None,
    apply: bool = True,
    draw: Any = None,
) -> CommandBuffer:
    """Run ``plugin``'s ``system`` once on ``world``; returns its commands (applied unless ``apply=False``).

    ``granted`` defaults to every capability. An exception in the system is
    re-raised as :class:`PluginSystemError` carrying the original traceback;
    a rejected command list raises :class:`~gpi.ecs.CommandError`.
    """
    from gpi.plugins.child import SystemRunner

    name = plugin.name or "test"
    caps = frozenset(CAPABILITIES if granted is None else granted)
    runner = SystemRunner(plugin, name, caps, world.seed if seed is None else seed, dt)
    spec = plugin.systems[system]
    changes = None
    if spec.watches:  # change detection, as the host does it (gpi.ecs.changes)
        world.track_changes(*spec.changed, *spec.added)
        for n in spec.removed:
            world.watch_removed(n, f"{name}.{system}")
        changes = world.begin_system(f"{name}.{system}", spec.removed)
    out = runner.run(world, system, tick, input_state, draw, changes=changes)
    if out["error"] is not None:
        e = out["error"]
        raise PluginSystemError(f"plugin {name!r} system {system!r} raised {e['type']}: {e['message']}\n"
                                f"{e['traceback']}", plugin=name, system=system, traceback=e["traceback"])
    cmds = out["cmds"] if out["cmds"] is not None else CommandBuffer()
    for level, text in out["logs"]:
        print(f"[{name}/{system}] {level}: {text}")
    if apply and len(cmds):
        spec = plugin.systems[system]
        structural = (spec.spawns and "spawn" in caps) or (spec.despawns and "despawn" in caps)
        access = Access(spec.writes, spec.resources if "resources" in caps else (),
                        spec.events if "events" in caps else (), structural=structural)
        world.apply(cmds, access=access, source=f"plugin {name!r} system {system!r}")
    return cmds
