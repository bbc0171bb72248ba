"""The world's state, one owner: :class:`Storage`, and its segments, :class:`SegmentPool`.

A :class:`Storage` holds everything that *is* a world: the component
registry, the entity index, the archetype tables (and the map from a
component set to its table), resources, events, the layout epoch, the seed,
and (host side) the pool of shared-memory segments those arrays live in.
:class:`~gpi.ecs.world.World` and :class:`~gpi.ecs.view.WorldView` each own
one and implement their API over it; the checksum
(:mod:`gpi.ecs.checksum`) and snapshots (:mod:`gpi.ecs.snapshot`) read it.
Restoring a snapshot builds a new storage aside and swaps it in whole
(:meth:`World.restore`), so a failed restore leaves the old one untouched.

Invariants (host side):

- ``tables[i].id == i``; ``archetypes[t.name_set] is t`` for every table;
- ``entities.table[slot]`` / ``entities.row[slot]`` locate every live
  entity, and ``tables[t].entities[row]`` is its id;
- every structural change bumps ``epoch`` and sets the ``version`` of the
  tables it touched to the new epoch (:meth:`Storage.touch`);
- every segment a table or the entity index uses comes from ``pool``; a
  replaced segment is released at once (views held elsewhere keep its
  memory until they are dropped).

Storage is the unchecked layer: its methods trust their arguments (the
world validates first). Segment ids come from :class:`SegmentPool`: they
count up from 1 and are never reused, so a host that has already sent
segment 7 to a child only needs to send fds for ids the child has not seen.
Segments are sealed at creation (no new writable mapping can ever be made),
so whatever a child maps is read-only; the host's own writable mapping keeps
working.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from gpi.ecs.changes import ChangeState
from gpi.ecs.component import Component
from gpi.ecs.entities import EntityIndex
from gpi.ecs.errors import LayoutError, SchemaError, UnknownComponentError
from gpi.ecs.relations import Relation
from gpi.ecs.resources import Events, Resources
from gpi.ecs.table import MIN_ROWS, Table
from gpi.shm import Segment

__all__ = ["SegmentPool", "Storage"]


class SegmentPool:
    """Creates, names, seals and closes the world's segments; ids are stable ints."""

    def __init__(self, prefix: str = "gpi-ecs", first_id: int = 1) -> None:
        self._prefix = prefix
        self._next_id = int(first_id)
        self._segments: dict[int, Segment] = {}

    def create(self, size: int, what: str) -> tuple[int, Segment]:
        """A new sealed, zero-filled segment of at least ``size`` bytes and its id."""
        sid = self._next_id
        self._next_id += 1
        seg = Segment.create(max(int(size), 1), f"{self._prefix}-{what}")
        try:
            seg.seal(allow_peer_writes=False)
        except BaseException:
            seg.close()
            raise
        self._segments[sid] = seg
        return sid, seg

    def release(self, sid: int | None) -> None:
        """Close segment ``sid`` (views still held elsewhere keep the memory until dropped); None is a no-op."""
        if sid is None:
            return
        seg = self._segments.pop(sid, None)
        if seg is not None:
            seg.close()

    def segments(self) -> dict[int, Segment]:
        """The live segments by id (a new dict)."""
        return dict(self._segments)

    def close(self) -> None:
        """Close every segment. Safe to call twice."""
        for sid in list(self._segments):
            self.release(sid)

    @property
    def prefix(self) -> str:
        """The name prefix of this pool's segments (shown in ``/proc/<pid>/maps``)."""
        return self._prefix

    @property
    def next_id(self) -> int:
        """The id the next segment will get (ids are never reused)."""
        return self._next_id

    def __len__(self) -> int:
        return len(self._segments)


