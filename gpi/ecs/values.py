"""Bounds on plain-data values that come from plugins: resources, event payloads, saves.

A value is msgpack-able plain data (None, bool, int, float, str, bytes, lists,
str- or int-keyed maps). Everything downstream of the world (checksums,
snapshots, replays, the host's log) walks such values, several of them
recursively, so one written by a plugin is checked first, without recursion
itself: at most :data:`MAX_DEPTH` levels of nesting, :data:`MAX_ITEMS`
containers and scalars in all, strings and bytes of at most :data:`MAX_BYTES`
together. :func:`check_value` raises :class:`~gpi.ecs.errors.SchemaError`
naming where the value is and what is over; command validation, the host's
message decoder and the save store share it.
"""

from __future__ import annotations

from typing import Any

from gpi.ecs.errors import SchemaError

__all__ = ["MAX_BYTES", "MAX_DEPTH", "MAX_ITEMS", "check_value"]

#: Levels of nesting (a scalar is depth 0, ``[1]`` is depth 1). Python's own
#: recursion limit is 1000 and msgpack's packer stops at 511: far below both.
MAX_DEPTH = 32
#: Containers and scalars in one value (a 1 MiB channel message holds fewer).
MAX_ITEMS = 1 << 18
#: Bytes of str and bytes in one value, all together.
MAX_BYTES = 16 << 20

_SCALARS = (type(None), bool, int, float)


def check_value(value: Any, what: str = "value", *, max_depth: int = MAX_DEPTH, max_items: int = MAX_ITEMS,
                max_bytes: int = MAX_BYTES) -> None:
    """Raise :class:`SchemaError` unless ``value`` is plain data within the bounds (iterative walk)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    items = 0
    nbytes = 0
    while stack:
        v, depth = stack.pop()
        items += 1
        if items > max_items:
            raise SchemaError(f"{what} holds more than {max_items} items")
        t = type(v)
        if t in _SCALARS:
            if t is int and not -(1 << 63) <= v < (1 << 64):
                raise SchemaError(f"{what}: integer {v} does not fit in 64 bits")
            continue
        if t is str or t is bytes:
            nbytes += len(v)
            if nbytes > max_bytes:
                raise SchemaError(f"{what} holds more than {max_bytes} bytes of strings")
            continue
        if t is list or t is tuple or t is dict:
            if depth >= max_depth:
                raise SchemaError(f"{what} is nested deeper than {max_depth} levels")
            if t is dict:
                for k, x in v.items():
                    if type(k) not in (str, int, bytes):
                        raise SchemaError(f"{what}: map key of type {type(k).__name__}; keys are str or int")
                    stack.append((k, depth + 1))
                    stack.append((x, depth + 1))
            else:
                stack.extend((x, depth + 1) for x in v)
            continue
        raise SchemaError(f"{what} is not msgpack-able: it holds a {t.__name__}; use plain data: numbers, str, "
                          "bytes, lists, maps")
