"""The schedule: which system runs when, and which systems may run together.

A tick runs four fixed stages in order: ``input``, ``update``, ``post_update``,
``render``. Inside a stage, systems are ordered by

1. explicit ``before``/``after`` edges (hard: a cycle is an error),
2. group edges (a plugin's systems run after those of the plugins it depends
   on; soft: an edge that would contradict an explicit one is dropped), and
3. registration order, as the tie-break, so the result never depends on hashing
   or on timing.

That order is the *schedule order*: command lists are applied in it.

The ordered systems are then packed into *waves*: a system goes into the
earliest wave that comes after every system it must follow and after every
earlier system it *conflicts* with. Two systems conflict when one writes a
component the other reads or writes, when they declare a common resource or
event, or when either one changes structure (spawns or despawns). Systems of
one wave see the same frozen world, so they may run in parallel; because
non-conflicting systems commute, applying a wave's lists in schedule order
gives the same world as running the systems one by one.

``before``/``after`` entries name a system by its key (``"plugin.system"``), by
its bare name (resolved inside the same group first), or a whole group
(``"plugin"``). A reference that matches nothing is ignored and recorded in
:attr:`Schedule.warnings`, so an optional plugin may be absent.

This module knows nothing about processes: it orders declarations.
"""

from __future__ import annotations

import difflib
import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from gpi.ecs.errors import EcsError

__all__ = [
    "STAGES",
    "Schedule",
    "ScheduleError",
    "SystemDecl",
    "conflicts",
]

# "startup" systems run once per plugin load, before that plugin's first tick (the host picks them).
STAGES: tuple[str, ...] = ("startup", "input", "update", "post_update", "render")


class ScheduleError(EcsError, ValueError):
    """The systems cannot be scheduled (unknown stage, duplicate key, ordering cycle)."""


@dataclass(frozen=True)
class SystemDecl:
    """What the schedule needs to know about one system (its declared access and order)."""

    key: str
    stage: str = "update"
    reads: frozenset[str] = frozenset()
    writes: frozenset[str] = frozenset()
    resources: frozenset[str] = frozenset()
    events: frozenset[str] = frozenset()
    before: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    structural: bool = False
    group: str = ""
    name: str = ""

    def __post_init__(self) -> None:
        for attr in ("reads", "writes", "resources", "events"):
            object.__setattr__(self, attr, frozenset(getattr(self, attr)))
        object.__setattr__(self, "before", tuple(self.before))
        object.__setattr__(self, "after", tuple(self.after))
        if not self.name:
            object.__setattr__(self, "name", self.key.rsplit(".", 1)[-1])


def conflicts(a: SystemDecl, b: SystemDecl) -> bool:
    """True when ``a`` and ``b`` may not share a wave."""
    if a.structural or b.structural:
        return True
    if a.writes & (b.reads | b.writes) or b.writes & a.reads:
        return True
    return bool(a.resources & b.resources or a.events & b.events)


