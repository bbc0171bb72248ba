"""The built-in, optional transform propagation: local positions to world positions along ``ChildOf``.

``add_transform_propagation(plugin)`` gives a plugin the ``ChildOf``
relation (exclusive; children are despawned with their parent) and a
``LocalPosition`` component, plus a ``post_update`` system that sets
``Position = LocalPosition + Position(parent)`` down every tree
(:func:`gpi.ecs.relations.propagate`). It writes only the rows whose world
position actually changed, so systems watching ``changed=["Position"]`` see
just the entities that moved, children of a moved parent included.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gpi.ecs.relations import CHILD_OF, propagate
from gpi.plugins.sdk import Plugin

__all__ = ["add_transform_propagation"]


def add_transform_propagation(plugin: Plugin, *, local: str = "LocalPosition", out: str = "Position",
                              relation: str = CHILD_OF, stage: str = "post_update",
                              name: str = "propagate_transforms", on_delete: str = "despawn") -> None:
    """Declare ``relation``, ``local`` (float32[2]) and the propagation system on ``plugin``."""
    plugin.relation(relation, exclusive=True, on_delete=on_delete)
    plugin.component(local, "float32", (2,))
    plugin.component(out, "float32", (2,))

    def propagate_transforms(ctx: Any) -> None:
        ids, world_pos = propagate(ctx.world, local, out, relation)
        if not len(ids):
            return
        cur = np.concatenate([np.asarray(c[out]) for c in ctx.query(out, with_=[local])]) \
            if sum(len(c) for c in ctx.query(out, with_=[local])) == len(ids) else None
        cur_ids = np.concatenate([c.entities for c in ctx.query(out, with_=[local])]) if cur is not None else None
        if cur is not None and cur_ids is not None and np.array_equal(cur_ids, ids):
            moved = (cur != world_pos).any(axis=1)
            if moved.any():
                ctx.commands.set(out, ids[moved], world_pos[moved].astype(np.float32))
            return
        ctx.commands.add_component(ids, out, world_pos.astype(np.float32))

    propagate_transforms.__name__ = name
    plugin.system(propagate_transforms, name=name, stage=stage, reads=[local, relation, out], writes=[out])
