"""What every world can do, host or view: look things up, query, checksum.

:class:`WorldReader` is the read side shared by the host's
:class:`~gpi.ecs.world.World` and a child's :class:`~gpi.ecs.view.WorldView`,
so a system sees the same API (and the same values, in the same order)
whichever process it runs in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

import numpy as np

from gpi.ecs.checksum import world_checksum
from gpi.ecs.component import Component
from gpi.ecs.errors import LayoutError, MissingComponentError
from gpi.ecs.query import Chunk, QueryCache
from gpi.ecs.storage import Storage
from gpi.ecs.table import Table

__all__ = ["WorldReader"]


class WorldReader:
    """Components, tables, entity index, resources and events, read-only access.

    The state lives in one :class:`~gpi.ecs.storage.Storage` (:attr:`storage`);
    the query cache beside it is derived from it and cleared when it is replaced.
    """

    _host_writable = False

    def __init__(self, storage: Storage | None = None) -> None:
        """A reader over ``storage`` (an empty one by default)."""
        self._storage = storage if storage is not None else Storage()
        self._queries = QueryCache()

    @property
    def storage(self) -> Storage:
        """The object that owns this world's state (see :mod:`gpi.ecs.storage`)."""
        return self._storage

    # -- schema ---------------------------------------------------------------------

    @property
    def components(self) -> Mapping[str, Component]:
        """Registered components by name (read-only mapping)."""
        return MappingProxyType(self._storage.components)

    def component(self, name: str) -> Component:
        """The registered component ``name``; raises :class:`UnknownComponentError`."""
        return self._storage.component(name)

    @property
    def epoch(self) -> int:
        """Layout epoch: bumped by every structural change (spawn, despawn, add/remove, growth)."""
        return self._storage.epoch

    @property
    def tables(self) -> tuple[Table, ...]:
        """All tables, by id (empty ones included)."""
        return tuple(self._storage.tables)

    @property
    def entity_count(self) -> int:
        """Number of live entities."""
        return sum(t.rows for t in self._storage.tables)

    # -- entities -------------------------------------------------------------------

    def is_alive(self, eid: int) -> bool:
        """Whether ``eid`` is a live entity of this world."""
        return bool(self._storage.entities.alive_mask(np.asarray([eid], dtype=np.uint64))[0])

    def alive_mask(self, ids: Any) -> np.ndarray:
        """A bool array: which of ``ids`` are live."""
        return self._storage.entities.alive_mask(ids)

    def has(self, eid: int, name: str) -> bool:
        """Whether live entity ``eid`` has component ``name`` (raises if ``eid`` is dead)."""
        self.component(name)
        tid, _ = self._storage.entities.locate(eid)
        return name in self._storage.tables[tid].name_set

    def components_of(self, eid: int) -> tuple[str, ...]:
        """Names of the components live entity ``eid`` has."""
        tid, _ = self._storage.entities.locate(eid)
        return self._storage.tables[tid].names

    def get(self, eid: int, name: str) -> Any:
        """The value of component ``name`` of entity ``eid`` (a copy).

        Raises :class:`DeadEntityError`, :class:`UnknownComponentError` or
        :class:`MissingComponentError`.
        """
        self.component(name)
        tid, row = self._storage.entities.locate(eid)
        table = self._storage.tables[tid]
        col = table.columns.get(name)
        if col is None:
            raise MissingComponentError(
                f"entity {int(eid):#x} has no component {name!r}; it has {list(table.names)}"
            )
        value = col[row]
        # arrays and structured (np.void) values are views: hand out copies
        return value.copy() if isinstance(value, (np.ndarray, np.void)) else value

    # -- queries --------------------------------------------------------------------

    def query(
        self,
        *names: str,
        with_: Iterable[str] = (),
        without: Iterable[str] = (),
        writable: bool = False,
    ) -> list[Chunk]:
        """One :class:`Chunk` per non-empty table having ``names`` and ``with_`` but none of ``without``.

        Chunks come in the defined table order. Views are read-only unless
        ``writable`` (host code only; a :class:`WorldView` refuses it).
        """
        if writable and not self._host_writable:
            raise LayoutError("a WorldView is read-only: query(writable=True) is only for the host World")
        s = self._storage
        tables = self._queries.match(s.tables, s.components, names, with_, without)
        epoch = s.epoch
        key = (names, writable)
        out = []
        for t in tables:
            if not t.rows:
                continue
            ch = t.chunk_cache.get(key)
            if ch is None or ch.epoch != epoch:
                ch = Chunk(t, names, epoch, writable)
                t.chunk_cache[key] = ch
            out.append(ch)
        return out

    # -- resources and events -------------------------------------------------------

    def resource(self, name: str) -> Any:
        """Resource ``name``; raises :class:`MissingResourceError`."""
        return self._storage.resources.get(name)

    def try_resource(self, name: str, default: Any = None) -> Any:
        """Resource ``name`` or ``default``."""
        return self._storage.resources.try_get(name, default)

    @property
    def resources(self) -> dict[str, Any]:
        """All resources (a shallow copy)."""
        return self._storage.resources.to_dict()

    def events(self, name: str) -> list[Any]:
        """Payloads of event ``name`` sent this tick, in order."""
        return self._storage.events.get(name)

    def all_events(self) -> dict[str, list[Any]]:
        """Every event queue of this tick."""
        return self._storage.events.to_dict()

    # -- integrity ------------------------------------------------------------------

    def checksum(self) -> int:
        """64-bit checksum of the world state (see :mod:`gpi.ecs.checksum`)."""
        return world_checksum(self)
