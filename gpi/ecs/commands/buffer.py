"""The command buffer: the ordered list of world operations a system records.

Recording checks only the form of each argument (ids are non-negative
integers, values regular numeric arrays); whether the operations fit the
world is checked when the host applies the buffer
(:mod:`~gpi.ecs.commands.validate`). Operations are kept as dicts in the
wire form's keys holding numpy arrays (see :mod:`~gpi.ecs.commands.wire`),
so :meth:`CommandBuffer.to_wire` only encodes the arrays.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from gpi.ecs.commands.wire import (
    DecodeArray,
    EncodeArray,
    as_array,
    as_ids,
    decode_ops,
    encode_ops,
    op_array_bytes,
)

if TYPE_CHECKING:
    from gpi.ecs.query import Chunk

__all__ = ["CommandBuffer"]


class CommandBuffer:
    """An ordered list of world operations, applied by :meth:`World.apply` (see :mod:`gpi.ecs.commands`)."""

    def __init__(self) -> None:
        self._ops: list[dict[str, Any]] = []

    # -- recording --------------------------------------------------------------------

    def set(self, name: str, ids: Any, values: Any) -> None:
        """Write component ``name`` of entities ``ids`` (one value per id, or one for all)."""
        self._ops.append({"op": "set", "name": name, "ids": as_ids(ids, f"set {name!r}"),
                          "values": as_array(values, f"set {name!r}")})

    def set_chunk(self, chunk: Chunk, name: str, values: Any) -> None:
        """Replace the whole column ``name`` of a query chunk; stale if the table changed since."""
        if type(values) is not np.ndarray or values.dtype.hasobject:  # else np.asarray is the identity
            values = as_array(values, f"set_chunk {name!r}")
        self._ops.append({"op": "set_chunk", "name": name, "table": chunk.table_id,
                          "version": chunk.version, "rows": len(chunk), "epoch": chunk.epoch,
                          "values": values})

    def spawn(self, count: int, values: dict[str, Any] | None = None) -> None:
        """Create ``count`` entities with these component values (scalars broadcast)."""
        vals = {n: as_array(v, f"spawn {n!r}") for n, v in (values or {}).items()}
        self._ops.append({"op": "spawn", "count": int(count), "values": vals})

    def despawn(self, ids: Any) -> None:
        """Destroy entities."""
        self._ops.append({"op": "despawn", "ids": as_ids(ids, "despawn")})

    def despawn_recursive(self, ids: Any, relation: str = "ChildOf") -> None:
        """Destroy entities and everything below them by ``relation`` (as of when it applies)."""
        self._ops.append({"op": "despawn_recursive", "ids": as_ids(ids, "despawn_recursive"), "relation": relation})

    def set_relation(self, ids: Any, relation: str, targets: Any) -> None:
        """Relate entities to ``targets`` by exclusive ``relation`` (adds it or replaces the target)."""
        self.add_component(ids, relation, targets)

    def remove_relation(self, ids: Any, relation: str) -> None:
        """Take relation ``relation`` away from entities."""
        self.remove_component(ids, relation)

    def add_component(self, ids: Any, name: str, values: Any) -> None:
        """Give entities component ``name`` with these values."""
        self._ops.append({"op": "add", "name": name, "ids": as_ids(ids, f"add_component {name!r}"),
                          "values": as_array(values, f"add_component {name!r}")})

    def remove_component(self, ids: Any, name: str) -> None:
        """Take component ``name`` from entities."""
        self._ops.append({"op": "remove", "name": name, "ids": as_ids(ids, f"remove_component {name!r}")})

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
        self._ops.extend(other.ops)

    def clear(self) -> None:
        """Drop every recorded operation."""
        self._ops.clear()

    # -- inspection -------------------------------------------------------------------

    @property
    def ops(self) -> list[dict[str, Any]]:
        """The recorded operations (wire-shaped dicts holding numpy arrays; a new list)."""
        return list(self._ops)

    @property
    def nbytes(self) -> int:
        """Bytes of array data held (as recorded, before broadcasting)."""
        return sum(op_array_bytes(op) for op in self._ops)

    def __len__(self) -> int:
        return len(self._ops)

    def __bool__(self) -> bool:
        return True

    def __repr__(self) -> str:
        return f"<CommandBuffer ops={len(self._ops)} nbytes={self.nbytes}>"

    # -- wire -------------------------------------------------------------------------

    def to_wire(self, encode_array: EncodeArray | None = None) -> dict[str, Any]:
        """A msgpack-able map of the buffer; arrays go through ``encode_array`` (inline by default)."""
        return encode_ops(self._ops, encode_array)

    @classmethod
    def from_wire(cls, obj: Any, decode_array: DecodeArray | None = None, *, source: str = "") -> CommandBuffer:
        """Rebuild a buffer from :meth:`to_wire` output; raises :class:`CommandError` if malformed."""
        buf = cls()
        buf._ops = decode_ops(obj, decode_array, source=source)
        return buf
