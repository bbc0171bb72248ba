"""The world checksum: one 64-bit number over everything that defines the state.

Chained with :func:`gpi.cython_ext.checksum.checksum_bytes` (each part seeds
the next), in this order:

1. a format tag, then the component schema (canonical msgpack, sorted by name);
2. the entity index: used slot count, ``generation[:count]``, and the alive
   flag per slot (uint8);
3. every non-empty table in the defined order (sorted component names): its
   names, row count, ``entities[:rows]`` and each column's live rows, columns
   sorted by name (never the unused capacity);
4. resources, canonical msgpack.

Events are per-tick and not part of it. The free list is not either (it is
implied by the operation history that the replay checks anyway), so a
:class:`~gpi.ecs.view.WorldView` computes the same value as its host world.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from gpi.cython_ext.checksum import checksum_bytes
from gpi.ecs.query import table_order_key
from gpi.ecs.resources import canonical_packb

if TYPE_CHECKING:
    from gpi.ecs.reader import WorldReader

__all__ = ["CHECKSUM_TAG", "world_checksum"]

CHECKSUM_TAG = b"gpi.ecs.checksum.v1"


def world_checksum(world: WorldReader) -> int:
    """The checksum of ``world`` (a :class:`World` or :class:`WorldView`)."""
    h = checksum_bytes(CHECKSUM_TAG)
    schema = [world.components[n].to_dict() for n in sorted(world.components)]
    h = checksum_bytes(canonical_packb(schema), h)
    ent = world._entities
    n = ent.count
    h = checksum_bytes(np.array([n], dtype="<u8"), h)
    h = checksum_bytes(ent.generation[:n], h)
    h = checksum_bytes((ent.table[:n] >= 0).astype(np.uint8), h)
    for t in sorted(world._tables, key=table_order_key):
        if not t.rows:
            continue
        h = checksum_bytes(canonical_packb([list(t.names), t.rows]), h)
        h = checksum_bytes(t.entities[: t.rows], h)
        for name in t.names:
            h = checksum_bytes(t.columns[name][: t.rows], h)
    h = checksum_bytes(canonical_packb(world._resources.to_dict()), h)
    return h
