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

from collections.abc import Iterator
from typing import Any

import numpy as np

from gpi.ecs.changes import ChangeState
from gpi.ecs.component import Component
from gpi.ecs.entities import id_index, make_ids
from gpi.ecs.errors import MissingComponentError, SchemaError
from gpi.ecs.reader import WorldReader
from gpi.ecs.relations import (
    CHILD_OF,
    Relation,
    check_plan,
    check_targets,
    descendants,
    drop_dangling,
    expand_despawn,
    sweep,
)
from gpi.ecs.storage import Storage
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

    def __init__(self, seed: int = 0, *, max_command_bytes: int = DEFAULT_MAX_COMMAND_BYTES,
                 name: str = "gpi-ecs") -> None:
        """An empty world; ``seed`` is kept for deterministic RNG resources and snapshots."""
        super().__init__(Storage.create(name, seed=seed))
        self.max_command_bytes = int(max_command_bytes)

    @property
    def seed(self) -> int:
        """The world seed (deterministic RNG streams derive from it; snapshots carry it)."""
        return self._storage.seed

    @seed.setter
    def seed(self, value: int) -> None:
        self._storage.seed = int(value)

    # -- schema ---------------------------------------------------------------------

    def register(self, *components: Component) -> None:
        """Declare components; re-registering an identical one is a no-op, a different one an error."""
        self._storage.register(components)

    # -- storage helpers ------------------------------------------------------------

    def _coerce_all(self, values: dict[str, Any] | None, count: int, where: str) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for name in sorted(values or {}):
            out[name] = self.component(name).coerce(values[name], count, where)  # type: ignore[index]
        return out

    def _ids_alive_unique(self, ids: Any, what: str) -> tuple[np.ndarray, np.ndarray]:
        arr = _as_ids(ids)
        idx = self._storage.entities.require_alive(arr, f"{what}: ")
        if len(np.unique(idx)) != len(idx):
            u, c = np.unique(arr, return_counts=True)
            raise SchemaError(f"{what}: entity {int(u[c > 1][0]):#x} appears more than once")
        return arr, idx

    def _by_table(self, idx: np.ndarray) -> Iterator[tuple[Table, np.ndarray, np.ndarray]]:
        """Entity slots ``idx`` grouped by table (ascending id): the table, the mask into ``idx``, their rows."""
        s = self._storage
        tids = s.entities.table[idx]
        for tid in np.unique(tids):
            sel = tids == tid
            yield s.tables[int(tid)], sel, s.entities.row[idx[sel]].astype(np.int64)

    def _remove_from(self, table: Table, rows: np.ndarray) -> None:
        dst, _src = table.remove_rows(rows)
        if len(dst):
            moved = id_index(table.entities[dst]).astype(np.int64)
            self._storage.entities.row[moved] = dst

    def _move(self, src: Table, dst: Table, rows: np.ndarray, extra: dict[str, np.ndarray], tick: int = 0) -> None:
        """Move ``rows`` of ``src`` to the end of ``dst``; ``extra`` supplies columns src lacks (stamped ``tick``)."""
        ents = src.entities[rows]
        vals = {n: (src.columns[n][rows] if n in src.columns else extra[n]) for n in dst.names}
        self._storage.reserve(dst, len(rows))
        start = dst.append(ents, vals, tick)
        for n in dst.tracked:  # components the rows keep keep their ticks (gpi.ecs.changes)
            if n in src.added_ticks:
                dst.added_ticks[n][start:start + len(rows)] = src.added_ticks[n][rows]
                dst.changed_ticks[n][start:start + len(rows)] = src.changed_ticks[n][rows]
        idx = id_index(ents).astype(np.int64)
        entities = self._storage.entities
        entities.table[idx] = dst.id
        entities.row[idx] = np.arange(start, start + len(rows), dtype=np.int32)
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
        s = self._storage
        for n in s.relations.keys() & arrays.keys():  # relation targets must be alive (gpi.ecs.relations)
            check_targets(self, n, None, arrays[n])
        table = s.table_for(frozenset(arrays))
        s.reserve(table, count)
        idx = s.alloc_entities(count)
        entities = s.entities
        ids = make_ids(idx, entities.generation[idx])
        start = table.append(ids, arrays, s.changes.stamp())
        entities.table[idx] = table.id
        entities.row[idx] = np.arange(start, start + count, dtype=np.int32)
        s.touch([table])
        return ids

    def despawn(self, ids: Any) -> None:
        """Destroy live entities; their ids are dead for good."""
        arr, idx = self._ids_alive_unique(ids, "despawn")
        if not len(arr):
            return
        s = self._storage
        entities = s.entities
        if s.relations:  # on_delete="despawn" sources go too (gpi.ecs.relations)
            arr = expand_despawn(self, arr)
            idx = entities.require_alive(arr, "despawn: ")
        touched = []
        watched = s.changes.watchers
        tick = s.changes.stamp() if watched else 0
        for table, sel, rows in self._by_table(idx):
            for name in table.names:
                if name in watched:  # ctx.removed(name) (gpi.ecs.changes)
                    s.changes.record_removed(name, arr[sel], tick)
            self._remove_from(table, rows)
            touched.append(table)
        entities.release(idx)
        s.touch(touched)
        if s.relations:  # no relation keeps pointing at them
            drop_dangling(self, arr)

    def despawn_recursive(self, ids: Any, relation: str = CHILD_OF) -> np.ndarray:
        """Despawn live ``ids`` and every entity below them by ``relation`` (dead ids are skipped).

        Returns every id despawned (policies of other relations may take more).
        """
        arr = _as_ids(ids)
        arr = np.unique(arr[self._storage.entities.alive_mask(arr)])
        if relation in self._storage.components:
            more = descendants(self, arr, (relation,))
            arr = np.concatenate([arr, more]) if len(more) else arr
        if len(arr):
            self.despawn(arr)
        return arr

    # -- relations (gpi.ecs.relations) ---------------------------------------------------

    @property
    def relations(self) -> dict[str, Relation]:
        """Declared relationship kinds by name (do not mutate; use :meth:`declare_relation`)."""
        return self._storage.relations

    def declare_relation(self, relation: Relation) -> None:
        """Register a relationship kind and its component; the same declaration twice is a no-op."""
        old = self._storage.relations.get(relation.name)
        if old is not None and old != relation:
            raise SchemaError(f"relation {relation.name!r} is already declared as {old}, not {relation}")
        self.register(relation.component())
        self._storage.relations[relation.name] = relation

    def add_component(self, ids: Any, name: str, values: Any) -> None:
        """Give live entities component ``name`` (set its value where they already have it)."""
        comp = self.component(name)
        arr, idx = self._ids_alive_unique(ids, f"add_component {name!r}")
        vals = comp.coerce(values, len(arr), f"add_component {name!r}")
        if not len(arr):
            return
        s = self._storage
        if name in s.relations:
            check_targets(self, name, arr, vals)
        touched = []
        tick = s.changes.stamp()
        for src, sel, rows in self._by_table(idx):
            if name in src.name_set:
                src.columns[name][rows] = vals[sel]
                if name in src.changed_ticks:
                    src.changed_ticks[name][rows] = tick
                continue
            dst = self._storage.neighbour(src, name, add=True)
            self._move(src, dst, rows, {name: vals[sel]}, tick)
            touched += [src, dst]
        if touched:
            self._storage.touch(touched)

    def remove_component(self, ids: Any, name: str) -> None:
        """Take component ``name`` away from live entities (those without it are left alone)."""
        self.component(name)
        arr, idx = self._ids_alive_unique(ids, f"remove_component {name!r}")
        if not len(arr):
            return
        touched = []
        for src, sel, rows in self._by_table(idx):
            if name not in src.name_set:
                continue
            changes = self._storage.changes
            if name in changes.watchers:  # ctx.removed(name) (gpi.ecs.changes)
                changes.record_removed(name, arr[sel], changes.stamp())
            dst = self._storage.neighbour(src, name, add=False)
            self._move(src, dst, rows, {})
            touched += [src, dst]
        if touched:
            self._storage.touch(touched)

    # -- values ---------------------------------------------------------------------

    def set(self, eid: int, name: str, value: Any) -> None:
        """Write component ``name`` of live entity ``eid`` (which must have it)."""
        comp = self.component(name)
        tid, row = self._storage.entities.locate(eid)
        table = self._storage.tables[tid]
        if name not in table.name_set:
            raise MissingComponentError(
                f"entity {int(eid):#x} has no component {name!r} (it has {list(table.names)}); "
                f"use add_component"
            )
        val = comp.coerce(value, 1, f"set {name!r}")
        if name in self._storage.relations:
            check_targets(self, name, np.asarray([eid], np.uint64), val)
        table.columns[name][row] = val[0]
        if name in table.changed_ticks:
            table.changed_ticks[name][row] = self._storage.changes.stamp()

    def set_many(self, name: str, ids: Any, values: Any) -> None:
        """Write component ``name`` of many live entities (all must have it)."""
        comp = self.component(name)
        arr = _as_ids(ids)
        s = self._storage
        idx = s.entities.require_alive(arr, f"set {name!r}: ")
        vals = comp.coerce(values, len(arr), f"set {name!r}")
        if name in s.relations:
            check_targets(self, name, arr, vals)
        tids = s.entities.table[idx]
        for tid in np.unique(tids):
            table = s.tables[int(tid)]
            if name not in table.name_set:
                raise MissingComponentError(
                    f"set {name!r}: entities of table {list(table.names)} have no {name!r}"
                )
        tick = s.changes.stamp()
        for tid in np.unique(tids):
            sel = tids == tid
            table = s.tables[int(tid)]
            rows = s.entities.row[idx[sel]]
            table.columns[name][rows] = vals[sel]
            if name in table.changed_ticks:
                table.changed_ticks[name][rows] = tick

    # -- change detection (gpi.ecs.changes) -------------------------------------------

    @property
    def changes(self) -> ChangeState:
        """The change tick, tracked components, last-run ticks, removal logs, started plugins."""
        return self._storage.changes

    def track_changes(self, *names: str) -> None:
        """Keep added/changed ticks for components ``names`` from now on (existing rows: stamped now)."""
        for n in names:
            self.component(n)
        s = self._storage
        new = set(names) - s.changes.tracked
        if not new:
            return
        s.changes.tracked |= new
        touched = s.retrack(s.changes.stamp())
        if touched:
            s.touch(touched)

    def watch_removed(self, name: str, key: str) -> None:
        """System ``key`` wants ``removed(name)``: log removals and despawns of ``name``."""
        self.component(name)
        self._storage.changes.watch_removed(name, key)

    def begin_system(self, key: str, removed: Any = ()) -> dict[str, Any]:
        """Change-detection state for one call of system ``key`` (see :meth:`ChangeState.begin_system`)."""
        return self._storage.changes.begin_system(key, tuple(removed))

    # -- resources and events -------------------------------------------------------

    def insert_resource(self, name: str, value: Any) -> None:
        """Set resource ``name`` to a msgpack-able value."""
        self._storage.resources.insert(name, value)

    def remove_resource(self, name: str) -> None:
        """Remove resource ``name`` if present."""
        self._storage.resources.remove(name)

    def send_event(self, name: str, payload: Any) -> None:
        """Queue a msgpack-able payload on event ``name`` for this tick."""
        self._storage.events.send(name, payload)

    def clear_events(self) -> None:
        """Drop this tick's events (call once per tick, after the last reader)."""
        self._storage.events.clear()

    # -- sharing ----------------------------------------------------------------------

    def layout(self) -> dict[str, Any]:
        """A msgpack-able description of every array, for :meth:`WorldView.from_layout`.

        Keys: ``v`` (layout format), ``epoch``, ``components`` (schema dicts),
        ``entities`` (index segment and offsets), ``tables`` (id, components,
        rows, capacity, version, segment, offsets), ``segments`` ([[id, size], ...]).
        """
        s = self._storage
        segs = self.segments()
        return {
            "v": LAYOUT_VERSION,
            "epoch": s.epoch,
            "components": [c.to_dict() for c in s.components.values()],
            "entities": s.entities.layout(),
            "tables": [t.layout() for t in s.tables],
            "segments": [[sid, segs[sid].size] for sid in sorted(s.used_segment_ids())],
        }

    def segments(self) -> dict[int, Segment]:
        """The segments the current layout uses, by stable id."""
        pool = self._storage.pool
        return pool.segments() if pool is not None else {}

    # -- commands ---------------------------------------------------------------------

    def validate(self, cmds: Any, access: Any = None, source: str = "") -> None:
        """Check a command buffer completely; raises :class:`CommandError` listing every problem."""
        from gpi.ecs.commands import validate_buffer

        check_plan(self, validate_buffer(self, cmds, access, source), source)

    def apply(self, cmds: Any, access: Any = None, source: str = "") -> None:
        """Validate, then apply a command buffer; a bad buffer is rejected whole, the world untouched."""
        from gpi.ecs.commands import apply_buffer, validate_buffer

        plan = validate_buffer(self, cmds, access, source)
        check_plan(self, plan, source)  # relation targets alive (gpi.ecs.relations)
        changes = self._storage.changes
        with changes.batch():  # one change tick for the whole list (gpi.ecs.changes)
            apply_buffer(self, plan)
            if self._storage.relations and any(op["op"] == "spawn" and set(op["values"]) & set(self.relations)
                                               for op in plan):
                sweep(self)  # spawned with a target this list also despawned
        if changes.check_due():
            changes.check_ticks(self._storage.tables)

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
        world._swap_storage(decode_snapshot(data, name=name), epoch=None)
        return world

    def restore(self, data: bytes) -> None:
        """Replace this world's state with a snapshot's; raises :class:`SnapshotError`, the world as it was.

        The new state is built aside in fresh segments and swapped in whole. The
        epoch becomes the old one plus one and segment ids keep counting up, so
        children never confuse old and new segments.
        """
        from gpi.ecs.snapshot import decode_snapshot

        pool = self._storage.pool
        assert pool is not None
        self._swap_storage(decode_snapshot(data, name=pool.prefix, first_id=pool.next_id),
                           epoch=self._storage.epoch + 1)

    def _swap_storage(self, storage: Storage, epoch: int | None) -> None:
        """Take ``storage`` as this world's state (at ``epoch`` if given) and release the old one."""
        old = self._storage
        if epoch is not None:
            storage.set_epoch(epoch)
        self._storage = storage
        self._queries.clear()
        old.close()

    # -- lifetime -------------------------------------------------------------------

    def close(self) -> None:
        """Release every segment. Safe to call twice; the world is unusable afterwards."""
        storage = getattr(self, "_storage", None)  # absent after a failed __init__
        if storage is None or storage.closed:
            return
        self._queries.clear()
        storage.close()

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
        s = self._storage
        return (f"<World entities={self.entity_count} tables={len(s.tables)} "
                f"epoch={s.epoch} segments={len(s.pool) if s.pool is not None and not s.closed else 0}>")

