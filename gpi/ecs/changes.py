"""Change detection: per-row change ticks, systems' last-run ticks, removal logs.

The world keeps one 32-bit *change tick* (:attr:`ChangeState.tick`). Every
write stamps what it touches with a tick: a command list applied by
:meth:`~gpi.ecs.world.World.apply` takes the next tick once and stamps all its
writes with it; a direct host call (``spawn``, ``set``, ...) takes a tick of
its own. A system that watches changes gets ``this_run`` = the current tick
when the host builds its request, and remembers it as its ``last_run`` (in
:attr:`ChangeState.last_run`, part of the world state: snapshots, keyframes and
checksums carry it, so seek and verify give the same answers).

Row ticks live in the table's own segment next to the columns, two
``uint32[capacity]`` arrays per *tracked* component (see
:mod:`gpi.ecs.table`): ``added`` (spawned with it or given it) and
``changed`` (added or written since). Only components some system watches are
tracked (:meth:`World.track_changes`), so a world nobody watches pays nothing.
Children map them read-only through the layout message, like the columns.

A row is *newer* than a system's last run when, as in Bevy's
``Tick::is_newer_than``, ``this_run - tick < min(this_run - last_run,
MAX_CHANGE_AGE)`` in wrapping 32-bit arithmetic. To keep wrap-around from
making very old rows look new, every :data:`CHECK_TICK_THRESHOLD` ticks the
world clamps every row tick and last-run tick older than
:data:`MAX_CHANGE_AGE` to exactly that age (``check_ticks``): changes that
old are no longer detected, and no age ever overflows.

Removals: for components a system declares ``removed=[...]``, despawning an
entity that has it or removing it appends ``(tick, ids)`` to a log; a system
sees the ids logged after its last run. Entries every watcher has seen are
dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import msgpack
import numpy as np

if TYPE_CHECKING:
    from gpi.ecs.table import Table

__all__ = [
    "CHECK_TICK_THRESHOLD",
    "MAX_CHANGE_AGE",
    "TICK_DTYPE",
    "ChangeState",
    "FilteredChunk",
    "filter_chunks",
    "newer",
    "newer_mask",
]

TICK_DTYPE = np.dtype(np.uint32)
_MASK = 0xFFFFFFFF
# Bevy's numbers: scans at least this many ticks apart, so between two scans a
# tick ages by at most 2*N-1; clamped to MAX_CHANGE_AGE at a scan it never wraps.
CHECK_TICK_THRESHOLD = 518_400_000
MAX_CHANGE_AGE = _MASK - (2 * CHECK_TICK_THRESHOLD - 1)


def newer(tick: int, last_run: int, this_run: int, max_age: int = MAX_CHANGE_AGE) -> bool:
    """Whether ``tick`` is after ``last_run`` as seen at ``this_run`` (wrapping, as Bevy does)."""
    since_insert = min((this_run - tick) & _MASK, max_age)
    since_system = min((this_run - last_run) & _MASK, max_age)
    return since_system > since_insert


def newer_mask(ticks: np.ndarray, last_run: int, this_run: int, max_age: int = MAX_CHANGE_AGE) -> np.ndarray:
    """:func:`newer` for a whole tick array, in two vectorised passes.

    ``min(this - t, max_age) < s`` equals ``this - t < s`` whenever ``s <= max_age``
    (which ``s`` is by construction), so only the system's age is clamped.
    """
    since_system = min((this_run - last_run) & _MASK, max_age)
    age = np.subtract(np.uint32(this_run & _MASK), ticks)  # wraps in uint32
    return np.less(age, np.uint32(since_system))


def clamp_ticks(ticks: np.ndarray, now: int, max_age: int = MAX_CHANGE_AGE) -> None:
    """Clamp (in place) every tick older than ``max_age`` at ``now`` to exactly that age."""
    age = np.subtract(np.uint32(now & _MASK), ticks)
    old = age > np.uint32(max_age)
    if old.any():
        ticks[old] = np.uint32((now - max_age) & _MASK)


class ChangeState:
    """The world's change tick, tracked components, last-run ticks and removal logs.

    ``check_threshold`` and ``max_age`` default to Bevy's constants; tests pass
    small ones to exercise wrap-around quickly (they are not part of the state).
    """

    def __init__(self, *, check_threshold: int = CHECK_TICK_THRESHOLD, max_age: int = MAX_CHANGE_AGE) -> None:
        self.tick = 0
        self.last_check = 0
        self.tracked: set[str] = set()
        self.last_run: dict[str, int] = {}
        self.watchers: dict[str, set[str]] = {}  # component -> system keys that declared removed=[...]
        self.removed: dict[str, list[tuple[int, np.ndarray]]] = {}
        self.started: set[str] = set()  # plugins whose startup systems ran (a reload takes it out)
        # last tick's held keys/buttons, for input edges (gpi.plugins.input): in snapshots, not in
        # checksums (it is derived from the recorded input stream)
        self.prev_input: dict[str, Any] = {}
        self.check_threshold = int(check_threshold)
        self.max_age = int(max_age)
        self._fixed: int | None = None

    # -- ticks --------------------------------------------------------------------------

    def stamp(self) -> int:
        """The tick a write is stamped with: the batch's, or a fresh one outside a batch."""
        if self._fixed is not None:
            return self._fixed
        self.tick = (self.tick + 1) & _MASK
        return self.tick

    @contextmanager
    def batch(self) -> Iterator[int]:
        """One tick for every write inside (a whole command list); nested batches share it."""
        if self._fixed is not None:
            yield self._fixed
            return
        self._fixed = self.stamp()
        try:
            yield self._fixed
        finally:
            self._fixed = None

    @property
    def in_batch(self) -> bool:
        """Whether a command list is being applied (its writes share one tick)."""
        return self._fixed is not None

    @property
    def active(self) -> bool:
        """Whether anything watches changes (otherwise the state adds nothing to checksums)."""
        return bool(self.tracked or self.watchers or self.last_run or self.started)

    def check_due(self) -> bool:
        """Whether a wrap-around scan is due (the tick moved ``check_threshold`` since the last)."""
        return ((self.tick - self.last_check) & _MASK) >= self.check_threshold

    def check_ticks(self, tables: Iterable[Table]) -> None:
        """The wrap-around scan: clamp every row tick, last-run tick and removal-log tick too old."""
        now, age = self.tick, self.max_age
        for t in tables:
            for name in t.tracked:
                clamp_ticks(t.added_ticks[name][: t.rows], now, age)
                clamp_ticks(t.changed_ticks[name][: t.rows], now, age)
        floor = (now - age) & _MASK
        for key, last in self.last_run.items():
            if ((now - last) & _MASK) > age:
                self.last_run[key] = floor
        for name, log in self.removed.items():
            self.removed[name] = [(tick if ((now - tick) & _MASK) <= age else floor, ids) for tick, ids in log]
        self.last_check = now

    # -- systems ------------------------------------------------------------------------

    def begin_system(self, key: str, removed: Iterable[str] = ()) -> dict[str, Any]:
        """What one call of system ``key`` needs, as a msgpack-able map; records its run.

        ``{"last": int, "this": int, "removed": {name: uint64 id bytes}}``. A system
        that never ran has ``last = this - max_age``: everything existing is new to it.
        """
        this = self.tick
        last = self.last_run.get(key)
        if last is None:
            last = (this - self.max_age) & _MASK
        out: dict[str, Any] = {"last": last, "this": this}
        if removed:
            rm = {}
            for name in removed:
                parts = [ids for tick, ids in self.removed.get(name, ()) if newer(tick, last, this, self.max_age)]
                rm[name] = np.concatenate(parts).astype("<u8").tobytes() if parts else b""
            out["removed"] = rm
        self.last_run[key] = this
        for name in removed:
            self._prune(name)
        return out

    def watch_removed(self, name: str, key: str) -> None:
        """System ``key`` declared ``removed=[name]``: start logging removals of ``name``."""
        self.watchers.setdefault(name, set()).add(key)
        self.removed.setdefault(name, [])

    def record_removed(self, name: str, ids: np.ndarray, tick: int) -> None:
        """Log that ``ids`` lost ``name`` (removed or despawned) at ``tick``, if anyone watches it."""
        if name in self.watchers and len(ids):
            self.removed[name].append((tick, np.array(ids, dtype=np.uint64)))

    def _prune(self, name: str) -> None:
        """Drop log entries every watcher of ``name`` has already seen."""
        log = self.removed.get(name)
        if not log:
            return
        lasts = [self.last_run.get(k) for k in sorted(self.watchers.get(name, ()))]
        if any(x is None for x in lasts):
            return  # a watcher that never ran sees everything
        now = self.tick
        self.removed[name] = [(tick, ids) for tick, ids in log
                              if any(newer(tick, x, now, self.max_age) for x in lasts)]  # type: ignore[arg-type]

    # -- state --------------------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        """A msgpack-able, canonical (sorted) form: snapshots store it, checksums hash it."""
        return {
            "tick": self.tick,
            "last_check": self.last_check,
            "tracked": sorted(self.tracked),
            "last_run": {k: self.last_run[k] for k in sorted(self.last_run)},
            "watchers": {k: sorted(self.watchers[k]) for k in sorted(self.watchers)},
            "removed": {k: [[t, ids.astype("<u8").tobytes()] for t, ids in self.removed.get(k, ())]
                        for k in sorted(self.removed)},
            "started": sorted(self.started),
        }

    def state_bytes(self) -> bytes:
        """The packed :meth:`to_state` (empty when nothing is watched, so old checksums stand)."""
        if not self.active:
            return b""
        return msgpack.packb(self.to_state(), use_bin_type=True)  # type: ignore[no-any-return]

    @classmethod
    def from_state(cls, d: dict[str, Any] | None) -> ChangeState:
        """Rebuild from :meth:`to_state` (``None``: a fresh state, for snapshots that predate it)."""
        s = cls()
        if not d:
            return s
        s.tick = int(d["tick"]) & _MASK
        s.last_check = int(d.get("last_check", 0)) & _MASK
        s.tracked = set(d.get("tracked", ()))
        s.last_run = {str(k): int(v) & _MASK for k, v in d.get("last_run", {}).items()}
        s.watchers = {str(k): set(v) for k, v in d.get("watchers", {}).items()}
        s.removed = {str(k): [(int(t) & _MASK, np.frombuffer(b, dtype="<u8").astype(np.uint64)) for t, b in v]
                     for k, v in d.get("removed", {}).items()}
        s.started = set(d.get("started", ()))
        return s


