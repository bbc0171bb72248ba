"""Queries: which tables match a component filter, and the chunks they yield.

A query names components it reads (all required), plus ``with_`` (required,
not read) and ``without`` (excluded). Every matching non-empty table yields
one :class:`Chunk`: contiguous numpy views of the live rows, no gather.
Tables come in a defined order, sorted by their component-name tuple, so every
process iterates the same entities in the same order.

Chunks are read-only by default (``writeable=False`` views). Trusted host code
may ask for ``writable=True`` and update columns in place; sandboxed systems
never can, since their mappings are read-only at the kernel level.

The list of matching tables is cached per query signature and only rebuilt
when a new table appears; each table also keeps the chunk it last handed out
and reuses it while the layout epoch is unchanged, so a steady-state query
costs about a microsecond.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from gpi.ecs.errors import LayoutError, UnknownComponentError

if TYPE_CHECKING:
    from gpi.ecs.table import Table

__all__ = ["Chunk", "QueryCache", "table_order_key"]


def table_order_key(table: Table) -> tuple[str, ...]:
    """The defined order of tables everywhere (queries, checksums, snapshots)."""
    return table.names


def _ro(a: np.ndarray) -> np.ndarray:
    v = a.view()
    v.flags.writeable = False
    return v


class Chunk:
    """The rows of one table matching a query: ``chunk.entities``, ``chunk[name]``, ``len(chunk)``."""

    __slots__ = ("_cols", "_table", "entities", "epoch", "rows", "table_id", "version", "writable")

    def __init__(self, table: Table, names: Iterable[str], epoch: int, writable: bool) -> None:
        """Views of ``names`` over ``table``'s live rows (read-only unless ``writable``)."""
        n = table.rows
        self._table = table
        self.table_id = table.id
        self.version = table.version
        self.epoch = epoch
        self.rows = n
        self.writable = writable
        if writable:
            self.entities = _ro(table.entities[:n])
            self._cols = {name: table.columns[name][:n] for name in names}
        else:
            self.entities = _ro(table.entities[:n])
            self._cols = {name: _ro(table.columns[name][:n]) for name in names}

    @property
    def components(self) -> tuple[str, ...]:
        """Every component of the chunk's table (not only those queried)."""
        return self._table.names

    def __getitem__(self, name: str) -> np.ndarray:
        col = self._cols.get(name)
        if col is not None:
            return col
        if name not in self._table.columns:
            raise UnknownComponentError(
                f"chunk of table {self.table_id} {list(self._table.names)} has no component {name!r}"
            )
        if self._table.version != self.version:
            raise LayoutError(
                f"chunk of table {self.table_id} is stale (table changed since the query); query again"
            )
        col = self._table.columns[name][: self.rows]
        if not self.writable:
            col = _ro(col)
        self._cols[name] = col
        return col

    def __setitem__(self, name: str, values: object) -> None:
        """Write a whole column in place (writable chunks only); makes ``chunk[n] += x`` work."""
        col = self[name]
        if values is col:
            return  # in-place operator already wrote through the view
        if not self.writable:
            raise ValueError(
                f"chunk of table {self.table_id} is read-only; record a CommandBuffer.set_chunk instead"
            )
        col[...] = values

    def ticks(self, name: str, kind: str = "changed") -> np.ndarray:
        """The live rows' ``"changed"`` or ``"added"`` ticks of tracked component ``name`` (read-only)."""
        table = self._table
        store = table.changed_ticks if kind == "changed" else table.added_ticks
        arr = store.get(name)
        if arr is None:
            raise LayoutError(f"component {name!r} has no change ticks in table {self.table_id} "
                              f"(declare changed=/added= on the system so the world tracks it)")
        return _ro(arr[: self.rows])

    def __contains__(self, name: object) -> bool:
        return name in self._table.name_set

    def __len__(self) -> int:
        return self.rows

    def __repr__(self) -> str:
        return f"<Chunk table={self.table_id} {list(self._table.names)} rows={self.rows}>"


class QueryCache:
    """Matching tables per query signature; rebuilt when the table count changes."""

    def __init__(self) -> None:
        self._cache: dict[tuple[tuple[str, ...], frozenset[str], frozenset[str]], list[Table]] = {}
        self._fast: dict[tuple[Any, Any, Any], list[Table]] = {}
        self._ntables = -1

    def clear(self) -> None:
        """Forget everything (after a restore replaced the tables)."""
        self._cache.clear()
        self._fast.clear()
        self._ntables = -1

    def match(
        self,
        tables: list[Table],
        known: Iterable[str] | dict[str, object],
        names: tuple[str, ...],
        with_: Iterable[str],
        without: Iterable[str],
    ) -> list[Table]:
        """Tables having ``names`` and ``with_`` and none of ``without``, in the defined order."""
        if self._ntables != len(tables):
            self._cache.clear()
            self._fast.clear()
            self._ntables = len(tables)
        try:  # fast path: the exact arguments seen before (tuples are hashable)
            fast = self._fast.get((names, with_, without))  # type: ignore[arg-type]
        except TypeError:
            fast = None
        if fast is not None:
            return fast
        w = frozenset(with_) if not isinstance(with_, str) else frozenset((with_,))
        wo = frozenset(without) if not isinstance(without, str) else frozenset((without,))
        key = (names, w, wo)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        for n in (*names, *w, *wo):
            if n not in known:
                raise UnknownComponentError(
                    f"query uses component {n!r}, which is not registered; registered: {sorted(known)}"
                )
        need = frozenset(names) | w
        out = [t for t in tables if need <= t.name_set and not (wo & t.name_set)]
        out.sort(key=table_order_key)
        self._cache[key] = out
        try:
            self._fast[(names, with_, without)] = out  # type: ignore[index]
        except TypeError:
            pass
        return out


def iter_chunks(tables: list[Table], names: tuple[str, ...], epoch: int, writable: bool) -> Iterator[Chunk]:
    """One chunk per non-empty table."""
    for t in tables:
        if t.rows:
            yield Chunk(t, names, epoch, writable)
