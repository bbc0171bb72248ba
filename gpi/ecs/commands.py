"""Command buffers: how systems change the world, validated whole before anything applies.

A system (in a child process, or in-process) never mutates the world. It
records operations in a :class:`CommandBuffer`; the host calls
:meth:`World.apply`, which first validates the *entire* buffer against the
current world and the system's declared :class:`Access`. Any problem rejects
the whole buffer with a :class:`~gpi.ecs.errors.CommandError` listing every
problem found, and the world is untouched (same checksum).

Apply order within one buffer is fixed, by phase, each phase in recording order:

1. ``set`` and ``set_chunk`` (value writes against the current layout),
2. ``add_component``, 3. ``remove_component``, 4. ``despawn`` and
``despawn_recursive``, 5. ``spawn``,
6. ``insert_resource`` / ``remove_resource``, 7. ``send_event``.

Because writes come before any structural change and entities only die in
phase 4, validating every operation against the starting state is exact.

Wire form (``to_wire``/``from_wire``), a msgpack-able map::

    {"v": 1, "ops": [op, ...]}
    {"op": "set", "name": str, "ids": ARRAY, "values": ARRAY}
    {"op": "set_chunk", "name": str, "table": int, "version": int, "rows": int,
     "epoch": int, "values": ARRAY}
    {"op": "spawn", "count": int, "values": {name: ARRAY}}
    {"op": "despawn", "ids": ARRAY}
    {"op": "despawn_recursive", "ids": ARRAY, "relation": str}   (gpi.ecs.relations)
    {"op": "add", "name": str, "ids": ARRAY, "values": ARRAY}
    {"op": "remove", "name": str, "ids": ARRAY}
    {"op": "insert_resource", "name": str, "value": any}
    {"op": "remove_resource", "name": str}
    {"op": "event", "name": str, "payload": any}

``ARRAY`` is whatever ``encode_array`` makes of a numpy array; by default the
inline form ``{"dtype": <dtype>, "shape": [..], "data": <bytes>}``. A child may
instead put large arrays in its output arena and encode a reference; the host
then passes the matching ``decode_array``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from gpi.ecs.component import Component, dtype_from_wire, dtype_to_wire
from gpi.ecs.entities import describe_dead, id_index
from gpi.ecs.errors import AccessError, CommandError, SchemaError
from gpi.ecs.resources import normalise

if TYPE_CHECKING:
    from gpi.ecs.query import Chunk
    from gpi.ecs.world import World

__all__ = [
    "MAX_OPS",
    "WIRE_VERSION",
    "Access",
    "CommandBuffer",
    "decode_inline",
    "encode_inline",
]

WIRE_VERSION = 1
MAX_OPS = 1 << 16  # operations per buffer; more is a runaway system
_OPS = ("set", "set_chunk", "spawn", "despawn", "add", "remove", "insert_resource",
        "remove_resource", "event", "despawn_recursive")
_PHASE = {"set": 0, "set_chunk": 0, "add": 1, "remove": 2, "despawn": 3, "despawn_recursive": 3, "spawn": 4,
          "insert_resource": 5, "remove_resource": 5, "event": 6}
_STRUCTURAL = {"spawn", "despawn", "add", "remove", "despawn_recursive"}

EncodeArray = Callable[[np.ndarray], Any]
DecodeArray = Callable[[Any], np.ndarray]


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


# -- arrays on the wire ---------------------------------------------------------------


def encode_inline(arr: np.ndarray) -> dict[str, Any]:
    """The default array encoding: ``{"dtype", "shape", "data"}`` with the raw bytes."""
    a = np.ascontiguousarray(arr)
    return {"dtype": dtype_to_wire(a.dtype), "shape": list(a.shape), "data": a.tobytes()}


def decode_inline(obj: Any) -> np.ndarray:
    """Inverse of :func:`encode_inline`; raises :class:`CommandError` on malformed input."""
    if not isinstance(obj, dict) or not {"dtype", "shape", "data"} <= obj.keys():
        raise CommandError(f"malformed array: expected a map with dtype, shape and data, got {_short(obj)}")
    try:
        dt = dtype_from_wire(obj["dtype"])
    except (TypeError, ValueError) as exc:
        raise CommandError(f"malformed array: bad dtype {_short(obj['dtype'])}: {exc}") from None
    if dt.hasobject:
        raise CommandError("malformed array: object dtypes are not allowed")
    shape = obj["shape"]
    if not isinstance(shape, (list, tuple)) or not all(isinstance(s, int) and s >= 0 for s in shape):
        raise CommandError(f"malformed array: bad shape {_short(shape)}")
    data = obj["data"]
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise CommandError("malformed array: data must be bytes")
    count = 1
    for s in shape:
        count *= s
    if count * dt.itemsize != len(data):
        raise CommandError(
            f"malformed array: shape {list(shape)} of {dt} needs {count * dt.itemsize} bytes, got {len(data)}"
        )
    return np.frombuffer(data, dtype=dt).reshape(shape)


def _short(obj: Any, n: int = 80) -> str:
    r = repr(obj)
    return r if len(r) <= n else r[: n - 3] + "..."


def _array(values: Any, what: str) -> np.ndarray:
    try:
        arr = np.asarray(values)
    except (TypeError, ValueError) as exc:
        raise CommandError(f"{what}: values are ragged or not numeric ({exc})") from None
    if arr.dtype.hasobject:
        raise CommandError(f"{what}: values are ragged or hold Python objects; use a regular numeric array")
    return arr


def _ids(ids: Any, what: str) -> np.ndarray:
    arr = _array(ids, what).reshape(-1)
    if arr.size and arr.dtype.kind not in "ui":
        raise CommandError(f"{what}: entity ids must be integers (uint64), got dtype {arr.dtype}")
    if arr.dtype.kind == "i" and arr.size and arr.min() < 0:
        raise CommandError(f"{what}: entity ids must be non-negative")
    return arr.astype(np.uint64, copy=False)


# -- the buffer -----------------------------------------------------------------------


class CommandBuffer:
    """An ordered list of world operations, applied by :meth:`World.apply` (see the module doc)."""

    def __init__(self) -> None:
        self._ops: list[dict[str, Any]] = []

    # -- recording --------------------------------------------------------------------

    def set(self, name: str, ids: Any, values: Any) -> None:
        """Write component ``name`` of entities ``ids`` (one value per id, or one for all)."""
        self._ops.append({"op": "set", "name": name, "ids": _ids(ids, f"set {name!r}"),
                          "values": _array(values, f"set {name!r}")})

    def set_chunk(self, chunk: Chunk, name: str, values: Any) -> None:
        """Replace the whole column ``name`` of a query chunk; stale if the table changed since."""
        if type(values) is not np.ndarray or values.dtype.hasobject:  # else np.asarray is the identity
            values = _array(values, f"set_chunk {name!r}")
        self._ops.append({"op": "set_chunk", "name": name, "table": chunk.table_id,
                          "version": chunk.version, "rows": len(chunk), "epoch": chunk.epoch,
                          "values": values})

    def spawn(self, count: int, values: dict[str, Any] | None = None) -> None:
        """Create ``count`` entities with these component values (scalars broadcast)."""
        vals = {n: _array(v, f"spawn {n!r}") for n, v in (values or {}).items()}
        self._ops.append({"op": "spawn", "count": int(count), "values": vals})

    def despawn(self, ids: Any) -> None:
        """Destroy entities."""
        self._ops.append({"op": "despawn", "ids": _ids(ids, "despawn")})

    def despawn_recursive(self, ids: Any, relation: str = "ChildOf") -> None:
        """Destroy entities and everything below them by ``relation`` (as of when it applies)."""
        self._ops.append({"op": "despawn_recursive", "ids": _ids(ids, "despawn_recursive"), "relation": relation})

    def set_relation(self, ids: Any, relation: str, targets: Any) -> None:
        """Relate entities to ``targets`` by exclusive ``relation`` (adds it or replaces the target)."""
        self.add_component(ids, relation, targets)

    def remove_relation(self, ids: Any, relation: str) -> None:
        """Take relation ``relation`` away from entities."""
        self.remove_component(ids, relation)

    def add_component(self, ids: Any, name: str, values: Any) -> None:
        """Give entities component ``name`` with these values."""
        self._ops.append({"op": "add", "name": name, "ids": _ids(ids, f"add_component {name!r}"),
                          "values": _array(values, f"add_component {name!r}")})

    def remove_component(self, ids: Any, name: str) -> None:
        """Take component ``name`` from entities."""
        self._ops.append({"op": "remove", "name": name, "ids": _ids(ids, f"remove_component {name!r}")})

    def insert_resource(self, name: str, value: Any) -> None:
        """Set a resource (msgpack-able value)."""
        self._ops.append({"op": "insert_resource", "name": name, "value": value})

    def remove_resource(self, name: str) -> None:
        """Remove a resource."""
        self._ops.append({"op": "remove_resource", "name": name})

    def send_event(self, name: str, payload: Any) -> None:
        """Queue an event payload (msgpack-able)."""
        self._ops.append({"op": "event", "name": name, "payload": payload})

    def extend(self, other: CommandBuffer) -> None:
        """Append another buffer's operations."""
        self._ops.extend(other._ops)

    def clear(self) -> None:
        """Drop every recorded operation."""
        self._ops.clear()

    # -- inspection -------------------------------------------------------------------

    @property
    def ops(self) -> list[dict[str, Any]]:
        """The recorded operations (wire-shaped dicts holding numpy arrays)."""
        return list(self._ops)

    @property
    def nbytes(self) -> int:
        """Bytes of array data held (as recorded, before broadcasting)."""
        return sum(_array_bytes(op) for op in self._ops)

    def __len__(self) -> int:
        return len(self._ops)

    def __bool__(self) -> bool:
        return True

    def __repr__(self) -> str:
        return f"<CommandBuffer ops={len(self._ops)} nbytes={self.nbytes}>"

    # -- wire -------------------------------------------------------------------------

    def to_wire(self, encode_array: EncodeArray | None = None) -> dict[str, Any]:
        """A msgpack-able map of the buffer; arrays go through ``encode_array`` (inline by default)."""
        enc = encode_array or encode_inline
        out = []
        for op in self._ops:
            w: dict[str, Any] = {}
            for k, v in op.items():
                if isinstance(v, np.ndarray):
                    w[k] = enc(v)
                elif k == "values" and isinstance(v, dict):
                    w[k] = {n: enc(a) for n, a in v.items()}
                else:
                    w[k] = v
            out.append(w)
        return {"v": WIRE_VERSION, "ops": out}

    @classmethod
    def from_wire(cls, obj: Any, decode_array: DecodeArray | None = None, *, source: str = "") -> CommandBuffer:
        """Rebuild a buffer from :meth:`to_wire` output; raises :class:`CommandError` if malformed."""
        dec = decode_array or decode_inline
        src = f"{source}: " if source else ""
        if not isinstance(obj, dict) or obj.get("v") != WIRE_VERSION or not isinstance(obj.get("ops"), list):
            raise CommandError(f"{src}malformed command buffer: expected {{'v': {WIRE_VERSION}, 'ops': [...]}}, "
                               f"got {_short(obj)}", source=source)
        if len(obj["ops"]) > MAX_OPS:
            raise CommandError(f"{src}command buffer has {len(obj['ops'])} operations (max {MAX_OPS})",
                               source=source)
        buf = cls()
        for i, w in enumerate(obj["ops"]):
            op = _decode_set_chunk(w, dec)
            if op is not None:
                buf._ops.append(op)
                continue
            where = f"{src}op {i}"
            try:
                buf._ops.append(_decode_op(w, dec, where))
            except CommandError as exc:
                msg = str(exc)
                raise CommandError(msg if msg.startswith(where) else f"{where}: {msg}", source=source) from None
            except Exception as exc:  # a decode hook failing on hostile input
                raise CommandError(f"{where}: malformed operation: {exc!r}", source=source) from None
        return buf


