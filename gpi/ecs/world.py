"""The host's ECS world: owns the tables, the entity index and the segments.

A :class:`World` is the only writer. Structural changes (spawn, despawn,
add/remove component) move rows between archetype tables with vectorised
numpy operations and bump the layout :attr:`~WorldReader.epoch`; value writes
(``set``, writable query chunks) do not. Sandboxed systems never call these
methods: they send a :class:`~gpi.ecs.commands.CommandBuffer`, which
:meth:`World.apply` validates in full before touching anything.

Everything lives in sealed memfd segments (see :mod:`gpi.ecs.storage`);
:meth:`World.layout` and :meth:`World.segments` describe them so another
process can map the same arrays read-only (:class:`~gpi.ecs.view.WorldView`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gpi.ecs.changes import ChangeState
from gpi.ecs.component import Component
from gpi.ecs.entities import EntityIndex, id_index, make_ids
from gpi.ecs.errors import MissingComponentError, SchemaError
from gpi.ecs.reader import WorldReader
from gpi.ecs.relations import (
    CHILD_OF,
    Relation,
    check_plan,
    descendants,
    drop_dangling,
    expand_despawn,
    sweep,
)
from gpi.ecs.storage import SegmentPool
from gpi.ecs.table import Table
from gpi.shm import Segment

__all__ = ["DEFAULT_MAX_COMMAND_BYTES", "LAYOUT_VERSION", "World"]

LAYOUT_VERSION = 1
# A command buffer larger than this (arrays fully broadcast) is rejected: one
# misbehaving plugin must not make the host allocate without bound.
DEFAULT_MAX_COMMAND_BYTES = 256 << 20


def _as_ids(ids: Any) -> np.ndarray:
    arr = np.asarray(ids)
    if arr.dtype.kind not in "ui" and arr.size:
        raise SchemaError(f"entity ids must be integers (uint64), got dtype {arr.dtype}")
    return arr.astype(np.uint64, copy=False).reshape(-1)


class World(WorldReader):
    """The authoritative world in the host process (see the module doc)."""

    _host_writable = True
    _closed = False

    def __init__(self, seed: int = 0, *, max_command_bytes: int = DEFAULT_MAX_COMMAND_BYTES,
                 name: str = "gpi-ecs") -> None:
        """An empty world; ``seed`` is kept for deterministic RNG resources and snapshots."""
        super().__init__()
        self.seed = int(seed)
        self.max_command_bytes = int(max_command_bytes)
        self._pool = SegmentPool(name)
        self._by_key: dict[frozenset[str], Table] = {}
        self._changes = ChangeState()  # change ticks, last runs, removal logs (gpi.ecs.changes)
        self._relations: dict[str, Relation] = {}  # relationship kinds (gpi.ecs.relations)
        try:
            self._entities = EntityIndex.create(self._pool.create)
        except BaseException:
            self._pool.close()
            raise

    # -- schema ---------------------------------------------------------------------

    def register(self, *components: Component) -> None:
        """Declare components; re-registering an identical one is a no-op, a different one an error."""
        for c in components:
            if not isinstance(c, Component):
                raise SchemaError(f"register() takes Component objects, got {c!r}")
            old = self._components.get(c.name)
            if old is not None and old != c:
                raise SchemaError(f"component {c.name!r} is already registered as {old!r}, not {c!r}")
        for c in components:
            self._components[c.name] = c

    # -- storage helpers ------------------------------------------------------------

    def _table_for(self, names: frozenset[str]) -> Table:
        t = self._by_key.get(names)
        if t is None:
            comps = tuple(self._components[n] for n in sorted(names))
            t = Table.create(len(self._tables), comps, self._pool.create, tracked=tuple(self._changes.tracked))
            self._tables.append(t)
            self._by_key[names] = t
        return t

    def _reserve(self, table: Table, extra: int) -> None:
        old = table.reserve(extra, self._pool.create)
        if old is not None:
            self._pool.release(old)

    def _touch(self, tables: list[Table]) -> None:
        self._epoch += 1
        for t in tables:
            t.version = self._epoch

    def _coerce_all(self, values: dict[str, Any] | None, count: int, where: str) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for name in sorted(values or {}):
            out[name] = self.component(name).coerce(values[name], count, where)  # type: ignore[index]
        return out

    def _ids_alive_unique(self, ids: Any, what: str) -> tuple[np.ndarray, np.ndarray]:
        arr = _as_ids(ids)
        idx = self._entities.require_alive(arr, f"{what}: ")
        if len(np.unique(idx)) != len(idx):
            u, c = np.unique(arr, return_counts=True)
            raise SchemaError(f"{what}: entity {int(u[c > 1][0]):#x} appears more than once")
        return arr, idx

    def _remove_from(self, table: Table, rows: np.ndarray) -> None:
        dst, _src = table.remove_rows(rows)
        if len(dst):
            moved = id_index(table.entities[dst]).astype(np.int64)
            self._entities.row[moved] = dst

    def _move(self, src: Table, dst: Table, rows: np.ndarray, extra: dict[str, np.ndarray], tick: int = 0) -> None:
        """Move ``rows`` of ``src`` to the end of ``dst``; ``extra`` supplies columns src lacks (stamped ``tick``)."""
        ents = src.entities[rows]
        vals = {n: (src.columns[n][rows] if n in src.columns else extra[n]) for n in dst.names}
        self._reserve(dst, len(rows))
        start = dst.append(ents, vals, tick)
        for n in dst.tracked:  # components the rows keep keep their ticks
            if n in src.added_ticks:
                dst.added_ticks[n][start:start + len(rows)] = src.added_ticks[n][rows]
                dst.changed_ticks[n][start:start + len(rows)] = src.changed_ticks[n][rows]
        idx = id_index(ents).astype(np.int64)
        self._entities.table[idx] = dst.id
        self._entities.row[idx] = np.arange(start, start + len(rows), dtype=np.int32)
        self._remove_from(src, rows)

    # -- structural changes -----------------------------------------------------------

    def spawn(self, count: int, values: dict[str, Any] | None = None) -> np.ndarray:
        """Create ``count`` entities with the given components; scalars broadcast. Returns their ids."""
        count = int(count)
        if count < 0:
            raise SchemaError(f"spawn count must be >= 0, got {count}")
        arrays = self._coerce_all(values, count, "spawn")
        if count == 0:
            return np.zeros(0, dtype=np.uint64)
        table = self._table_for(frozenset(arrays))
        self._reserve(table, count)
        idx, old = self._entities.alloc(count, self._pool.create)
        if old is not None:
            self._pool.release(old)
        ids = make_ids(idx, self._entities.generation[idx])
        start = table.append(ids, arrays, self._changes.stamp())
        self._entities.table[idx] = table.id
        self._entities.row[idx] = np.arange(start, start + count, dtype=np.int32)
        self._touch([table])
        return ids

    def despawn(self, ids: Any) -> None:
        """Destroy live entities; their ids are dead for good."""
        arr, idx = self._ids_alive_unique(ids, "despawn")
        if not len(arr):
            return
        if self._relations:  # on_delete="despawn" sources go too (gpi.ecs.relations)
            arr = expand_despawn(self, arr)
            idx = self._entities.require_alive(arr, "despawn: ")
        tids = self._entities.table[idx]
        touched = []
        watched = self._changes.watchers
        tick = self._changes.stamp() if watched else 0
        for tid in np.unique(tids):
            table = self._tables[int(tid)]
            sel = tids == tid
            for name in table.names:
                if name in watched:
                    self._changes.record_removed(name, arr[sel], tick)
            self._remove_from(table, self._entities.row[idx[sel]].astype(np.int64))
            touched.append(table)
        self._entities.release(idx)
        self._touch(touched)
        if self._relations:  # no relation keeps pointing at them
            drop_dangling(self, arr)

    def despawn_recursive(self, ids: Any, relation: str = CHILD_OF) -> np.ndarray:
        """Despawn live ``ids`` and every entity below them by ``relation`` (dead ids are skipped).

        Returns every id despawned (policies of other relations may take more).
        """
        arr = _as_ids(ids)
        arr = np.unique(arr[self._entities.alive_mask(arr)])
        if relation in self._components:
            more = descendants(self, arr, (relation,))
            arr = np.concatenate([arr, more]) if len(more) else arr
        if len(arr):
            self.despawn(arr)
        return arr

    # -- relations (gpi.ecs.relations) ---------------------------------------------------

    @property
    def relations(self) -> dict[str, Relation]:
        """Declared relationship kinds by name (do not mutate; use :meth:`declare_relation`)."""
        return self._relations

    def declare_relation(self, relation: Relation) -> None:
        """Register a relationship kind and its component; the same declaration twice is a no-op."""
        old = self._relations.get(relation.name)
        if old is not None and old != relation:
            raise SchemaError(f"relation {relation.name!r} is already declared as {old}, not {relation}")
        self.register(relation.component())
        self._relations[relation.name] = relation

    def add_component(self, ids: Any, name: str, values: Any) -> None:
        """Give live entities component ``name`` (set its value where they already have it)."""
        comp = self.component(name)
        arr, idx = self._ids_alive_unique(ids, f"add_component {name!r}")
        vals = comp.coerce(values, len(arr), f"add_component {name!r}")
        if not len(arr):
            return
        tids = self._entities.table[idx]
        touched = []
        tick = self._changes.stamp()
        for tid in np.unique(tids):
            sel = tids == tid
            src = self._tables[int(tid)]
            rows = self._entities.row[idx[sel]].astype(np.int64)
            if name in src.name_set:
                src.columns[name][rows] = vals[sel]
                if name in src.changed_ticks:
                    src.changed_ticks[name][rows] = tick
                continue
            dst_id = src.add_edges.get(name)
            dst = self._tables[dst_id] if dst_id is not None else self._table_for(src.name_set | {name})
            src.add_edges[name] = dst.id
            self._move(src, dst, rows, {name: vals[sel]}, tick)
            touched += [src, dst]
        if touched:
            self._touch(touched)

    def remove_component(self, ids: Any, name: str) -> None:
        """Take component ``name`` away from live entities (those without it are left alone)."""
        self.component(name)
        arr, idx = self._ids_alive_unique(ids, f"remove_component {name!r}")
        if not len(arr):
            return
        tids = self._entities.table[idx]
        touched = []
        for tid in np.unique(tids):
            src = self._tables[int(tid)]
            if name not in src.name_set:
                continue
            rows = self._entities.row[idx[tids == tid]].astype(np.int64)
            if name in self._changes.watchers:
                self._changes.record_removed(name, arr[tids == tid], self._changes.stamp())
            dst_id = src.remove_edges.get(name)
            dst = self._tables[dst_id] if dst_id is not None else self._table_for(src.name_set - {name})
            src.remove_edges[name] = dst.id
            self._move(src, dst, rows, {})
            touched += [src, dst]
        if touched:
            self._touch(touched)

    # -- values ---------------------------------------------------------------------

    def set(self, eid: int, name: str, value: Any) -> None:
        """Write component ``name`` of live entity ``eid`` (which must have it)."""
        comp = self.component(name)
        tid, row = self._entities.locate(eid)
        table = self._tables[tid]
        if name not in table.name_set:
            raise MissingComponentError(
                f"entity {int(eid):#x} has no component {name!r} (it has {list(table.names)}); "
                f"use add_component"
            )
        table.columns[name][row] = comp.coerce(value, 1, f"set {name!r}")[0]
        if name in table.changed_ticks:
            table.changed_ticks[name][row] = self._changes.stamp()

    def set_many(self, name: str, ids: Any, values: Any) -> None:
        """Write component ``name`` of many live entities (all must have it)."""
        comp = self.component(name)
        arr = _as_ids(ids)
        idx = self._entities.require_alive(arr, f"set {name!r}: ")
        vals = comp.coerce(values, len(arr), f"set {name!r}")
        tids = self._entities.table[idx]
        for tid in np.unique(tids):
            table = self._tables[int(tid)]
            if name not in table.name_set:
                raise MissingComponentError(
                    f"set {name!r}: entities of table {list(table.names)} have no {name!r}"
                )
        tick = self._changes.stamp()
        for tid in np.unique(tids):
            sel = tids == tid
            table = self._tables[int(tid)]
            rows = self._entities.row[idx[sel]]
            table.columns[name][rows] = vals[sel]
            if name in table.changed_ticks:
                table.changed_ticks[name][rows] = tick

    def mark_changed(self, table_id: int, name: str, rows: Any = None) -> None:
        """Stamp rows of a table as written (all live rows by default): for whole-column writes."""
        table = self._tables[int(table_id)]
        ticks = table.changed_ticks.get(name)
        if ticks is not None:
            tick = self._changes.stamp()
            if rows is None:
                ticks[: table.rows] = tick
            else:
                ticks[np.asarray(rows, dtype=np.int64)] = tick

    # -- change detection (gpi.ecs.changes) -------------------------------------------

    @property
    def changes(self) -> ChangeState:
        """The change tick, tracked components, last-run ticks and removal logs."""
        return self._changes

    def track_changes(self, *names: str) -> None:
        """Keep added/changed ticks for components ``names`` from now on (existing rows: stamped now)."""
        for n in names:
            self.component(n)
        new = set(names) - self._changes.tracked
        if not new:
            return
        self._changes.tracked |= new
        tick = self._changes.stamp()
        touched = []
        for t in self._tables:
            if new & t.name_set:
                old = t.retrack(tuple(self._changes.tracked), self._pool.create, tick)
                if old is not None:
                    self._pool.release(old)
                    touched.append(t)
        if touched:
            self._touch(touched)

    def watch_removed(self, name: str, key: str) -> None:
        """System ``key`` wants ``removed(name)``: log removals and despawns of ``name``."""
        self.component(name)
        self._changes.watch_removed(name, key)

    def begin_system(self, key: str, removed: Any = ()) -> dict[str, Any]:
        """Change-detection state for one call of system ``key`` (see :meth:`ChangeState.begin_system`)."""
        return self._changes.begin_system(key, tuple(removed))

    # -- resources and events -------------------------------------------------------

    def insert_resource(self, name: str, value: Any) -> None:
        """Set resource ``name`` to a msgpack-able value."""
        self._resources.insert(name, value)

    def remove_resource(self, name: str) -> None:
        """Remove resource ``name`` if present."""
        self._resources.remove(name)

    def send_event(self, name: str, payload: Any) -> None:
        """Queue a msgpack-able payload on event ``name`` for this tick."""
        self._events.send(name, payload)

    def clear_events(self) -> None:
        """Drop this tick's events (call once per tick, after the last reader)."""
        self._events.clear()

    # -- sharing ----------------------------------------------------------------------

    def layout(self) -> dict[str, Any]:
        """A msgpack-able description of every array, for :meth:`WorldView.from_layout`.

        Keys: ``v`` (layout format), ``epoch``, ``components`` (schema dicts),
        ``entities`` (index segment and offsets), ``tables`` (id, components,
        rows, capacity, version, segment, offsets), ``segments`` ([[id, size], ...]).
        """
        used = {self._entities.segment_id} | {t.segment_id for t in self._tables}
        segs = self._pool.segments()
        return {
            "v": LAYOUT_VERSION,
            "epoch": self._epoch,
            "components": [c.to_dict() for c in self._components.values()],
            "entities": self._entities.layout(),
            "tables": [t.layout() for t in self._tables],
            "segments": [[sid, segs[sid].size] for sid in sorted(used)],
        }

    def segments(self) -> dict[int, Segment]:
        """The segments the current layout uses, by stable id."""
        return self._pool.segments()

    # -- commands ---------------------------------------------------------------------

    def validate(self, cmds: Any, access: Any = None, source: str = "") -> None:
        """Check a command buffer completely; raises :class:`CommandError` listing every problem."""
        from gpi.ecs.commands import validate_buffer

        check_plan(self, validate_buffer(self, cmds, access, source), source)

    def apply(self, cmds: Any, access: Any = None, source: str = "") -> None:
        """Validate, then apply a command buffer; a bad buffer is rejected whole, the world untouched."""
        from gpi.ecs.commands import apply_buffer, validate_buffer

        plan = validate_buffer(self, cmds, access, source)
        check_plan(self, plan, source)
        with self._changes.batch():
            apply_buffer(self, plan)
            if self._relations and any(op["op"] == "spawn" and set(op["values"]) & set(self._relations)
                                       for op in plan):
                sweep(self)  # spawned with a target this list also despawned
        if self._changes.check_due():
            self._changes.check_ticks(self._tables)

    # -- snapshots ------------------------------------------------------------------

    def snapshot(self) -> bytes:
        """The whole world state as lz4-compressed bytes (see :mod:`gpi.ecs.snapshot`)."""
        from gpi.ecs.snapshot import encode_snapshot

        return encode_snapshot(self)

    @classmethod
    def from_snapshot(cls, data: bytes, *, name: str = "gpi-ecs") -> World:
        """A new world holding the state of a snapshot; raises :class:`SnapshotError`."""
        from gpi.ecs.snapshot import decode_snapshot

        world = cls(name=name)
        try:
            decode_snapshot(data, world, keep_epoch=False)
        except BaseException:
            world.close()
            raise
        return world

    def restore(self, data: bytes) -> None:
        """Replace this world's state with a snapshot's (the epoch moves forward)."""
        from gpi.ecs.snapshot import decode_snapshot

        decode_snapshot(data, self, keep_epoch=True)

    # -- lifetime -------------------------------------------------------------------

    def close(self) -> None:
        """Release every segment. Safe to call twice; the world is unusable afterwards."""
        if self._closed:
            return
        self._closed = True
        self._tables = []
        self._by_key = {}
        self._queries.clear()
        pool = getattr(self, "_pool", None)
        if pool is not None:
            pool.close()

    def __enter__(self) -> World:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        return (f"<World entities={self.entity_count} tables={len(self._tables)} "
                f"epoch={self._epoch} segments={len(self._pool) if not self._closed else 0}>")

