"""The wire form of a command buffer: a msgpack-able map, and its checked decoding.

Layout::

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

Decoding checks the *form* (fields present, of the right types, arrays
regular and numeric) and turns every failure, including a failing decode
hook, into a :class:`~gpi.ecs.errors.CommandError` naming the operation.
Whether the operations fit the world is :mod:`~gpi.ecs.commands.validate`'s
business. Decoded operations are dicts of the wire keys holding numpy arrays:
the in-memory form :class:`~gpi.ecs.commands.buffer.CommandBuffer` records too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from gpi.ecs.component import dtype_from_wire, dtype_to_wire
from gpi.ecs.errors import CommandError

__all__ = [
    "MAX_OPS",
    "OPS",
    "WIRE_VERSION",
    "DecodeArray",
    "EncodeArray",
    "as_array",
    "as_ids",
    "decode_inline",
    "decode_op",
    "decode_ops",
    "decode_set_chunk",
    "encode_inline",
    "encode_ops",
    "op_array_bytes",
    "short",
]

WIRE_VERSION = 1
MAX_OPS = 1 << 16  # operations per buffer; more is a runaway system
OPS = ("set", "set_chunk", "spawn", "despawn", "add", "remove", "insert_resource",
       "remove_resource", "event", "despawn_recursive")

EncodeArray = Callable[[np.ndarray], Any]
DecodeArray = Callable[[Any], np.ndarray]

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


def short(obj: Any, n: int = 80) -> str:
    """``repr(obj)`` cut to ``n`` characters, for error messages about hostile input."""
    r = repr(obj)
    return r if len(r) <= n else r[: n - 3] + "..."


# -- arrays ----------------------------------------------------------------------------


def encode_inline(arr: np.ndarray) -> dict[str, Any]:
    """The default array encoding: ``{"dtype", "shape", "data"}`` with the raw bytes."""
    a = np.ascontiguousarray(arr)
    return {"dtype": dtype_to_wire(a.dtype), "shape": list(a.shape), "data": a.tobytes()}


def decode_inline(obj: Any) -> np.ndarray:
    """Inverse of :func:`encode_inline`; raises :class:`CommandError` on malformed input."""
    if not isinstance(obj, dict) or not {"dtype", "shape", "data"} <= obj.keys():
        raise CommandError(f"malformed array: expected a map with dtype, shape and data, got {short(obj)}")
    try:
        dt = dtype_from_wire(obj["dtype"])
    except (TypeError, ValueError) as exc:
        raise CommandError(f"malformed array: bad dtype {short(obj['dtype'])}: {exc}") from None
    if dt.hasobject:
        raise CommandError("malformed array: object dtypes are not allowed")
    shape = obj["shape"]
    if not isinstance(shape, (list, tuple)) or not all(isinstance(s, int) and s >= 0 for s in shape):
        raise CommandError(f"malformed array: bad shape {short(shape)}")
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


def as_array(values: Any, what: str) -> np.ndarray:
    """``values`` as a regular numeric numpy array; raises :class:`CommandError` if ragged or of objects."""
    try:
        arr = np.asarray(values)
    except (TypeError, ValueError) as exc:
        raise CommandError(f"{what}: values are ragged or not numeric ({exc})") from None
    if arr.dtype.hasobject:
        raise CommandError(f"{what}: values are ragged or hold Python objects; use a regular numeric array")
    return arr


def as_ids(ids: Any, what: str) -> np.ndarray:
    """``ids`` as a flat uint64 array; raises :class:`CommandError` unless they are non-negative integers."""
    arr = as_array(ids, what).reshape(-1)
    if arr.size and arr.dtype.kind not in "ui":
        raise CommandError(f"{what}: entity ids must be integers (uint64), got dtype {arr.dtype}")
    if arr.dtype.kind == "i" and arr.size and arr.min() < 0:
        raise CommandError(f"{what}: entity ids must be non-negative")
    return arr.astype(np.uint64, copy=False)


def op_array_bytes(op: dict[str, Any]) -> int:
    """Bytes of the arrays an op holds in ``ids`` and ``values`` (as recorded, before broadcasting)."""
    total = 0
    for key in ("ids", "values"):
        v = op.get(key)
        if isinstance(v, np.ndarray):
            total += v.nbytes
        elif isinstance(v, dict):
            total += sum(a.nbytes for a in v.values() if isinstance(a, np.ndarray))
    return total


# -- operations ------------------------------------------------------------------------


def encode_ops(ops: list[dict[str, Any]], encode_array: EncodeArray | None = None) -> dict[str, Any]:
    """The wire map of recorded ``ops``; arrays go through ``encode_array`` (inline by default)."""
    enc = encode_array or encode_inline
    out = []
    for op in ops:
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


def decode_ops(obj: Any, decode_array: DecodeArray | None = None, *, source: str = "") -> list[dict[str, Any]]:
    """The operations of a wire map (see the module doc); raises :class:`CommandError` if malformed."""
    dec = decode_array or decode_inline
    src = f"{source}: " if source else ""
    if not isinstance(obj, dict) or obj.get("v") != WIRE_VERSION or not isinstance(obj.get("ops"), list):
        raise CommandError(f"{src}malformed command buffer: expected {{'v': {WIRE_VERSION}, 'ops': [...]}}, "
                           f"got {short(obj)}", source=source)
    if len(obj["ops"]) > MAX_OPS:
        raise CommandError(f"{src}command buffer has {len(obj['ops'])} operations (max {MAX_OPS})",
                           source=source)
    ops: list[dict[str, Any]] = []
    for i, w in enumerate(obj["ops"]):
        op = decode_set_chunk(w, dec)
        if op is not None:
            ops.append(op)
            continue
        where = f"{src}op {i}"
        try:
            ops.append(decode_op(w, dec, where))
        except CommandError as exc:
            msg = str(exc)
            raise CommandError(msg if msg.startswith(where) else f"{where}: {msg}", source=source) from None
        except Exception as exc:  # a decode hook failing on hostile input
            raise CommandError(f"{where}: malformed operation: {exc!r}", source=source) from None
    return ops


def decode_set_chunk(w: Any, dec: DecodeArray) -> dict[str, Any] | None:
    """The fast path: the common op (a whole-column write) when it is plainly well formed, else None.

    None sends the op through :func:`decode_op`, which accepts or rejects it with a
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