class Storage:
    """Components, entities, tables, resources, events, segments and the epoch of one world.

    Attributes are the state itself (see the module doc for the invariants);
    methods are the structural steps the world composes. ``pool`` is None for
    a child's view, whose segments belong to its caller.
    """

    checksum_cache: Any = None  # owned by gpi.ecs.checksum: its per-epoch plan for this state
    _entities: EntityIndex | None = None
    _closed = False

    def __init__(self, pool: SegmentPool | None = None, *, seed: int = 0) -> None:
        """Empty state over ``pool`` (no entity index yet: see :meth:`create`)."""
        self.pool = pool
        self.seed = int(seed)
        self.components: dict[str, Component] = {}
        self.tables: list[Table] = []
        self.archetypes: dict[frozenset[str], Table] = {}
        self.resources = Resources()
        self.events = Events()
        self.epoch = 0
        self.changes = ChangeState()  # change ticks, last runs, removal logs, started plugins (gpi.ecs.changes)
        self.relations: dict[str, Relation] = {}  # relationship kinds (gpi.ecs.relations)

    @classmethod
    def create(cls, name: str = "gpi-ecs", *, seed: int = 0, first_id: int = 1) -> Storage:
        """Empty host state with its own segment pool (ids from ``first_id``) and an entity index."""
        pool = SegmentPool(name, first_id)
        storage = cls(pool, seed=seed)
        try:
            storage.entities = EntityIndex.create(pool.create)
        except BaseException:
            pool.close()
            raise
        return storage

    # -- the parts --------------------------------------------------------------------

    @property
    def entities(self) -> EntityIndex:
        """The entity index; raises :class:`LayoutError` before there is one (a view with no layout)."""
        ent = self._entities
        if ent is None:
            raise LayoutError("this world has no entity index yet: build a WorldView with WorldView.from_layout")
        return ent

    @entities.setter
    def entities(self, index: EntityIndex) -> None:
        self._entities = index

    @property
    def has_entities(self) -> bool:
        """Whether an entity index is in place."""
        return self._entities is not None

    def component(self, name: str) -> Component:
        """The registered component ``name``; raises :class:`UnknownComponentError`."""
        try:
            return self.components[name]
        except (KeyError, TypeError):
            raise UnknownComponentError(
                f"component {name!r} is not registered; registered: {sorted(self.components)}"
            ) from None

    def register(self, components: Iterable[Component]) -> None:
        """Declare components; an identical one again is a no-op, a different one a :class:`SchemaError`."""
        comps = list(components)
        for c in comps:
            if not isinstance(c, Component):
                raise SchemaError(f"register() takes Component objects, got {c!r}")
            old = self.components.get(c.name)
            if old is not None and old != c:
                raise SchemaError(f"component {c.name!r} is already registered as {old!r}, not {c!r}")
        for c in comps:
            self.components[c.name] = c

    # -- structural steps (host side; arguments are trusted) ----------------------------

    def _need_pool(self) -> SegmentPool:
        if self.pool is None:
            raise LayoutError("this world's storage has no segment pool (a read-only view cannot allocate)")
        return self.pool

    def table_for(self, names: frozenset[str]) -> Table:
        """The table of exactly the components ``names`` (registered), made empty if new."""
        t = self.archetypes.get(names)
        if t is None:
            comps = tuple(self.components[n] for n in sorted(names))
            t = self.add_table(comps)
        return t

    def neighbour(self, table: Table, name: str, *, add: bool) -> Table:
        """The table of ``table``'s components plus (``add``) or minus ``name``, through the cached archetype edges."""
        edges = table.add_edges if add else table.remove_edges
        tid = edges.get(name)
        if tid is not None:
            return self.tables[tid]
        dst = self.table_for(table.name_set | {name} if add else table.name_set - {name})
        edges[name] = dst.id
        return dst

    def add_table(self, components: tuple[Component, ...], capacity: int = MIN_ROWS) -> Table:
        """A new empty table (the next id) for ``components``, in its own segment."""
        t = Table.create(len(self.tables), components, self._need_pool().create, capacity,
                         tracked=tuple(self.changes.tracked))
        self.tables.append(t)
        self.archetypes[t.name_set] = t
        return t

    def reserve(self, table: Table, extra: int) -> None:
        """Room for ``extra`` more rows in ``table`` (a table that moves releases its old segment)."""
        pool = self._need_pool()
        pool.release(table.reserve(extra, pool.create))

    def grow_entities(self, needed: int) -> None:
        """Room for ``needed`` entity slots (an index that moves releases its old segment)."""
        pool = self._need_pool()
        pool.release(self.entities.grow_to(needed, pool.create))

    def alloc_entities(self, count: int) -> np.ndarray:
        """Take ``count`` entity slots (see :meth:`EntityIndex.alloc`); returns their indices."""
        pool = self._need_pool()
        idx, old = self.entities.alloc(count, pool.create)
        pool.release(old)
        return idx

    def touch(self, tables: Iterable[Table]) -> None:
        """A structural change: bump the epoch and stamp ``tables`` with it."""
        self.epoch += 1
        for t in tables:
            t.version = self.epoch

    def set_epoch(self, epoch: int) -> None:
        """Move to layout ``epoch`` with every table stamped with it (a restored state)."""
        self.epoch = int(epoch)
        for t in self.tables:
            t.version = self.epoch

    def retrack(self, tick: int) -> list[Table]:
        """Give every table tick arrays for the tracked components (new ones stamped ``tick``); the moved tables."""
        pool = self._need_pool()
        moved = []
        for t in self.tables:
            old = t.retrack(tuple(self.changes.tracked), pool.create, tick)
            if old is not None:
                pool.release(old)
                moved.append(t)
        return moved

    def write_column(self, table_id: int, name: str, values: np.ndarray) -> None:
        """Overwrite the live rows of column ``name`` of table ``table_id`` (shape already checked)."""
        table = self.tables[table_id]
        table.columns[name][: table.rows] = values
        ticks = table.changed_ticks.get(name)
        if ticks is not None:  # change detection: every live row was written
            ticks[: table.rows] = self.changes.stamp()

    # -- sharing and lifetime ------------------------------------------------------------

    def used_segment_ids(self) -> set[int]:
        """Ids of the segments the entity index and the tables use now."""
        return {self.entities.segment_id} | {t.segment_id for t in self.tables}

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` ran (the segments are released)."""
        return self._closed

    def close(self) -> None:
        """Drop the tables and release every segment of the pool. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self.tables = []
        self.archetypes = {}
        if self.pool is not None:
            self.pool.close()

    def __repr__(self) -> str:
        return (f"<Storage tables={len(self.tables)} epoch={self.epoch} "
                f"segments={len(self.pool) if self.pool is not None else 0}>")
