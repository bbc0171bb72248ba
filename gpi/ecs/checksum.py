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
3. *resources*: canonical msgpack (maps sorted by packed key), followed, when
   anything watches changes, by the packed change state
   (:meth:`gpi.ecs.changes.ChangeState.state_bytes`) and, when relations are
   declared, the canonical msgpack of their declarations.

Tracked components' row ticks (added, then changed, per tracked name in order)
follow each table's columns in part 2 (:mod:`gpi.ecs.changes`).

Events are per-tick and not part of it. The free list is not either (it is
implied by the operation history that the replay checks anyway), so a
:class:`~gpi.ecs.view.WorldView` computes the same value as its host world.

Everything is read from the world's :class:`~gpi.ecs.storage.Storage`
(:func:`storage_checksum`; :func:`world_checksum` is the same for a world or
a view).

Caching. The structure only changes together with the layout epoch (every
structural change bumps it, see :mod:`gpi.ecs.world`), so part 1 is hashed
once per epoch: the storage keeps a small plan (the structure's hash, weak
references to the column arrays and their live byte lengths), and a steady
call is one kernel call over the columns and the resource bytes, seeded with
that hash. The plan stands while the epoch, the entity index and the
component registry (object and size) are the same; it holds only weak
references to the arrays, so it never keeps old arrays (or their segments)
alive, and the kernel dereferences them: should a column array die within an
epoch (no world operation does that), the kernel raises ``ReferenceError`` and
the plan is made again, so a stale array is never hashed.
Resources holding only immutable scalars (int, float, str, bytes, bool,
None) keep their encoding while every value is the very same object; any
other value is re-encoded on each call. The cache lives on the storage (its
``checksum_cache`` attribute, so a restored world, whose storage is new, starts
afresh) and, like the world, is for one thread. ``world_checksum(world,
cache=False)`` computes everything afresh (tests compare the two);
:func:`checksum_parts` lists the hashed buffers in order.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import msgpack
import numpy as np

from gpi.cython_ext.checksum import checksum_buffers, checksum_buffers_kernel
from gpi.ecs.errors import LayoutError
from gpi.ecs.query import table_order_key
from gpi.ecs.resources import canonical_packb

if TYPE_CHECKING:
    from gpi.ecs.component import Component
    from gpi.ecs.entities import EntityIndex
    from gpi.ecs.reader import WorldReader
    from gpi.ecs.storage import Storage

__all__ = ["CHECKSUM_TAG", "checksum_parts", "encode_resources", "storage_checksum", "world_checksum"]

CHECKSUM_TAG = b"gpi.ecs.checksum.v2"
_IMMUTABLE = (int, float, str, bytes, bool, type(None))
_MISSING = object()


# per table (by component names): the names list and (column, bytes per row) in order
_TableShape = tuple[list[str], list[tuple[str, int]]]


def _parts(world: Storage, schema: bytes, shapes: dict[tuple[str, ...], _TableShape],
           packer: msgpack.Packer) -> tuple[list[Any], list[int], list[np.ndarray], list[int]]:
    """Structure buffers and byte counts, then the column arrays and their live byte counts."""
    ent = world.entities
    n = ent.count
    buffers: list[Any] = [CHECKSUM_TAG, schema, n.to_bytes(8, "little"), ent.generation,
                          np.greater_equal(ent.table[:n], 0)]
    lengths = [len(CHECKSUM_TAG), len(schema), 8, 4 * n, n]
    columns: list[np.ndarray] = []
    col_lengths: list[int] = []
    for t in sorted(world.tables, key=table_order_key):
        rows = t.rows
        if not rows:
            continue
        shape = shapes.get(t.names)
        if shape is None:
            shape = shapes[t.names] = (list(t.names), [(c.name, c.itemsize) for c in t.components])
        head = packer.pack([shape[0], rows])
        buffers += [head, t.entities]
        lengths += [len(head), 8 * rows]
        cols = t.columns
        for name, itemsize in shape[1]:  # sorted by name
            columns.append(cols[name])
            col_lengths.append(rows * itemsize)
        for name in t.tracked:  # change ticks (gpi.ecs.changes)
            columns += [t.added_ticks[name], t.changed_ticks[name]]
            col_lengths += [4 * rows, 4 * rows]
    return buffers, lengths, columns, col_lengths


def checksum_parts(world: WorldReader) -> tuple[list[Any], list[int]]:
    """Every buffer the checksum covers, in order, and how many bytes of each (see the module doc).

    ``checksum_buffers(*checksum_parts(world)) == world.checksum()``: for
    debugging a divergence part by part, and for benchmarks.
    """
    return _storage_parts(world.storage)


def _storage_parts(state: Storage) -> tuple[list[Any], list[int]]:
    packer = msgpack.Packer(use_bin_type=True)
    buffers, lengths, columns, col_lengths = _parts(state, _schema_bytes(state), {}, packer)
    res = encode_resources(state.resources.as_mapping(), packer) + _change_bytes(state)
    return [*buffers, *columns, res], [*lengths, *col_lengths, len(res)]


