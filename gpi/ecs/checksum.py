"""The world checksum: one 64-bit number over everything that defines the state.

Chained with the kernel of :mod:`gpi.cython_ext.checksum` (each part seeds the
next; :func:`~gpi.cython_ext.checksum.checksum_buffers` hashes a whole list of
parts in one call), in this order (format ``gpi.ecs.checksum.v2``):

1. *structure*: the tag ``CHECKSUM_TAG``; the component schema (canonical
   msgpack of the schema dicts, sorted by name); the entity index: used slot
   count (u64 little-endian), ``generation[:count]`` and the alive flag per
   slot (uint8); then for every non-empty table in the defined order (sorted
   component names): msgpack ``[names, rows]`` and ``entities[:rows]``;
2. *values*: for the same tables in the same order, each column's live rows
   (columns sorted by name; never the unused capacity);
3. *resources*: canonical msgpack (maps sorted by packed key).

Events are per-tick and not part of it. The free list is not either (it is
implied by the operation history that the replay checks anyway), so a
:class:`~gpi.ecs.view.WorldView` computes the same value as its host world.

Caching. The structure only changes together with the layout epoch (every
structural change bumps it, see :mod:`gpi.ecs.world`), so part 1 is hashed
once per epoch: the world keeps a small plan (the structure's hash, weak
references to the column arrays and their live byte lengths) and each call
hashes only the columns, in one kernel call, and the resources. A plan is
reused only while the epoch, the entity index, the component registry and
every column array are the same objects; it holds only weak references to
the arrays, so it never keeps a released segment's memory alive. Resources holding
only immutable scalars (int, float, str, bytes, bool, None) keep their
encoding while every value is the very same object; any other value is
re-encoded on each call. ``world_checksum(world, cache=False)`` computes
everything afresh (tests compare the two).
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

import msgpack
import numpy as np

from gpi.cython_ext.checksum import checksum_buffers, checksum_bytes
from gpi.ecs.errors import LayoutError
from gpi.ecs.query import table_order_key
from gpi.ecs.resources import canonical_packb

if TYPE_CHECKING:
    from gpi.ecs.component import Component
    from gpi.ecs.entities import EntityIndex
    from gpi.ecs.reader import WorldReader

__all__ = ["CHECKSUM_TAG", "world_checksum"]

CHECKSUM_TAG = b"gpi.ecs.checksum.v2"
_STATE_ATTR = "_checksum_state"
_IMMUTABLE = (int, float, str, bytes, bool, type(None))
_MISSING = object()


class _Plan:
    """What one layout epoch of a world needs for its checksum."""

    __slots__ = ("epoch", "entities", "components", "ncomp", "struct_hash", "refs", "lengths")

    def __init__(self, world: WorldReader, schema: bytes) -> None:
        ent = world._entities
        n = ent.count
        buffers: list[Any] = [CHECKSUM_TAG, schema, n.to_bytes(8, "little"), ent.generation,
                              np.greater_equal(ent.table[:n], 0)]
        lengths = [len(CHECKSUM_TAG), len(schema), 8, 4 * n, n]
        columns: list[np.ndarray] = []
        self.lengths: list[int] = []
        for t in sorted(world._tables, key=table_order_key):
            rows = t.rows
            if not rows:
                continue
            head = msgpack.packb([list(t.names), rows], use_bin_type=True)
            buffers += [head, t.entities]
            lengths += [len(head), 8 * rows]
            for name in t.names:
                col = t.columns[name]
                columns.append(col)
                self.lengths.append(rows * col.strides[0] if col.ndim else col.nbytes)
        self.struct_hash = checksum_buffers(buffers, lengths)
        self.epoch = world._epoch
        self.entities: weakref.ref[EntityIndex] = weakref.ref(ent)
        self.components: dict[str, Component] = world._components
        self.ncomp = len(self.components)
        self.refs = [weakref.ref(c) for c in columns]

    def columns(self, world: WorldReader) -> list[np.ndarray] | None:
        """The live column arrays if this plan still describes ``world``, else None."""
        if (self.epoch != world._epoch or self.entities() is not world._entities
                or self.components is not world._components or self.ncomp != len(self.components)):
            return None
        cols = [r() for r in self.refs]
        for c in cols:
            if c is None:
                return None
        return cols  # type: ignore[return-value]


class _State:
    """Per-world cache: the plan of the current epoch, the schema and resource encodings."""

    __slots__ = ("plan", "schema_of", "schema_n", "schema", "res_pairs", "res_bytes")

    def __init__(self) -> None:
        self.plan: _Plan | None = None
        self.schema_of: dict[str, Component] | None = None
        self.schema_n = -1
        self.schema = b""
        self.res_pairs: list[tuple[str, Any]] | None = None
        self.res_bytes = b""


def _schema_bytes(world: WorldReader) -> bytes:
    comps = world._components
    return canonical_packb([comps[n].to_dict() for n in sorted(comps)])


def _resource_bytes(world: WorldReader, state: _State | None) -> bytes:
    items = world._resources._items
    if state is not None:
        pairs = state.res_pairs
        if pairs is not None and len(pairs) == len(items):
            for k, v in pairs:
                if items.get(k, _MISSING) is not v:
                    break
            else:
                return state.res_bytes
    data = canonical_packb(dict(items))
    if state is not None:
        if all(type(v) in _IMMUTABLE for v in items.values()):
            state.res_pairs = list(items.items())
            state.res_bytes = data
        else:
            state.res_pairs = None
    return data


def world_checksum(world: WorldReader, *, cache: bool = True) -> int:
    """The checksum of ``world`` (a :class:`World` or :class:`WorldView`); ``cache=False`` recomputes all."""
    if getattr(world, "_closed", False):
        raise LayoutError("checksum() of a closed world: its segments are released; "
                          "take the checksum before close()")
    state: _State | None = None
    plan: _Plan | None = None
    cols: list[np.ndarray] | None = None
    if cache:
        state = getattr(world, _STATE_ATTR, None)
        if state is None:
            state = _State()
            setattr(world, _STATE_ATTR, state)
        plan = state.plan
        if plan is not None:
            cols = plan.columns(world)
    if plan is None or cols is None:
        comps = world._components
        if state is None:
            schema = _schema_bytes(world)
        else:
            if state.schema_of is not comps or state.schema_n != len(comps):
                state.schema = _schema_bytes(world)
                state.schema_of, state.schema_n = comps, len(comps)
            schema = state.schema
        plan = _Plan(world, schema)
        if state is not None:
            state.plan = plan
        cols = plan.columns(world)
        if cols is None:  # a fresh plan always matches; this would be a bug here
            raise LayoutError("world checksum: the world changed while its plan was built")
    h = checksum_buffers(cols, plan.lengths, plan.struct_hash)
    return checksum_bytes(_resource_bytes(world, state), h)