# The fields each wire operation must have, and their types (object: any).
_NEED: dict[str, dict[str, type]] = {
    "set": {"name": str, "ids": object, "values": object},
    "set_chunk": {"name": str, "table": int, "version": int, "rows": int, "values": object},
    "spawn": {"count": int, "values": dict},
    "despawn": {"ids": object},
    "despawn_recursive": {"ids": object, "relation": str},
    "add": {"name": str, "ids": object, "values": object},
    "remove": {"name": str, "ids": object},
    "insert_resource": {"name": str, "value": object},
    "remove_resource": {"name": str},
    "event": {"name": str, "payload": object},
}


def _decode_set_chunk(w: Any, dec: DecodeArray) -> dict[str, Any] | None:
    """The common op (a whole-column write) when it is plainly well formed, else None.

    None sends the op through :func:`_decode_op`, which accepts or rejects it with a
    message; what this returns is exactly what that would.
    """
    if type(w) is not dict or w.get("op") != "set_chunk":
        return None
    name, table, version, rows = w.get("name"), w.get("table"), w.get("version"), w.get("rows")
    if type(name) is not str or type(table) is not int or type(version) is not int or type(rows) is not int \
            or "values" not in w:
        return None
    try:
        values = dec(w["values"])
    except Exception:
        return None
    if type(values) is not np.ndarray or values.dtype.hasobject:
        return None
    return {"op": "set_chunk", "name": name, "table": table, "version": version, "rows": rows,
            "values": values, "epoch": w.get("epoch", -1)}


