"""Entity ids and the entity index.

An entity id is a ``uint64``: ``(generation << 32) | index``. ``index`` is a
slot in the entity index; ``generation`` counts how many times the slot has
been used, starting at 1, so 0 is never a valid id and a despawned id never
becomes valid again (despawn bumps the slot's generation; a slot whose
generation would overflow is retired for good).

The index is three parallel arrays over one shared-memory segment, ``capacity``
slots each, in this byte order (each array 64-byte aligned)::

    generation  uint32[capacity]   current generation of the slot
    table       int32[capacity]    table id holding the entity, -1 if free
    row         int32[capacity]    row in that table

Free slots are reused first-in first-out (despawn order), then fresh slots in
increasing order: the same operations always produce the same ids.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from gpi.ecs.errors import DeadEntityError, LayoutError
from gpi.shm import Segment, align_up

__all__ = [
    "INDEX_BITS",
    "MAX_GENERATION",
    "EntityIndex",
    "id_generation",
    "id_index",
    "make_ids",
]

INDEX_BITS = 32
INDEX_MASK = np.uint64((1 << INDEX_BITS) - 1)
MAX_GENERATION = (1 << 32) - 1
MIN_CAPACITY = 1024


def make_ids(index: Any, generation: Any) -> np.ndarray:
    """Entity ids from slot indices and generations (arrays or scalars)."""
    return (np.asarray(generation, dtype=np.uint64) << np.uint64(INDEX_BITS)) | np.asarray(
        index, dtype=np.uint64
    )


def id_index(ids: Any) -> np.ndarray:
    """Slot indices of entity ids."""
    return np.asarray(ids, dtype=np.uint64) & INDEX_MASK


def id_generation(ids: Any) -> np.ndarray:
    """Generations of entity ids."""
    return np.asarray(ids, dtype=np.uint64) >> np.uint64(INDEX_BITS)


def _plan(capacity: int) -> tuple[int, int, int, int]:
    gen_off = 0
    table_off = align_up(gen_off + 4 * capacity)
    row_off = align_up(table_off + 4 * capacity)
    return gen_off, table_off, row_off, align_up(row_off + 4 * capacity)


SegmentFactory = Callable[[int, str], tuple[int, Segment]]


class EntityIndex:
    """Slot arrays (generation, table, row) in a segment, plus the free list (host side)."""

    def __init__(self, segment_id: int, segment: Segment, capacity: int, count: int = 0) -> None:
        """Views over ``segment`` (see the module doc for the layout); prefer :meth:`create`."""
        self.segment_id = segment_id
        self.segment = segment
        self.capacity = int(capacity)
        self.count = int(count)  # slots ever used (high-water mark)
        g, t, r, total = _plan(self.capacity)
        if total > segment.size:
            raise LayoutError(
                f"entity index of capacity {capacity} needs {total} bytes; segment has {segment.size}"
            )
        self.generation = segment.ndarray(np.uint32, self.capacity, g)
        self.table = segment.ndarray(np.int32, self.capacity, t)
        self.row = segment.ndarray(np.int32, self.capacity, r)
        self.free = np.zeros(0, dtype=np.int64)  # FIFO of reusable slots
        self.alive_count = 0

    @classmethod
    def create(cls, factory: SegmentFactory, capacity: int = MIN_CAPACITY) -> EntityIndex:
        """A new empty index in a segment from ``factory(size, what)``."""
        capacity = max(int(capacity), 1)
        sid, seg = factory(_plan(capacity)[3], "entities")
        idx = cls(sid, seg, capacity)
        idx.table[:] = -1
        return idx

    def layout(self) -> dict[str, Any]:
        """Where the arrays live, for :meth:`from_layout` in another process."""
        g, t, r, _ = _plan(self.capacity)
        return {
            "segment": self.segment_id,
            "capacity": self.capacity,
            "count": self.count,
            "alive": self.alive_count,
            "generation_offset": g,
            "table_offset": t,
            "row_offset": r,
        }

    @classmethod
    def from_layout(cls, entry: dict[str, Any], segments: dict[int, Segment]) -> EntityIndex:
        """Read-only index over a segment received from the host."""
        try:
            seg = segments[int(entry["segment"])]
            idx = cls(int(entry["segment"]), seg, int(entry["capacity"]), int(entry["count"]))
            idx.alive_count = int(entry.get("alive", 0))
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, LayoutError):
                raise
            raise LayoutError(f"bad entity-index layout {entry!r}: {exc!r}") from exc
        for a in (idx.generation, idx.table, idx.row):
            a.flags.writeable = False
        return idx

    # -- host-side mutation ---------------------------------------------------------

    def grow_to(self, needed: int, factory: SegmentFactory) -> int | None:
        """Ensure ``needed`` slots fit; returns the old segment id if a new segment was made."""
        if needed <= self.capacity:
            return None
        cap = self.capacity
        while cap < needed:
            cap *= 2
        sid, seg = factory(_plan(cap)[3], "entities")
        g, t, r, _ = _plan(cap)
        n = self.count
        gen = seg.ndarray(np.uint32, cap, g)
        tab = seg.ndarray(np.int32, cap, t)
        row = seg.ndarray(np.int32, cap, r)
        gen[:n] = self.generation[:n]
        tab[:n] = self.table[:n]
        tab[n:] = -1
        row[:n] = self.row[:n]
        old = self.segment_id
        self.segment_id, self.segment, self.capacity = sid, seg, cap
        self.generation, self.table, self.row = gen, tab, row
        return old

    def alloc(self, n: int, factory: SegmentFactory) -> tuple[np.ndarray, int | None]:
        """Take ``n`` slots (free list first, FIFO; then fresh): their indices and a replaced segment id."""
        reuse = min(n, len(self.free))
        fresh = n - reuse
        old = self.grow_to(self.count + fresh, factory)
        taken = self.free[:reuse]
        self.free = self.free[reuse:]
        new = np.arange(self.count, self.count + fresh, dtype=np.int64)
        self.generation[new] = 1
        self.count += fresh
        self.alive_count += n
        return np.concatenate([taken, new]) if reuse else new, old

    def release(self, index: np.ndarray) -> None:
        """Free slots: bump generations (so old ids die), queue them for reuse unless retired."""
        self.table[index] = -1
        retire = self.generation[index] == MAX_GENERATION
        keep = index[~retire]
        self.generation[keep] += 1
        self.free = np.concatenate([self.free, keep])
        self.alive_count -= len(index)

    # -- queries --------------------------------------------------------------------

    def alive_mask(self, ids: Any) -> np.ndarray:
        """Bool per id: is it a live entity of this index."""
        arr = np.asarray(ids, dtype=np.uint64).reshape(-1)
        idx = (arr & INDEX_MASK).astype(np.int64)
        gen = arr >> np.uint64(INDEX_BITS)
        inside = idx < self.count
        safe = np.where(inside, idx, 0)
        return inside & (self.generation[safe] == gen) & (self.table[safe] >= 0) & (gen > 0)

    def locate(self, eid: int) -> tuple[int, int]:
        """(table id, row) of a live entity; raises :class:`DeadEntityError`."""
        e = int(eid)
        idx = e & 0xFFFFFFFF
        gen = e >> 32
        if gen == 0 or idx >= self.count or int(self.generation[idx]) != gen or self.table[idx] < 0:
            raise DeadEntityError(describe_dead(e, self))
        return int(self.table[idx]), int(self.row[idx])

    def require_alive(self, ids: np.ndarray, what: str = "") -> np.ndarray:
        """Slot indices of ``ids``; raises :class:`DeadEntityError` naming the first dead ones."""
        mask = self.alive_mask(ids)
        if not mask.all():
            dead = ids[~mask]
            names = ", ".join(describe_dead(int(d), self) for d in dead[:3])
            more = f" (and {len(dead) - 3} more)" if len(dead) > 3 else ""
            raise DeadEntityError(f"{what}{names}{more}")
        return (ids & INDEX_MASK).astype(np.int64)


def describe_dead(eid: int, index: EntityIndex) -> str:
    """Why ``eid`` is not a live entity, in words."""
    idx, gen = eid & 0xFFFFFFFF, eid >> 32
    head = f"entity {eid:#x} (index {idx}, generation {gen})"
    if gen == 0:
        return f"{head} is not an entity id (generation 0 is never used)"
    if idx >= index.count:
        return f"{head} was never spawned in this world (a foreign or made-up id)"
    cur = int(index.generation[idx])
    if gen > cur:
        return f"{head} was never spawned in this world (slot is at generation {cur})"
    return f"{head} is dead (despawned; the slot is now at generation {cur})"
