"""Resources (named singletons) and events (per-tick queues of payloads).

Both hold plain msgpack-able data (None, bools, ints, floats, str, bytes,
lists, maps), so they travel to children in a frame message and into
snapshots unchanged. Values are stored as a normalised copy (tuples become
lists): what a reader gets back never aliases what the writer still holds.

Checksums and snapshots serialise resources *canonically*: maps with their
keys sorted by their packed bytes, so equal content gives equal bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import msgpack

from gpi.ecs.errors import MissingResourceError, SchemaError

__all__ = ["Events", "Resources", "canonical", "canonical_packb", "normalise"]


def normalise(value: Any, what: str = "value") -> Any:
    """A msgpack round-trip copy of ``value``; raises :class:`SchemaError` if it is not msgpack-able."""
    try:
        return msgpack.unpackb(msgpack.packb(value, use_bin_type=True), raw=False, strict_map_key=False)
    except (TypeError, ValueError, OverflowError) as exc:
        raise SchemaError(f"{what} is not msgpack-able ({exc}); use plain data: numbers, str, bytes, lists, maps") from exc


def canonical(value: Any) -> Any:
    """``value`` with every map's items sorted by packed key (a stable form to hash)."""
    if isinstance(value, dict):
        items = [(msgpack.packb(canonical(k), use_bin_type=True), k, v) for k, v in value.items()]
        items.sort(key=lambda t: t[0])
        return _OrderedMap([(canonical(k), canonical(v)) for _, k, v in items])
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    return value


class _OrderedMap(dict):  # type: ignore[type-arg]
    """A dict built in canonical order (msgpack packs dicts in insertion order)."""


def canonical_packb(value: Any) -> bytes:
    """Canonical msgpack bytes of ``value``."""
    return msgpack.packb(canonical(value), use_bin_type=True)


class Resources:
    """Name -> msgpack-able value."""

    def __init__(self, items: dict[str, Any] | None = None) -> None:
        self._items: dict[str, Any] = {}
        for k, v in (items or {}).items():
            self.insert(k, v)

    def insert(self, name: str, value: Any) -> None:
        """Set resource ``name`` (a normalised copy of ``value``)."""
        if not isinstance(name, str) or not name:
            raise SchemaError(f"resource name must be a non-empty string, got {name!r}")
        self._items[name] = normalise(value, f"resource {name!r}")

    def put(self, name: str, value: Any) -> None:
        """Set resource ``name`` to ``value`` as it is: it must already be normalised (a validated command's)."""
        self._items[name] = value

    def remove(self, name: str) -> None:
        """Remove resource ``name`` if present."""
        self._items.pop(name, None)

    def get(self, name: str) -> Any:
        """The value of ``name``; raises :class:`MissingResourceError`."""
        try:
            return self._items[name]
        except KeyError:
            raise MissingResourceError(
                f"resource {name!r} has not been inserted; present: {sorted(self._items)}"
            ) from None

    def try_get(self, name: str, default: Any = None) -> Any:
        """The value of ``name``, or ``default``."""
        return self._items.get(name, default)

    def to_dict(self) -> dict[str, Any]:
        """All resources (a shallow copy)."""
        return dict(self._items)

    def as_mapping(self) -> Mapping[str, Any]:
        """The resources themselves, read-only and without a copy (for the checksum's identity checks)."""
        return MappingProxyType(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __len__(self) -> int:
        return len(self._items)


class Events:
    """Name -> list of payloads sent this tick."""

    def __init__(self, items: dict[str, list[Any]] | None = None) -> None:
        self._items: dict[str, list[Any]] = {}
        for k, payloads in (items or {}).items():
            for p in payloads:
                self.send(k, p)

    def send(self, name: str, payload: Any) -> None:
        """Queue ``payload`` (a normalised copy) on event ``name``."""
        if not isinstance(name, str) or not name:
            raise SchemaError(f"event name must be a non-empty string, got {name!r}")
        self._items.setdefault(name, []).append(normalise(payload, f"event {name!r} payload"))

    def push(self, name: str, payload: Any) -> None:
        """Queue ``payload`` as it is on event ``name``: it must already be normalised (a validated command's)."""
        self._items.setdefault(name, []).append(payload)

    def get(self, name: str) -> list[Any]:
        """Payloads of ``name`` sent this tick, in send order (a new list)."""
        return list(self._items.get(name, ()))

    def clear(self) -> None:
        """Drop every queued event (end of tick)."""
        self._items.clear()

    def to_dict(self) -> dict[str, list[Any]]:
        """All events (lists copied)."""
        return {k: list(v) for k, v in self._items.items()}
