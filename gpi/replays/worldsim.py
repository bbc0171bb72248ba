"""A :class:`~gpi.replays.verify.Simulator` over a :class:`gpi.ecs.World`, and world diffs.

:class:`WorldSimulator` adapts an ECS world to the replay machinery: snapshots
are ``World.snapshot()`` bytes, checksums ``World.checksum()``, and one tick is
whatever ``step(world, input, record)`` does (the runtime passes the function
that runs its schedule, reproducing the record's faults and swaps).
``writers(component)``, when given, names the systems that may write a
component (the schedule knows from the systems' declared access); verify shows
them next to each difference.

:func:`world_differences` compares two worlds entity by entity: entities alive
in only one (component ``"(alive)"``), component values that differ bit for bit
(so ``-0.0`` differs from ``0.0`` and NaN equals the same NaN), components
present on an entity in only one world, and resources.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from gpi.ecs import World
from gpi.ecs.reader import WorldReader
from gpi.replays.inputs import InputState
from gpi.replays.records import TickRecord

__all__ = ["WorldSimulator", "world_differences"]

StepFn = Callable[[World, InputState, TickRecord], None]
DiffItem = tuple[str, int | None, Any, Any, tuple[str, ...]]


def _columns(world: WorldReader, name: str) -> tuple[np.ndarray, np.ndarray]:
    """All (entity ids, values) of component ``name``, sorted by entity id."""
    chunks = world.query(name)
    if not chunks:
        comp = world.components[name]
        return np.empty(0, np.uint64), np.empty((0, *comp.shape), comp.dtype)
    ents = np.concatenate([np.asarray(c.entities) for c in chunks])
    vals = np.concatenate([np.asarray(c[name]) for c in chunks])
    order = np.argsort(ents, kind="stable")
    return ents[order], vals[order]


def _py(value: Any) -> Any:
    return value.tolist() if isinstance(value, np.ndarray | np.generic) else value


def world_differences(
    mine: WorldReader,
    theirs: WorldReader,
    *,
    limit: int = 200,
    writers: Callable[[str], Iterable[str]] | None = None,
) -> list[DiffItem]:
    """Differences ``(component, entity, mine, theirs, systems)``, at most ``limit``."""
    out: list[DiffItem] = []

    def who(name: str) -> tuple[str, ...]:
        return tuple(writers(name)) if writers is not None else ()

    names = sorted(set(mine.components) | set(theirs.components))
    alive_a: set[int] = set()
    alive_b: set[int] = set()
    for name in names:
        in_a, in_b = name in mine.components, name in theirs.components
        ea, va = _columns(mine, name) if in_a else (np.empty(0, np.uint64), None)
        eb, vb = _columns(theirs, name) if in_b else (np.empty(0, np.uint64), None)
        alive_a.update(int(e) for e in ea)
        alive_b.update(int(e) for e in eb)
        common, ia, ib = np.intersect1d(ea, eb, assume_unique=True, return_indices=True)
        if len(common) and va is not None and vb is not None:
            ra = np.ascontiguousarray(va[ia]).view(np.uint8).reshape(len(common), -1)
            rb = np.ascontiguousarray(vb[ib]).view(np.uint8).reshape(len(common), -1)
            differ = np.flatnonzero((ra != rb).any(axis=1))
            for k in differ[: max(0, limit - len(out))]:
                out.append((name, int(common[k]), _py(va[ia[k]]), _py(vb[ib[k]]), who(name)))
        for e in np.setdiff1d(ea, eb, assume_unique=True)[: max(0, limit - len(out))]:
            out.append((name, int(e), "present", "absent", who(name)))
        for e in np.setdiff1d(eb, ea, assume_unique=True)[: max(0, limit - len(out))]:
            out.append((name, int(e), "absent", "present", who(name)))
        if len(out) >= limit:
            return out[:limit]
    # entities without any component are compared through the alive flag
    for e in sorted(alive_a ^ alive_b)[: max(0, limit - len(out))]:
        out.append(("(alive)", e, e in alive_a, e in alive_b, ()))
    res_a, res_b = mine.resources, theirs.resources
    for key in sorted(set(res_a) | set(res_b)):
        if len(out) >= limit:
            break
        a, b = res_a.get(key, "absent"), res_b.get(key, "absent")
        if not _same_value(a, b):
            out.append((f"resource:{key}", None, _py(a), _py(b), ()))
    return out[:limit]


def _same_value(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return bool(np.array_equal(np.asarray(a), np.asarray(b)))
    try:
        return bool(a == b)
    except Exception:  # values whose == is unusual
        return a is b


class WorldSimulator:
    """Drives ``world`` with ``step`` for verify, seek, diff and playback."""

    def __init__(
        self,
        world: World,
        step: StepFn,
        *,
        writers: Callable[[str], Iterable[str]] | None = None,
        diff_limit: int = 200,
    ) -> None:
        self.world = world
        self._step = step
        self._writers = writers
        self.diff_limit = diff_limit

    def reset_to(self, snapshot: bytes) -> None:
        """Restore the world from snapshot bytes."""
        self.world.restore(snapshot)

    def step(self, input: InputState, record: TickRecord) -> int:
        """Run one tick; return the world checksum."""
        self._step(self.world, input, record)
        return self.world.checksum()

    def snapshot(self) -> bytes:
        """The world as snapshot bytes."""
        return self.world.snapshot()

    def checksum(self) -> int:
        """The current world checksum."""
        return self.world.checksum()

    def world_diff(self, other_snapshot: bytes) -> list[DiffItem]:
        """Differences between the world and ``other_snapshot`` (see :func:`world_differences`)."""
        other = World.from_snapshot(other_snapshot, name="gpi-replay-diff")
        try:
            return world_differences(
                self.world, other, limit=self.diff_limit, writers=self._writers
            )
        finally:
            other.close()