def _decode_op(w: Any, dec: DecodeArray, where: str) -> dict[str, Any]:
    if not isinstance(w, dict) or w.get("op") not in _OPS:
        raise CommandError(f"{where}: malformed operation {_short(w)}; 'op' must be one of {list(_OPS)}")
    kind = w["op"]
    need = _NEED[kind]
    op: dict[str, Any] = {"op": kind}
    for key, typ in need.items():
        if key not in w:
            raise CommandError(f"{where} ({kind}): missing field {key!r}")
        v = w[key]
        if typ is not object and (not isinstance(v, typ) or isinstance(v, bool)):
            raise CommandError(f"{where} ({kind}): field {key!r} must be {typ.__name__}, got {_short(v)}")  # type: ignore[union-attr]
        op[key] = v
    if kind == "set_chunk":
        op["epoch"] = w.get("epoch", -1)
    if "ids" in op:
        op["ids"] = _ids(dec(op["ids"]), f"{where} ({kind}) ids")
    if kind == "spawn":
        vals = {}
        for n, a in op["values"].items():
            if not isinstance(n, str):
                raise CommandError(f"{where} (spawn): component names must be strings, got {_short(n)}")
            vals[n] = _array(dec(a), f"{where} (spawn {n!r})")
        op["values"] = vals
    elif "values" in op:
        op["values"] = _array(dec(op["values"]), f"{where} ({kind} {op.get('name')!r})")
    return op


