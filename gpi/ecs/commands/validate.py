"""Validation of a command buffer against the world and the system's declared access.

:func:`validate_buffer` checks *every* operation before anything is applied:

- size: the whole buffer, arrays fully broadcast, within
  ``World.max_command_bytes``, and at most ``MAX_OPS`` operations;
- access: writes only to components in ``Access.writes``, resources and
  events only as declared, structural changes only if ``Access.structural``;
- schema: known components, values that coerce to their dtype and shape;
- entities: ids live, none twice in one op, none despawned twice;
- whole-column writes (``set_chunk``): the table still at the version and
  row count the chunk was taken at, values covering exactly its live rows.

Any problem rejects the whole buffer: one :class:`~gpi.ecs.errors.CommandError`
(an :class:`~gpi.ecs.errors.AccessError` when the first problem is one of
access) lists them all. A clean buffer yields the *apply plan*: its operations
with coerced values, sorted by phase (see :mod:`gpi.ecs.commands`), for
:func:`~gpi.ecs.commands.apply.apply_buffer`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from gpi.ecs.commands.buffer import CommandBuffer
from gpi.ecs.commands.wire import MAX_OPS, op_array_bytes
from gpi.ecs.component import Component
from gpi.ecs.entities import describe_dead, id_index
from gpi.ecs.errors import AccessError, CommandError, SchemaError
from gpi.ecs.resources import normalise
from gpi.ecs.values import check_value

if TYPE_CHECKING:
    from gpi.ecs.storage import Storage
    from gpi.ecs.world import World

__all__ = ["PHASE", "STRUCTURAL", "Access", "validate_buffer"]

# Apply phase of each operation kind (see gpi.ecs.commands): writes, add, remove, despawn, spawn, resources, events.
PHASE = {"set": 0, "set_chunk": 0, "add": 1, "remove": 2, "despawn": 3, "despawn_recursive": 3, "spawn": 4,
         "insert_resource": 5, "remove_resource": 5, "event": 6}
STRUCTURAL = frozenset(("spawn", "despawn", "add", "remove", "despawn_recursive"))


def _frozen(names: Iterable[str] | str | None) -> frozenset[str] | None:
    if names is None:
        return None
    if isinstance(names, str):
        return frozenset((names,))
    return frozenset(names)


@dataclass(frozen=True)
class Access:
    """What a command buffer may touch: ``None`` means unrestricted.

    ``writes``: components it may write, add, remove or spawn with;
    ``resources``/``events``: names it may insert/remove or send;
    ``structural``: whether it may spawn, despawn, add or remove components.
    """

    writes: frozenset[str] | None
    resources: frozenset[str] | None = None
    events: frozenset[str] | None = None
    structural: bool = True

    def __init__(
        self,
        writes: Iterable[str] | None,
        resources: Iterable[str] | None = None,
        events: Iterable[str] | None = None,
        structural: bool = True,
    ) -> None:
        object.__setattr__(self, "writes", _frozen(writes))
        object.__setattr__(self, "resources", _frozen(resources))
        object.__setattr__(self, "events", _frozen(events))
        object.__setattr__(self, "structural", bool(structural))


@dataclass
class _Problems:
    source: str
    lines: list[str]
    first_component: str | None = None
    first_entity: int | None = None
    first_is_access: bool = False

    def add(self, msg: str, *, component: str | None = None, entity: int | None = None,
            access: bool = False) -> None:
        if not self.lines:
            self.first_component, self.first_entity, self.first_is_access = component, entity, access
        self.lines.append(msg)

    def raise_if_any(self) -> None:
        if not self.lines:
            return
        src = f"system {self.source!r}" if self.source else "command buffer"
        more = f" (and {len(self.lines) - 1} more problem(s))" if len(self.lines) > 1 else ""
        msg = f"{src} rejected, world unchanged: {self.lines[0]}{more}"
        cls = AccessError if self.first_is_access else CommandError
        raise cls(msg, source=self.source, component=self.first_component, entity=self.first_entity,
                  errors=self.lines)


def validate_buffer(world: World, cmds: Any, access: Access | None, source: str = "") -> list[dict[str, Any]]:
    """Check everything; returns the apply plan (ops with coerced values, in phase order)."""
    p = _Problems(source, [])
    if not isinstance(cmds, CommandBuffer):
        try:
            cmds = CommandBuffer.from_wire(cmds)
        except CommandError as exc:
            p.add(str(exc))
            p.raise_if_any()
    assert isinstance(cmds, CommandBuffer)
    ops = cmds.ops
    if len(ops) > MAX_OPS:
        p.add(f"{len(ops)} operations (max {MAX_OPS})")
        p.raise_if_any()
    state = world.storage
    # Size first: broadcasting must not let a small buffer ask for a huge allocation.
    size = 0
    for op in ops:
        size += _effective_bytes(state, op)
    if size > world.max_command_bytes:
        p.add(f"buffer needs {size} bytes, over the limit of {world.max_command_bytes} bytes; "
              "split the work or raise World.max_command_bytes")
        p.raise_if_any()

    plan: list[tuple[int, int, dict[str, Any]]] = []
    despawned: set[int] = set()
    ent = state.entities
    for i, op in enumerate(ops):
        kind = op.get("op")
        name = op.get("name")
        where = f"op {i} ({kind}{' ' + repr(name) if name is not None else ''})"
        if kind not in PHASE:
            p.add(f"{where}: unknown operation")
            continue
        if access is not None and kind in STRUCTURAL and not access.structural:
            p.add(f"{where}: structural changes are not allowed for this system (declared structural=False)",
                  component=name, access=True)
            continue
        if kind in ("insert_resource", "remove_resource", "event"):
            out = _check_resource_or_event(op, kind, name, access, where, p)
            if out is not None:
                plan.append((PHASE[kind], i, out))
            continue
        if kind == "spawn":
            spawned = _check_spawn(state, op, access, where, p)
            if spawned is not None:
                plan.append((PHASE[kind], i, spawned))
            continue
        comp: Component | None = None
        if kind == "despawn_recursive" and op.get("relation") not in state.relations:
            p.add(f"{where}: {op.get('relation')!r} is not a declared relation "
                  f"(declared: {sorted(state.relations)})")
            continue
        if kind not in ("despawn", "despawn_recursive"):
            comp = _check_component(state, name, access, where, p)
            if comp is None:
                continue
        out = dict(op)
        if kind == "set_chunk":
            assert comp is not None
            _check_set_chunk(state, comp, op, where, p, out)
            plan.append((PHASE[kind], i, out))
            continue
        ids = op.get("ids")
        if not isinstance(ids, np.ndarray) or ids.dtype != np.uint64 or ids.ndim != 1:
            p.add(f"{where}: ids must be a 1-d uint64 array")
            continue
        mask = ent.alive_mask(ids)
        if not mask.all():
            bad = int(ids[~mask][0])
            p.add(f"{where}: {describe_dead(bad, ent)}"
                  + (f" (and {int((~mask).sum()) - 1} more)" if (~mask).sum() > 1 else ""),
                  component=name, entity=bad)
            continue
        idx = id_index(ids).astype(np.int64)
        uniq, counts = np.unique(idx, return_counts=True)
        if len(uniq) != len(idx):
            dup = int(ids[np.isin(idx, uniq[counts > 1])][0])
            p.add(f"{where}: entity {dup:#x} appears more than once", component=name, entity=dup)
            continue
        if kind == "despawn_recursive":  # descendants are found when it applies; dead ones skipped
            plan.append((PHASE[kind], i, out))
            continue
        if kind == "despawn":
            again = despawned.intersection(uniq.tolist())
            if again:
                p.add(f"{where}: entity index {min(again)} is despawned twice in this buffer")
                continue
            despawned.update(uniq.tolist())
            plan.append((PHASE[kind], i, out))
            continue
        if kind == "set":
            tids = ent.table[idx]
            tables = state.tables
            lacking = [tables[int(t)] for t in np.unique(tids) if name not in tables[int(t)].name_set]
            if lacking:
                bad = int(ids[tids == lacking[0].id][0])
                p.add(f"{where}: entity {bad:#x} has no component {name!r} (it has {list(lacking[0].names)}); "
                      "use add_component", component=name, entity=bad)
                continue
        if kind in ("set", "add"):
            try:
                out["values"] = comp.coerce(op.get("values"), len(ids), where)  # type: ignore[union-attr]
            except SchemaError as exc:
                p.add(str(exc), component=name)
                continue
        plan.append((PHASE[kind], i, out))
    p.raise_if_any()
    if len(plan) > 1:
        plan.sort(key=lambda t: (t[0], t[1]))
    return [op for _, _, op in plan]


def _effective_bytes(state: Storage, op: dict[str, Any]) -> int:
    """Bytes an op makes the host hold: its arrays plus what broadcasting them would allocate."""
    kind = op.get("op")
    total = op_array_bytes(op)
    comps = state.components
    if kind == "spawn" and isinstance(op.get("count"), int):
        count = max(op["count"], 0)
        names = op.get("values") or {}
        total += count * (8 + sum(comps[n].itemsize for n in names if n in comps))
    elif kind in ("set", "add") and isinstance(op.get("ids"), np.ndarray) and op.get("name") in comps:
        total += len(op["ids"]) * comps[op["name"]].itemsize
    return total


def _check_resource_or_event(op: dict[str, Any], kind: str, name: Any, access: Access | None, where: str,
                             p: _Problems) -> dict[str, Any] | None:
    """A resource or event op with its value normalised, or None (the problem recorded in ``p``)."""
    if not isinstance(name, str) or not name:
        p.add(f"{where}: name must be a non-empty string")
        return None
    allowed = None if access is None else (access.events if kind == "event" else access.resources)
    if allowed is not None and name not in allowed:
        what = "event" if kind == "event" else "resource"
        p.add(f"{where}: {what} {name!r} was not declared (declared: {sorted(allowed)})", access=True)
        return None
    out = dict(op)
    try:
        if kind == "insert_resource":  # bounded (depth, size) before anything walks it: gpi.ecs.values
            check_value(op.get("value"), f"resource {name!r}")
            out["value"] = normalise(op.get("value"), f"resource {name!r}")
        elif kind == "event":
            check_value(op.get("payload"), f"event {name!r} payload")
            out["payload"] = normalise(op.get("payload"), f"event {name!r} payload")
    except SchemaError as exc:
        p.add(f"{where}: {exc}")
        return None
    return out


def _check_component(state: Storage, name: Any, access: Access | None, where: str,
                     p: _Problems) -> Component | None:
    comp = state.components.get(name) if isinstance(name, str) else None
    if comp is None:
        p.add(f"{where}: unknown component {name!r}; registered: {sorted(state.components)}", component=name)
        return None
    if access is not None and access.writes is not None and name not in access.writes:
        p.add(f"{where}: wrote {name!r} but declared writes={sorted(access.writes)}", component=name, access=True)
        return None
    return comp


def _check_spawn(state: Storage, op: dict[str, Any], access: Access | None, where: str,
                 p: _Problems) -> dict[str, Any] | None:
    count = op.get("count")
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        p.add(f"{where}: count must be a non-negative int, got {count!r}")
        return None
    values = op.get("values") or {}
    out = dict(op)
    coerced = {}
    ok = True
    for n in sorted(values):
        comp = _check_component(state, n, access, f"{where} component {n!r}", p)
        if comp is None:
            ok = False
            continue
        try:
            coerced[n] = comp.coerce(values[n], count, where)
        except SchemaError as exc:
            p.add(str(exc), component=n)
            ok = False
    out["values"] = coerced
    return out if ok else None


def _check_set_chunk(state: Storage, comp: Component, op: dict[str, Any], where: str, p: _Problems,
                     out: dict[str, Any]) -> None:
    tid = op.get("table")
    if not isinstance(tid, int) or not 0 <= tid < len(state.tables):
        p.add(f"{where}: no table {tid!r} in this world", component=comp.name)
        return
    table = state.tables[tid]
    if comp.name not in table.name_set:
        p.add(f"{where}: table {tid} {list(table.names)} has no component {comp.name!r}", component=comp.name)
        return
    if op.get("version") != table.version or op.get("rows") != table.rows:
        p.add(f"{where}: stale chunk of table {tid} (prepared at epoch {op.get('epoch')} with "
              f"{op.get('rows')} rows, version {op.get('version')}; table is now at version "
              f"{table.version} with {table.rows} rows); query again", component=comp.name)
        return
    values = op.get("values")
    if not isinstance(values, np.ndarray) or values.shape != (table.rows, *comp.shape):
        shape = getattr(values, "shape", None)
        p.add(f"{where}: values of shape {shape} do not cover the chunk: expected "
              f"{(table.rows, *comp.shape)}", component=comp.name)
        return
    if values.dtype == comp.dtype:  # already the column's dtype and shape: nothing to convert
        out["values"] = values
        return
    try:
        out["values"] = comp.coerce(values, table.rows, where)
    except SchemaError as exc:
        p.add(str(exc), component=comp.name)
