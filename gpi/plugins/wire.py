"""The host <-> child protocol: message kinds and their fields.

Every message is a msgpack map ``{"v": PROTOCOL_VERSION, "kind": KIND, ...}``.
Unknown fields are ignored (newer peers may add some); an unknown kind, a
missing field or another protocol version is a :class:`ProtocolError`.

Control path (Unix socketpair, fds attached with SCM_RIGHTS):

==========  ===========  ========================================================
kind        direction    fields
==========  ===========  ========================================================
hello       host->child  abi, plugin (name), dir, entry, granted [caps], seed,
                         dt, sandbox (policy dict or None), isolation
ready       child->host  abi, pid, components [Component.to_dict], systems
                         [SystemSpec.to_dict], sandbox (report dict or None)
layout      host->child  epoch, layout (World.layout()), segs [segment ids
                         whose fds are attached, same order]
error       child->host  stage ("abi", "import", "declare", "protocol"), type,
                         message, traceback
shutdown    host->child  (none)
==========  ===========  ========================================================

Per-tick path (the shm channel when available, else the socket):

==========  ===========  ========================================================
run         host->child  tick, sys (system name), epoch, first (reset the
                         output arena: first call to this child in the wave),
                         input, res {name: value}, ev {name: [payload]},
                         saved (the plugin's save items, when they changed),
                         lay (a layout delta, ``gpi.ecs.view.layout_delta``:
                         when only row counts changed since the child's
                         epoch; growth or new tables send ``layout`` instead),
                         chg (change detection: {last, this, removed {name:
                         id bytes}}, ``World.begin_system``; watching systems)
result      child->host  tick, sys, cmds (CommandBuffer.to_wire or None), logs
                         [[level, text]], dropped, cpu_ns, child_ns, error
                         (None or {type, message, traceback}), saves
==========  ===========  ========================================================

Arrays inside ``cmds`` are either inline (``{dtype, shape, data}``) or
``{"arena": ref}`` pointing into the child's output arena (see
:mod:`gpi.shm.arena`); the host views them in place and copies once into the
table (entity ids are copied before they are validated).

Values that are numpy arrays travel as ``{"__nd__": [dtype, shape, bytes]}``
(see :func:`pack_value`), so resources and event payloads may hold arrays.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from gpi.shm.errors import ProtocolError
from gpi.shm.protocol import PROTOCOL_VERSION  # the channel's: one version for frames and messages

__all__ = [
    "FIELDS",
    "KINDS",
    "PROTOCOL_VERSION",
    "check",
    "make",
    "pack_value",
    "unpack_value",
]

#: Required fields of every kind.
FIELDS: dict[str, tuple[str, ...]] = {
    "hello": ("abi", "plugin", "dir", "entry", "granted", "seed", "dt"),
    "ready": ("abi", "pid", "components", "systems"),
    "layout": ("epoch", "layout", "segs"),
    "error": ("stage", "type", "message"),
    "shutdown": (),
    "run": ("tick", "sys", "epoch"),
    "result": ("tick", "sys", "cmds", "logs", "cpu_ns"),
}
KINDS = frozenset(FIELDS)


def make(kind: str, **fields: Any) -> dict[str, Any]:
    """A message of ``kind`` with ``fields`` (checked against :data:`FIELDS`)."""
    if kind not in FIELDS:
        raise ProtocolError(f"unknown message kind {kind!r}; known kinds: {sorted(KINDS)}")
    missing = [f for f in FIELDS[kind] if f not in fields]
    if missing:
        raise ProtocolError(f"message {kind!r} is missing fields {missing}")
    return {"v": PROTOCOL_VERSION, "kind": kind, **fields}


def check(msg: Any, expect: Iterable[str] | None = None, *, peer: str = "peer") -> dict[str, Any]:
    """Validate a received message; ``expect`` limits the acceptable kinds."""
    if not isinstance(msg, dict):
        raise ProtocolError(f"{peer} sent a {type(msg).__name__}, expected a msgpack map")
    v = msg.get("v")
    if v != PROTOCOL_VERSION:
        raise ProtocolError(
            f"{peer} speaks protocol version {v!r}, this side speaks {PROTOCOL_VERSION}; "
            "run host and plugin children from the same gpi installation"
        )
    kind = msg.get("kind")
    if kind not in FIELDS:
        raise ProtocolError(f"{peer} sent unknown message kind {kind!r}")
    if expect is not None:
        allowed = set(expect)
        if kind not in allowed:
            raise ProtocolError(f"{peer} sent {kind!r} where {sorted(allowed)} was expected")
    missing = [f for f in FIELDS[kind] if f not in msg]
    if missing:
        raise ProtocolError(f"{peer} sent {kind!r} without fields {missing}")
    return msg


def check_kind(msg: Any, kind: str, peer: str = "peer") -> dict[str, Any]:
    """:func:`check` for one expected ``kind``, with a fast path for a well-formed message.

    Anything that is not plainly right goes through :func:`check`, which names the problem.
    """
    if type(msg) is dict and msg.get("v") == PROTOCOL_VERSION and msg.get("kind") == kind:
        for f in FIELDS[kind]:
            if f not in msg:
                break
        else:
            return msg
    return check(msg, (kind,), peer=peer)


def pack_value(value: Any) -> Any:
    """A msgpack-able form of ``value``: arrays become ``{"__nd__": [...]}``, numpy scalars Python ones."""
    if isinstance(value, np.ndarray):
        a = np.ascontiguousarray(value)
        return {"__nd__": [a.dtype.str, list(a.shape), a.tobytes()]}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {k: pack_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [pack_value(v) for v in value]
    return value


def unpack_value(value: Any) -> Any:
    """Inverse of :func:`pack_value` (arrays come back writable, owning their memory)."""
    if isinstance(value, dict):
        nd = value.get("__nd__")
        if nd is not None and len(value) == 1:
            try:
                dtype, shape, data = nd
                return np.frombuffer(bytearray(data), dtype=np.dtype(dtype)).reshape(shape)
            except (TypeError, ValueError) as exc:
                raise ProtocolError(f"malformed array value: {exc}") from exc
        return {k: unpack_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unpack_value(v) for v in value]
    return value