# -- validation and application ---------------------------------------------------------


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
    ops = cmds._ops
    if len(ops) > MAX_OPS:
        p.add(f"{len(ops)} operations (max {MAX_OPS})")
        p.raise_if_any()
    # Size first: broadcasting must not let a small buffer ask for a huge allocation.
    size = 0
    for op in ops:
        size += _effective_bytes(world, op)
    if size > world.max_command_bytes:
        p.add(f"buffer needs {size} bytes, over the limit of {world.max_command_bytes} bytes; "
              "split the work or raise World.max_command_bytes")
        p.raise_if_any()

    plan: list[tuple[int, int, dict[str, Any]]] = []
    despawned: set[int] = set()
    ent = world._entities
    for i, op in enumerate(ops):
        kind = op.get("op")
        name = op.get("name")
        where = f"op {i} ({kind}{' ' + repr(name) if name is not None else ''})"
        if kind not in _PHASE:
            p.add(f"{where}: unknown operation")
            continue
        if access is not None and kind in _STRUCTURAL and not access.structural:
            p.add(f"{where}: structural changes are not allowed for this system (declared structural=False)",
                  component=name, access=True)
            continue
        if kind in ("insert_resource", "remove_resource", "event"):
            if not isinstance(name, str) or not name:
                p.add(f"{where}: name must be a non-empty string")
                continue
            allowed = None if access is None else (access.events if kind == "event" else access.resources)
            if allowed is not None and name not in allowed:
                what = "event" if kind == "event" else "resource"
                p.add(f"{where}: {what} {name!r} was not declared (declared: {sorted(allowed)})", access=True)
                continue
            out = dict(op)
            try:
                if kind == "insert_resource":
                    out["value"] = normalise(op.get("value"), f"resource {name!r}")
                elif kind == "event":
                    out["payload"] = normalise(op.get("payload"), f"event {name!r} payload")
            except SchemaError as exc:
                p.add(f"{where}: {exc}")
                continue
            plan.append((_PHASE[kind], i, out))
            continue
        if kind == "spawn":
            spawned = _check_spawn(world, op, access, where, p)
            if spawned is not None:
                plan.append((_PHASE[kind], i, spawned))
            continue
        comp: Component | None = None
        if kind == "despawn_recursive" and op.get("relation") not in world.relations:
            p.add(f"{where}: {op.get('relation')!r} is not a declared relation "
                  f"(declared: {sorted(world.relations)})")
            continue
        if kind not in ("despawn", "despawn_recursive"):
            comp = _check_component(world, name, access, where, p)
            if comp is None:
                continue
        out = dict(op)
        if kind == "set_chunk":
            assert comp is not None
            _check_set_chunk(world, comp, op, where, p, out)
            plan.append((_PHASE[kind], i, out))
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
            plan.append((_PHASE[kind], i, out))
            continue
        if kind == "despawn":
            again = despawned.intersection(uniq.tolist())
            if again:
                p.add(f"{where}: entity index {min(again)} is despawned twice in this buffer")
                continue
            despawned.update(uniq.tolist())
            plan.append((_PHASE[kind], i, out))
            continue
        if kind == "set":
            tids = ent.table[idx]
            lacking = [world._tables[int(t)] for t in np.unique(tids) if name not in world._tables[int(t)].name_set]
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
        plan.append((_PHASE[kind], i, out))
    p.raise_if_any()
    if len(plan) > 1:
        plan.sort(key=lambda t: (t[0], t[1]))
    return [op for _, _, op in plan]