@dataclass
class Schedule:
    """An ordered, wave-packed plan of systems, built by :meth:`build`.

    ``stages[stage]`` is a list of waves; a wave is a list of system keys in
    schedule order. :meth:`order` flattens everything into schedule order.
    """

    stages: dict[str, list[list[str]]] = field(default_factory=dict)
    systems: dict[str, SystemDecl] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    _pred_map: dict[str, set[str]] = field(default_factory=dict, repr=False)

    @classmethod
    def build(
        cls,
        systems: Sequence[SystemDecl],
        group_deps: Mapping[str, Iterable[str]] | None = None,
        *,
        max_wave_size: int | None = None,
    ) -> Schedule:
        """Order ``systems`` and pack them into waves.

        ``group_deps[g]`` lists the groups whose systems run before group ``g``'s
        (plugin dependencies). ``max_wave_size=1`` gives one system per wave
        (a serial plan with the same order).
        """
        if max_wave_size is not None and max_wave_size < 1:
            raise ScheduleError(f"max_wave_size must be at least 1, got {max_wave_size}")
        sched = cls()
        for s in systems:
            if s.stage not in STAGES:
                raise ScheduleError(
                    f"system {s.key!r}: unknown stage {s.stage!r}; use one of {', '.join(STAGES)}"
                )
            if s.key in sched.systems:
                raise ScheduleError(f"system {s.key!r} is declared twice; system keys must be unique")
            sched.systems[s.key] = s
        deps = {g: tuple(sorted(set(d))) for g, d in (group_deps or {}).items()}
        for stage in STAGES:
            members = [s for s in systems if s.stage == stage]
            order = sched._order(members, deps)
            sched.stages[stage] = _pack(order, sched.systems, sched._pred_map, max_wave_size)
        return sched

    # -- ordering --------------------------------------------------------------------

    def _resolve(self, ref: str, owner: SystemDecl, members: Sequence[SystemDecl]) -> list[str]:
        by_key = [s.key for s in members if s.key == ref]
        if by_key:
            return by_key
        same_group = [s.key for s in members if s.name == ref and s.group == owner.group]
        if same_group:
            return same_group
        by_name = [s.key for s in members if s.name == ref]
        if by_name:
            return by_name
        return [s.key for s in members if s.group == ref and s.group]

    def _order(self, members: list[SystemDecl], deps: Mapping[str, Sequence[str]]) -> list[str]:
        index = {s.key: i for i, s in enumerate(members)}
        hard: dict[str, set[str]] = {s.key: set() for s in members}  # key -> predecessors
        for s in members:
            for ref in s.after:
                found = self._resolve(ref, s, members)
                if not found and not self._exists_elsewhere(ref):
                    self.warnings.append(f"system {s.key!r}: after={ref!r} matches no system; ignored"
                                         f"{self._did_you_mean(ref)}")
                hard[s.key].update(k for k in found if k != s.key)
            for ref in s.before:
                found = self._resolve(ref, s, members)
                if not found and not self._exists_elsewhere(ref):
                    self.warnings.append(f"system {s.key!r}: before={ref!r} matches no system; ignored"
                                         f"{self._did_you_mean(ref)}")
                for k in found:
                    if k != s.key:
                        hard[k].add(s.key)
        cycle = _find_cycle(hard, index)
        if cycle:
            raise ScheduleError(
                "ordering cycle between systems: " + " -> ".join(cycle)
                + "; remove one of these before/after constraints"
            )
        preds = {k: set(v) for k, v in hard.items()}
        # Soft edges from group dependencies, added in a fixed order, skipped if they close a cycle.
        for s in members:
            for dep_group in deps.get(s.group, ()):
                for t in members:
                    if t.group == dep_group and t.key not in preds[s.key]:
                        preds[s.key].add(t.key)
                        if _find_cycle(preds, index):
                            preds[s.key].discard(t.key)
        self._pred_map.update(preds)
        # Kahn's algorithm with registration order as the tie-break.
        indeg = {k: len(v) for k, v in preds.items()}
        succ: dict[str, list[str]] = {k: [] for k in preds}
        for k, ps in preds.items():
            for p in ps:
                succ[p].append(k)
        heap = [(index[k], k) for k, d in indeg.items() if d == 0]
        heapq.heapify(heap)
        out: list[str] = []
        while heap:
            _, k = heapq.heappop(heap)
            out.append(k)
            for n in succ[k]:
                indeg[n] -= 1
                if indeg[n] == 0:
                    heapq.heappush(heap, (index[n], n))
        return out

    def _did_you_mean(self, ref: str) -> str:
        """``" (did you mean 'x'?)"`` naming the closest system or plugin names (difflib), else ``""``."""
        names = {n for s in self.systems.values() for n in (s.key, s.name, s.group) if n}
        close = difflib.get_close_matches(ref, sorted(names), n=3, cutoff=0.6)
        return f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""

    def _exists_elsewhere(self, ref: str) -> bool:
        """A reference to a system or group in another stage is not worth a warning."""
        return any(ref in (s.key, s.name, s.group) for s in self.systems.values())

    # -- queries -----------------------------------------------------------------------

    def waves(self) -> list[list[str]]:
        """Every wave of every stage, in run order."""
        return [w for stage in STAGES for w in self.stages.get(stage, [])]

    def order(self) -> list[str]:
        """All system keys in schedule order (the order command lists are applied in)."""
        return [k for w in self.waves() for k in w]

    def predecessors(self, key: str) -> frozenset[str]:
        """The systems ``key`` must run after (explicit and group edges, same stage)."""
        return frozenset(self._pred_map.get(key, ()))

    def describe(self) -> str:
        """A human-readable plan: one line per wave."""
        lines = []
        for stage in STAGES:
            for i, wave in enumerate(self.stages.get(stage, [])):
                lines.append(f"{stage}[{i}]: {', '.join(wave)}")
        return "\n".join(lines)

    def __len__(self) -> int:
        return len(self.systems)


def _pack(
    order: list[str],
    decls: Mapping[str, SystemDecl],
    preds: Mapping[str, set[str]],
    max_wave_size: int | None,
) -> list[list[str]]:
    """Assign each system (in schedule order) to the earliest wave it may join."""
    waves: list[list[str]] = []
    wave_of: dict[str, int] = {}
    for i, key in enumerate(order):
        w = 0
        for p in preds.get(key, ()):
            if p in wave_of:
                w = max(w, wave_of[p] + 1)
        me = decls[key]
        for earlier in order[:i]:
            if conflicts(me, decls[earlier]):
                w = max(w, wave_of[earlier] + 1)
        while max_wave_size is not None and w < len(waves) and len(waves[w]) >= max_wave_size:
            w += 1
        while len(waves) <= w:
            waves.append([])
        waves[w].append(key)
        wave_of[key] = w
    pos = {k: i for i, k in enumerate(order)}  # inside a wave keep schedule order
    return [sorted(wave, key=pos.__getitem__) for wave in waves]


def _find_cycle(preds: Mapping[str, set[str]], index: Mapping[str, int]) -> list[str]:
    """One cycle in the predecessor graph (as a key path), or ``[]``."""
    WHITE, GREY, BLACK = 0, 1, 2
    color = dict.fromkeys(preds, WHITE)
    stack: list[str] = []

    def visit(k: str) -> list[str]:
        color[k] = GREY
        stack.append(k)
        for p in sorted(preds[k], key=lambda x: index.get(x, 0)):
            if color.get(p, BLACK) == GREY:
                return [*stack[stack.index(p):], p]
            if color.get(p) == WHITE:
                found = visit(p)
                if found:
                    return found
        stack.pop()
        color[k] = BLACK
        return []

    for k in sorted(preds, key=lambda x: index.get(x, 0)):
        if color[k] == WHITE:
            found = visit(k)
            if found:
                return list(reversed(found))
    return []