def decode_op(w: Any, dec: DecodeArray, where: str) -> dict[str, Any]:
    """One wire operation, checked field by field; raises :class:`CommandError` naming ``where``."""
    if not isinstance(w, dict) or w.get("op") not in OPS:
        raise CommandError(f"{where}: malformed operation {short(w)}; 'op' must be one of {list(OPS)}")
    kind = w["op"]
    need = _NEED[kind]
    op: dict[str, Any] = {"op": kind}
    for key, typ in need.items():
        if key not in w:
            raise CommandError(f"{where} ({kind}): missing field {key!r}")
        v = w[key]
        if typ is not object and (not isinstance(v, typ) or isinstance(v, bool)):
            raise CommandError(f"{where} ({kind}): field {key!r} must be {typ.__name__}, got {short(v)}")  # type: ignore[union-attr]
        op[key] = v
    if kind == "set_chunk":
        op["epoch"] = w.get("epoch", -1)
    if "ids" in op:
        op["ids"] = as_ids(dec(op["ids"]), f"{where} ({kind}) ids")
    if kind == "spawn":
        vals = {}
        for n, a in op["values"].items():
            if not isinstance(n, str):
                raise CommandError(f"{where} (spawn): component names must be strings, got {short(n)}")
            vals[n] = as_array(dec(a), f"{where} (spawn {n!r})")
        op["values"] = vals
    elif "values" in op:
        op["values"] = as_array(dec(op["values"]), f"{where} ({kind} {op.get('name')!r})")
    return op
