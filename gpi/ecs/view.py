"""A read-only world in another process, rebuilt from a layout message.

The host sends :meth:`World.layout` (a msgpack-able dict) and the fds of the
segments the child has not seen yet (segment ids are stable and never reused,
see :mod:`gpi.ecs.storage`). The child attaches them read-only
(:func:`attach_segments`) and builds a :class:`WorldView`: the same
``query``/``get``/``is_alive``/``components`` as the host world, over the very
same memory. The segments are sealed, so the child cannot get a writable
mapping even by asking the kernel directly; numpy views are read-only too.

Per frame the host may change values in place (same epoch, no new message
needed) or change the layout (new epoch): then it sends a new layout and
:meth:`WorldView.update` rebuilds the views that changed. When the only change
is in row counts (spawns and despawns that fit the existing segments), a
*layout delta* is enough: :func:`layout_delta` computes it from the layout the
view last saw, :meth:`WorldView.apply_delta` applies it. A delta is a small
msgpack-able dict::

    {"base": int,                 # epoch of the layout it applies to
     "epoch": int,                # epoch it brings the view to
     "entities": [count, alive],  # entity-index high-water mark and live count
     "tables": [[id, rows, version], ...]}   # only the tables that changed

Resources and events travel in the frame message and are set with
:meth:`WorldView.set_frame_state`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from gpi.ecs.component import Component
from gpi.ecs.entities import EntityIndex
from gpi.ecs.errors import LayoutError
from gpi.ecs.reader import WorldReader
from gpi.ecs.resources import Events, Resources
from gpi.ecs.table import Table
from gpi.shm import Segment

__all__ = ["WorldView", "attach_segments", "layout_delta", "layout_segment_ids", "missing_segment_ids"]

LAYOUT_VERSION = 1


def layout_segment_ids(layout: dict[str, Any]) -> list[int]:
    """Ids of every segment a layout uses, in the order the layout lists them."""
    try:
        return [int(sid) for sid, _size in layout["segments"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise LayoutError(f"layout has no valid 'segments' list: {exc!r}") from exc


def missing_segment_ids(layout: dict[str, Any], known: Iterable[int]) -> list[int]:
    """Segment ids of ``layout`` not in ``known``: the fds a host still has to send."""
    have = set(known)
    return [sid for sid in layout_segment_ids(layout) if sid not in have]


def attach_segments(
    layout: dict[str, Any], ids: Sequence[int], fds: Sequence[int], known: dict[int, Segment] | None = None
) -> dict[int, Segment]:
    """Map received ``fds`` (for segment ``ids``) read-only; returns ``known`` plus them, minus unused ones.

    Segments no longer in the layout are closed. Ownership of ``fds`` passes to the segments.
    """
    if len(ids) != len(fds):
        raise LayoutError(f"got {len(fds)} fds for {len(ids)} segment ids")
    sizes = {int(sid): int(size) for sid, size in layout["segments"]}
    out = dict(known or {})
    for sid, fd in zip(ids, fds):
        if sid not in sizes:
            raise LayoutError(f"segment {sid} is not part of the layout (epoch {layout.get('epoch')})")
        old = out.pop(sid, None)
        if old is not None:
            old.close()
        out[sid] = Segment.attach(fd, sizes[sid], readonly=True, name=f"gpi-ecs-{sid}")
    for sid in [s for s in out if s not in sizes]:
        out.pop(sid).close()
    return out


_ROW_KEYS = frozenset(("rows", "version"))


def layout_delta(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any] | None:
    """The delta from layout ``old`` to ``new`` (see the module doc), or None if a full layout is needed.

    A delta exists when both layouts have the same components, segments and
    tables (ids, components, segments, capacities, offsets) and differ only
    in row counts, table versions and the entity index's counters.
    """
    if old is None or old.get("v") != LAYOUT_VERSION or new.get("v") != LAYOUT_VERSION:
        return None
    if old["segments"] != new["segments"] or old["components"] != new["components"]:
        return None
    oe, ne = old["entities"], new["entities"]
    if len(oe) != len(ne) or any(oe[k] != v for k, v in ne.items() if k not in ("count", "alive")):
        return None
    ot, nt = old["tables"], new["tables"]
    if len(ot) != len(nt):
        return None
    changed = []
    for a, b in zip(ot, nt):
        if a["rows"] == b["rows"] and a.get("version") == b.get("version"):
            if a != b:
                return None
            continue
        if len(a) != len(b) or any(a[k] != v for k, v in b.items() if k not in _ROW_KEYS):
            return None
        changed.append([b["id"], b["rows"], b.get("version", 0)])
    return {"base": int(old["epoch"]), "epoch": int(new["epoch"]),
            "entities": [ne["count"], ne.get("alive", 0)], "tables": changed}


class WorldView(WorldReader):
    """Read-only world over segments mapped from the host (see the module doc)."""

    def __init__(self) -> None:
        """An empty view; use :meth:`from_layout`."""
        super().__init__()
        self._segments: dict[int, Segment] = {}
        self._schema: list[Any] | None = None  # the layout's component list behind storage.components

    @classmethod
    def from_layout(cls, layout: dict[str, Any], segments: dict[int, Segment]) -> WorldView:
        """Build a view of ``layout`` over ``segments`` (id -> read-only Segment; the caller owns them)."""
        view = cls()
        view.update(layout, segments)
        return view

    def update(self, layout: dict[str, Any], segments: dict[int, Segment]) -> None:
        """Bring the views to a new layout (epoch); raises :class:`LayoutError` if it does not fit.

        Only what changed is rebuilt: a table (or the entity index) still on the
        same segment object with the same capacity and components keeps its
        numpy views and just takes the new row count and version; the component
        registry is kept when the schema list is unchanged. A steady world that
        only spawns and despawns rows thus costs a few microseconds per epoch.
        """
        if not isinstance(layout, dict) or layout.get("v") != LAYOUT_VERSION:
            raise LayoutError(f"unknown layout format {layout.get('v') if isinstance(layout, dict) else layout!r}; "
                              f"expected v={LAYOUT_VERSION}")
        try:
            sizes = {int(sid): int(size) for sid, size in layout["segments"]}
            for sid, size in sizes.items():
                seg = segments.get(sid)
                if seg is None:
                    raise LayoutError(f"layout (epoch {layout.get('epoch')}) needs segment {sid}, "
                                      f"which was not given; have {sorted(segments)}")
                if seg.size < size:
                    raise LayoutError(f"segment {sid} is {seg.size} bytes, layout says {size}")
            schema = layout["components"]
            state = self._storage
            if schema == self._schema and state.components:
                comps = state.components
            else:
                comps = {d["name"]: Component.from_dict(d) for d in schema}
            entities = self._entities_for(layout["entities"], segments)
            old = state.tables if comps is state.components else []
            tables = [self._table_for(e, comps, segments, old) for e in layout["tables"]]
            epoch = int(layout["epoch"])
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, LayoutError):
                raise
            raise LayoutError(f"malformed layout: {exc!r}") from exc
        if [t.id for t in tables] != list(range(len(tables))):
            raise LayoutError("layout tables must be listed by id, 0..n-1")
        same = comps is state.components and len(tables) == len(state.tables) and all(
            a is b for a, b in zip(tables, state.tables))
        self._schema = schema
        state.components = comps
        state.entities = entities
        state.tables = tables
        state.epoch = epoch
        self._segments = segments
        if not same:  # the query cache holds table objects: only stale when one was replaced
            self._queries.clear()

    def apply_delta(self, delta: dict[str, Any]) -> None:
        """Apply a :func:`layout_delta`; raises :class:`LayoutError` if it does not fit this view.

        Checked completely before anything changes, so a refused delta leaves the view as it was.
        """
        try:
            base, epoch = int(delta["base"]), int(delta["epoch"])
            count, alive = (int(x) for x in delta["entities"])
            rows = [(int(tid), int(n), int(version)) for tid, n, version in delta["tables"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise LayoutError(f"malformed layout delta: {exc!r}") from exc
        state = self._storage
        if base != state.epoch or not state.has_entities:
            raise LayoutError(f"layout delta for epoch {base} does not apply to this view at epoch {state.epoch}; "
                              "the host must send a full layout")
        ent = state.entities
        if not 0 <= count <= ent.capacity or not 0 <= alive <= count:
            raise LayoutError(f"layout delta: entity counts {count}/{alive} do not fit the index "
                              f"(capacity {ent.capacity})")
        tables = state.tables
        for tid, n, _version in rows:
            if not 0 <= tid < len(tables) or not 0 <= n <= tables[tid].capacity:
                raise LayoutError(f"layout delta: table {tid} with {n} rows does not fit this view "
                                  f"({len(tables)} tables)")
        for tid, n, version in rows:
            t = tables[tid]
            t.rows = n
            t.version = version
        ent.count = count
        ent.alive_count = alive
        state.epoch = epoch

    def _entities_for(self, entry: dict[str, Any], segments: dict[int, Segment]) -> EntityIndex:
        """The entity index of ``entry``: the current one updated in place when its arrays did not move."""
        cur = self._storage.entities if self._storage.has_entities else None
        sid = int(entry["segment"])
        if (cur is not None and cur.segment_id == sid and cur.segment is segments.get(sid)
                and cur.capacity == int(entry["capacity"])):
            count = int(entry["count"])
            if not 0 <= count <= cur.capacity:
                raise LayoutError(f"entity index count {count} is outside its capacity {cur.capacity}")
            cur.count = count
            cur.alive_count = int(entry.get("alive", 0))
            return cur
        return EntityIndex.from_layout(entry, segments)

    @staticmethod
    def _table_for(entry: dict[str, Any], comps: dict[str, Component], segments: dict[int, Segment],
                   old: list[Table]) -> Table:
        """Table ``entry``: the old object with new rows/version when its segment and schema are unchanged."""
        tid = int(entry["id"])
        t = old[tid] if 0 <= tid < len(old) else None
        sid = int(entry["segment"])
        if (t is not None and t.segment_id == sid and t.segment is segments.get(sid)
                and t.capacity == int(entry["capacity"]) and list(t.names) == list(entry["components"])):
            rows = int(entry["rows"])
            if not 0 <= rows <= t.capacity:
                raise LayoutError(f"table {tid}: {rows} rows do not fit its capacity {t.capacity}")
            t.rows = rows
            t.version = int(entry.get("version", 0))
            return t
        return Table.from_layout(entry, comps, segments)

    def set_frame_state(self, resources: dict[str, Any] | None, events: dict[str, list[Any]] | None) -> None:
        """This frame's resources and events, as sent by the host."""
        self._storage.resources = Resources(resources or {})
        self._storage.events = Events(events or {})

    def close(self) -> None:
        """Drop every view (the segments belong to the caller). Safe to call twice."""
        self._storage.tables = []
        self._segments = {}
        self._schema = None
        self._queries.clear()

    def __enter__(self) -> WorldView:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<WorldView entities={self.entity_count} tables={len(self._storage.tables)} epoch={self.epoch}>"