def _array_bytes(op: dict[str, Any]) -> int:
    """Bytes of the arrays an op holds in ``ids`` and ``values`` (as recorded)."""
    total = 0
    for key in ("ids", "values"):
        v = op.get(key)
        if isinstance(v, np.ndarray):
            total += v.nbytes
        elif isinstance(v, dict):
            total += sum(a.nbytes for a in v.values() if isinstance(a, np.ndarray))
    return total


def _effective_bytes(world: World, op: dict[str, Any]) -> int:
    kind = op.get("op")
    total = _array_bytes(op)
    comps = world._components
    if kind == "spawn" and isinstance(op.get("count"), int):
        count = max(op["count"], 0)
        names = op.get("values") or {}
        total += count * (8 + sum(comps[n].itemsize for n in names if n in comps))
    elif kind in ("set", "add") and isinstance(op.get("ids"), np.ndarray) and op.get("name") in comps:
        total += len(op["ids"]) * comps[op["name"]].itemsize
    return total


def _check_component(world: World, name: Any, access: Access | None, where: str, p: _Problems) -> Component | None:
    comp = world._components.get(name) if isinstance(name, str) else None
    if comp is None:
        p.add(f"{where}: unknown component {name!r}; registered: {sorted(world._components)}", component=name)
        return None
    if access is not None and access.writes is not None and name not in access.writes:
        p.add(f"{where}: wrote {name!r} but declared writes={sorted(access.writes)}", component=name, access=True)
        return None
    return comp


def _check_spawn(world: World, op: dict[str, Any], access: Access | None, where: str,
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
        comp = _check_component(world, n, access, f"{where} component {n!r}", p)
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


def _check_set_chunk(world: World, comp: Component, op: dict[str, Any], where: str, p: _Problems,
                     out: dict[str, Any]) -> None:
    tid = op.get("table")
    if not isinstance(tid, int) or not 0 <= tid < len(world._tables):
        p.add(f"{where}: no table {tid!r} in this world", component=comp.name)
        return
    table = world._tables[tid]
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


def apply_buffer(world: World, plan: list[dict[str, Any]]) -> None:
    """Apply a validated plan (from :func:`validate_buffer`) in order."""
    for op in plan:
        kind = op["op"]
        if kind == "set":
            world.set_many(op["name"], op["ids"], op["values"])
        elif kind == "set_chunk":
            table = world._tables[op["table"]]
            table.columns[op["name"]][: table.rows] = op["values"]
            world.mark_changed(op["table"], op["name"])
        elif kind == "add":
            world.add_component(op["ids"], op["name"], op["values"])
        elif kind == "remove":
            world.remove_component(op["ids"], op["name"])
        elif kind == "despawn":  # a relation's on_delete="despawn" may have taken some already
            world.despawn(op["ids"][world.alive_mask(op["ids"])] if world.relations else op["ids"])
        elif kind == "despawn_recursive":
            world.despawn_recursive(op["ids"], op["relation"])
        elif kind == "spawn":
            world.spawn(op["count"], op["values"])
        elif kind == "insert_resource":
            world._resources._items[op["name"]] = op["value"]
        elif kind == "remove_resource":
            world._resources.remove(op["name"])
        elif kind == "event":
            world._events._items.setdefault(op["name"], []).append(op["payload"])
