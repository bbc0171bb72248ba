"""Archetype tables: one table per distinct set of components, structure of arrays.

A table holds every entity that has exactly its component set. Each component
is one column, ``dtype[capacity, *shape]``; row ``r`` of every column belongs
to the entity ``entities[r]``. Rows ``[0, rows)`` are packed: removing a row
moves the last rows into the holes (swap-remove), so a table is always one
contiguous block per column and a query needs no gather.

All columns of a table live in one shared-memory segment::

    offset 0              entities  uint64[capacity]
    align64(...)          column 0  dtype0[capacity, *shape0]   (columns sorted by name)
    align64(...)          column 1  ...

When an append would overflow ``capacity`` the table moves into a new segment
of twice the capacity (rows are copied, the old segment is released): views
taken before that point at old memory, which is why every growth bumps the
world's layout epoch.

Components the world tracks for change detection (see :mod:`gpi.ecs.changes`)
also get two ``uint32[capacity]`` tick arrays each, ``added`` then ``changed``,
after the columns (sorted by name, 64-byte aligned); they move with their rows.

``version`` is the world epoch of the last structural change that touched the
table (rows added, removed, reordered, or moved to a new segment): a
whole-column write prepared against an older version is stale.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gpi.ecs.component import Component
from gpi.ecs.errors import LayoutError
from gpi.shm import Segment, align_up

__all__ = ["MIN_ROWS", "Table"]

MIN_ROWS = 64  # first capacity of a table; doubles from there

SegmentFactory = Any  # Callable[[int, str], tuple[int, Segment]]


def _plan(components: tuple[Component, ...], capacity: int,
          tracked: tuple[str, ...] = ()) -> tuple[int, dict[str, int], int, dict[str, list[int]]]:
    ent_off = 0
    off = align_up(8 * capacity)
    offsets: dict[str, int] = {}
    for c in components:
        offsets[c.name] = off
        off = align_up(off + c.itemsize * capacity)
    ticks: dict[str, list[int]] = {}
    for name in tracked:  # change ticks: added, changed (gpi.ecs.changes)
        ticks[name] = [off, align_up(off + 4 * capacity)]
        off = align_up(ticks[name][1] + 4 * capacity)
    return ent_off, offsets, max(off, 64), ticks


class Table:
    """One archetype: its components, row count, capacity and column views."""

    def __init__(
        self,
        table_id: int,
        components: tuple[Component, ...],
        segment_id: int,
        segment: Segment,
        capacity: int,
        rows: int = 0,
        version: int = 0,
        tracked: tuple[str, ...] = (),
    ) -> None:
        """Views over ``segment`` laid out as in the module doc; prefer :meth:`create`/:meth:`from_layout`."""
        self.id = int(table_id)
        self.components = tuple(sorted(components, key=lambda c: c.name))
        self.names = tuple(c.name for c in self.components)
        self.name_set = frozenset(self.names)
        self.rows = int(rows)
        self.version = int(version)
        self.tracked = tuple(sorted(n for n in set(tracked) if n in self.name_set))
        self._bind(segment_id, segment, int(capacity))
        # archetype graph: component name -> table id after adding/removing it
        self.chunk_cache: dict[tuple[tuple[str, ...], bool], Any] = {}  # see WorldReader.query
        self.add_edges: dict[str, int] = {}
        self.remove_edges: dict[str, int] = {}

    def _bind(self, segment_id: int, segment: Segment, capacity: int) -> None:
        ent_off, offsets, total, ticks = _plan(self.components, capacity, self.tracked)
        if total > segment.size or self.rows > capacity:
            raise LayoutError(
                f"table {self.id} {list(self.names)}: capacity {capacity} needs {total} bytes, "
                f"segment {segment_id} has {segment.size}"
            )
        self.segment_id = segment_id
        self.segment = segment
        self.capacity = capacity
        self.entities_offset = ent_off
        self.offsets = offsets
        self.entities = segment.ndarray(np.uint64, capacity, ent_off)
        self.columns: dict[str, np.ndarray] = {
            c.name: segment.ndarray(c.dtype, (capacity, *c.shape), offsets[c.name]) for c in self.components
        }
        self.tick_offsets = ticks
        self.added_ticks: dict[str, np.ndarray] = {n: segment.ndarray(np.uint32, capacity, o[0]) for n, o in ticks.items()}
        self.changed_ticks: dict[str, np.ndarray] = {
            n: segment.ndarray(np.uint32, capacity, o[1]) for n, o in ticks.items()}

    @classmethod
    def create(
        cls, table_id: int, components: tuple[Component, ...], factory: SegmentFactory, capacity: int = MIN_ROWS,
        tracked: tuple[str, ...] = (),
    ) -> Table:
        """A new empty table with its own segment from ``factory(size, what)`` (``tracked``: change ticks)."""
        comps = tuple(sorted(components, key=lambda c: c.name))
        names = {c.name for c in comps}
        tracked = tuple(sorted(n for n in set(tracked) if n in names))
        capacity = max(int(capacity), 1)
        sid, seg = factory(_plan(comps, capacity, tracked)[2], f"t{table_id}")
        return cls(table_id, comps, sid, seg, capacity, tracked=tracked)

    # -- layout ---------------------------------------------------------------------

    def layout(self) -> dict[str, Any]:
        """This table's entry in a world layout message."""
        out = {
            "id": self.id,
            "components": list(self.names),
            "rows": self.rows,
            "capacity": self.capacity,
            "version": self.version,
            "segment": self.segment_id,
            "entities_offset": self.entities_offset,
            "columns": dict(self.offsets),
        }
        if self.tracked:
            out["ticks"] = {n: list(o) for n, o in self.tick_offsets.items()}
        return out

    @classmethod
    def from_layout(
        cls, entry: dict[str, Any], components: dict[str, Component], segments: dict[int, Segment]
    ) -> Table:
        """Read-only table over a segment received from the host."""
        try:
            comps = tuple(components[n] for n in entry["components"])
            sid = int(entry["segment"])
            t = cls(int(entry["id"]), comps, sid, segments[sid], int(entry["capacity"]),
                    int(entry["rows"]), int(entry.get("version", 0)), tuple(entry.get("ticks", ())))
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, LayoutError):
                raise
            raise LayoutError(f"bad table layout {entry!r}: {exc!r}") from exc
        if (dict(entry["columns"]) != t.offsets or int(entry["entities_offset"]) != t.entities_offset
                or {n: list(o) for n, o in entry.get("ticks", {}).items()} != t.tick_offsets):
            raise LayoutError(f"table {t.id}: column offsets in the layout do not match its schema")
        t.entities.flags.writeable = False
        for col in (*t.columns.values(), *t.added_ticks.values(), *t.changed_ticks.values()):
            col.flags.writeable = False
        return t

    # -- host-side mutation ---------------------------------------------------------

    def reserve(self, extra: int, factory: SegmentFactory) -> int | None:
        """Make room for ``extra`` more rows; returns the released segment id if the table moved."""
        needed = self.rows + int(extra)
        if needed <= self.capacity:
            return None
        cap = max(self.capacity, MIN_ROWS)
        while cap < needed:
            cap *= 2
        return self._rebind(cap, self.tracked, factory, 0)

    def retrack(self, tracked: tuple[str, ...], factory: SegmentFactory, tick: int) -> int | None:
        """Keep change ticks for ``tracked`` (moves to a new segment; new ticks start at ``tick``).

        Returns the released segment id, or None when nothing changed.
        """
        tracked = tuple(sorted(n for n in set(tracked) if n in self.name_set))
        if tracked == self.tracked:
            return None
        return self._rebind(self.capacity, tracked, factory, tick)

    def _rebind(self, cap: int, tracked: tuple[str, ...], factory: SegmentFactory, tick: int) -> int:
        old_tracked = self.tracked
        self.tracked = tracked
        sid, seg = factory(_plan(self.components, cap, tracked)[2], f"t{self.id}")
        old_entities, old_columns, n = self.entities, self.columns, self.rows
        old_added, old_changed = self.added_ticks, self.changed_ticks
        old_sid = self.segment_id
        try:
            self._bind(sid, seg, cap)
        except BaseException:
            self.tracked = old_tracked
            raise
        self.entities[:n] = old_entities[:n]
        for name, col in old_columns.items():
            self.columns[name][:n] = col[:n]
        for name in tracked:
            if name in old_added:
                self.added_ticks[name][:n] = old_added[name][:n]
                self.changed_ticks[name][:n] = old_changed[name][:n]
            else:
                self.added_ticks[name][:n] = tick
                self.changed_ticks[name][:n] = tick
        return old_sid

    def append(self, entities: np.ndarray, values: dict[str, np.ndarray], tick: int = 0) -> int:
        """Write ``len(entities)`` rows at the end (room must be reserved); returns the first row.

        Tracked components' added and changed ticks of the new rows are ``tick``.
        """
        n = len(entities)
        start = self.rows
        end = start + n
        self.entities[start:end] = entities
        for name, col in self.columns.items():
            col[start:end] = values[name]
        for name in self.tracked:
            self.added_ticks[name][start:end] = tick
            self.changed_ticks[name][start:end] = tick
        self.rows = end
        return start

    def remove_rows(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Remove distinct ``rows`` by moving tail rows into the holes.

        Returns ``(dst, src)``: the rows that now hold moved entities and where
        they came from (both ascending), so the caller can update the entity index.
        """
        n = self.rows
        k = len(rows)
        keep = n - k
        if k * 32 < n:  # few rows: work on O(k) arrays, not an n-sized mask
            r = np.sort(np.asarray(rows, dtype=np.int64))
            dst = r[r < keep]
            tail = np.arange(keep, n, dtype=np.int64)
            src = tail[~np.isin(tail, r[r >= keep])]
        else:
            removed = np.zeros(n, dtype=bool)
            removed[rows] = True
            dst = np.flatnonzero(removed[:keep])
            src = keep + np.flatnonzero(~removed[keep:])
        if len(dst):
            self.entities[dst] = self.entities[src]
            for col in (*self.columns.values(), *self.added_ticks.values(), *self.changed_ticks.values()):
                col[dst] = col[src]
        self.rows = keep
        return dst, src

    # -- views ----------------------------------------------------------------------

    def view(self, name: str) -> np.ndarray:
        """Column ``name`` limited to the live rows."""
        return self.columns[name][: self.rows]

    def __repr__(self) -> str:
        return f"<Table {self.id} {list(self.names)} rows={self.rows}/{self.capacity} seg={self.segment_id}>"