# -- filtered queries -------------------------------------------------------------------


class FilteredChunk:
    """The rows of one chunk that passed a change filter, gathered (copies, read-only).

    ``entities``, ``chunk[name]`` and ``len(chunk)`` as for a
    :class:`~gpi.ecs.query.Chunk`; ``indices`` are the rows' positions in the
    table (for ``ctx.commands.set`` use ``entities``).
    """

    __slots__ = ("_chunk", "_cols", "entities", "indices", "table_id")

    def __init__(self, chunk: Any, indices: np.ndarray) -> None:
        self._chunk = chunk
        self.indices = indices
        self.table_id = chunk.table_id
        self.entities = _ro(chunk.entities[indices])
        self._cols: dict[str, np.ndarray] = {}

    @property
    def components(self) -> tuple[str, ...]:
        """Every component of the chunk's table."""
        return self._chunk.components  # type: ignore[no-any-return]

    def __getitem__(self, name: str) -> np.ndarray:
        col = self._cols.get(name)
        if col is None:
            col = self._cols[name] = _ro(self._chunk[name][self.indices])
        return col

    def __contains__(self, name: object) -> bool:
        return name in self._chunk

    def __len__(self) -> int:
        return len(self.indices)

    def __repr__(self) -> str:
        return f"<FilteredChunk table={self.table_id} rows={len(self.indices)}>"


def _ro(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


def filter_chunks(chunks: Iterable[Any], changed: tuple[str, ...], added: tuple[str, ...],
                  last_run: int, this_run: int, max_age: int = MAX_CHANGE_AGE) -> list[FilteredChunk]:
    """The rows of ``chunks`` whose ``changed`` components changed and ``added`` ones were added
    after ``last_run`` (all filters must hold); empty chunks are left out."""
    out = []
    for ch in chunks:
        mask = None
        for kind, names in (("changed", changed), ("added", added)):
            for name in names:
                m = newer_mask(ch.ticks(name, kind), last_run, this_run, max_age)
                mask = m if mask is None else np.logical_and(mask, m, out=mask)
        if mask is None:
            idx = np.arange(len(ch), dtype=np.int64)
        else:
            idx = np.flatnonzero(mask)
        if len(idx):
            out.append(FilteredChunk(ch, idx))
    return out