class _Plan:
    """What one layout epoch of a world needs for its checksum.

    ``buffers`` holds weak references to the column arrays, ``lengths`` their
    live byte counts: one kernel call hashes them and the resource bytes (its
    ``tail``), seeded with the structure's hash.
    """

    __slots__ = ("epoch", "entities", "components", "ncomp", "struct_hash", "buffers", "lengths")

    def __init__(self, world: Storage, schema: bytes, shapes: dict[tuple[str, ...], _TableShape],
                 packer: msgpack.Packer) -> None:
        buffers, lengths, columns, col_lengths = _parts(world, schema, shapes, packer)
        self.struct_hash = checksum_buffers(buffers, lengths)
        self.epoch = world.epoch
        self.entities: weakref.ref[EntityIndex] = weakref.ref(world.entities)
        self.components: dict[str, Component] = world.components
        self.ncomp = len(self.components)
        self.buffers: list[Any] = [weakref.ref(c) for c in columns]
        self.lengths = col_lengths


class _State:
    """Per-world cache: the plan of the current epoch, the schema and resource encodings."""

    __slots__ = ("plan", "schema_of", "schema_n", "schema", "shapes", "packer", "res_pairs", "res_bytes", "kernel")

    def __init__(self) -> None:
        # the compiled kernel itself (no wrapper), else the numpy reference (same values)
        self.kernel: Callable[..., int] = checksum_buffers_kernel()
        self.plan: _Plan | None = None
        self.shapes: dict[tuple[str, ...], _TableShape] = {}
        self.packer = msgpack.Packer(use_bin_type=True)
        self.schema_of: dict[str, Component] | None = None
        self.schema_n = -1
        self.schema = b""
        self.res_pairs: list[tuple[str, Any]] | None = None
        self.res_bytes = b""

    def new_plan(self, world: Storage) -> _Plan:
        """Hash the structure of ``world`` (at its current epoch) and keep the plan."""
        comps = world.components
        if self.schema_of is not comps or self.schema_n != len(comps):
            self.schema = _schema_bytes(world)
            self.schema_of, self.schema_n = comps, len(comps)
            self.shapes = {}
        plan = self.plan = _Plan(world, self.schema, self.shapes, self.packer)
        return plan


def _change_bytes(world: Storage) -> bytes:
    """Change-detection state and relation declarations (empty when unused, so old checksums stand)."""
    out = world.changes.state_bytes() if world.changes.active else b""
    rels = world.relations
    if rels:
        out += canonical_packb([rels[n].to_dict() for n in sorted(rels)])
    return out


def _schema_bytes(world: Storage) -> bytes:
    comps = world.components
    return canonical_packb([comps[n].to_dict() for n in sorted(comps)])


def _scalar_or_flat(v: Any) -> bool:
    t = type(v)
    if t in _IMMUTABLE:
        return True
    if t is list or t is tuple:
        for x in v:
            if type(x) not in _IMMUTABLE:
                return False
        return True
    return False


def encode_resources(items: Mapping[str, Any], packer: msgpack.Packer) -> bytes:
    """``canonical_packb(items)``, faster for the usual flat values (str keys; scalars, lists of scalars)."""
    packed = []
    for k, v in items.items():
        if type(k) is not str or not _scalar_or_flat(v):
            return canonical_packb(dict(items))
        packed.append((packer.pack(k), k, v))
    packed.sort(key=lambda t: t[0])
    return packer.pack({k: v for _, k, v in packed})


def _resource_bytes(items: Mapping[str, Any], state: _State) -> bytes:
    """The resources' encoding, reused while every value is the very same immutable object."""
    pairs = state.res_pairs
    if pairs is not None and len(pairs) == len(items):
        for k, v in pairs:
            if items.get(k, _MISSING) is not v:
                break
        else:
            return state.res_bytes
    data = encode_resources(items, state.packer)
    for v in items.values():
        if type(v) not in _IMMUTABLE:
            state.res_pairs = None
            return data
    state.res_pairs = list(items.items())
    state.res_bytes = data
    return data


def world_checksum(world: WorldReader, *, cache: bool = True) -> int:
    """The checksum of ``world`` (a :class:`World` or :class:`WorldView`); ``cache=False`` recomputes all."""
    return storage_checksum(world.storage, cache=cache)


def storage_checksum(world: Storage, *, cache: bool = True) -> int:
    """The checksum of the state ``world`` (see the module doc); ``cache=False`` recomputes all."""
    if world.closed:
        raise LayoutError("checksum() of a closed world: its segments are released; "
                          "take the checksum before close()")
    if not cache:
        return checksum_buffers(*_storage_parts(world))
    state: _State | None = world.checksum_cache
    if state is None:
        state = world.checksum_cache = _State()
    plan = state.plan
    # The plan stands while the epoch, the entity index and the component registry do (see the module doc).
    if (plan is None or plan.epoch != world.epoch or plan.components is not world.components
            or plan.ncomp != len(plan.components) or plan.entities() is not world.entities):
        plan = state.new_plan(world)
    items = world.resources.as_mapping()
    pairs = state.res_pairs
    res = state.res_bytes
    if pairs is None or len(pairs) != len(items):
        res = _resource_bytes(items, state)
    else:
        for k, v in pairs:
            if items.get(k, _MISSING) is not v:
                res = _resource_bytes(items, state)
                break
    if world.changes.active or world.relations:
        res = res + _change_bytes(world)
    kernel = state.kernel
    try:
        return kernel(plan.buffers, plan.lengths, plan.struct_hash, res)
    except ReferenceError:
        # A column array went away within the epoch (it should not): never hash stale arrays, plan again.
        plan = state.new_plan(world)
        return kernel(plan.buffers, plan.lengths, plan.struct_hash, res)
