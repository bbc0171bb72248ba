"""Property test: random structural changes against a plain-dict model of the world.

Change detection is modelled too: ``Health`` is tracked (added/changed ticks)
and watched for removals by one system ``sys``; the model keeps, per entity,
whether Health was added / written since ``sys`` last ran, and the list of ids
that lost it. Relations too: ``ChildOf`` (despawn with the target), ``Owner``
(removed when the target dies) and ``Likes`` (non-exclusive, 3 slots, the
dead target removed); the model applies the same policies on every despawn,
and no relation value may ever name a dead entity.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from gpi.ecs import CommandBuffer, CommandError, Component, DeadEntityError, World
from gpi.ecs.changes import filter_chunks
from gpi.ecs.checksum import world_checksum
from gpi.ecs.relations import Relation

COMPONENTS = (
    Component("Position", "float32", (2,)),
    Component("Health", "int32"),
    Component("Tint", "uint8", (4,)),
)
NAMES = tuple(c.name for c in COMPONENTS)
SHAPES = {c.name: c.shape for c in COMPONENTS}
RELATIONS = (Relation("ChildOf", on_delete="despawn"), Relation("Owner", on_delete="remove"),
             Relation("Likes", exclusive=False, on_delete="remove", max_targets=3))

small = st.integers(0, 200)
name_sets = st.sets(st.sampled_from(NAMES))
QUERIES = [
    ((n,), (), ()) for n in NAMES
] + [
    (("Position", "Health"), (), ()),
    (("Position",), (), ("Health",)),
    (("Health",), ("Tint",), ()),
    ((), (), ("Position",)),
]


def _value(name: str, v: int) -> Any:
    shape = SHAPES[name]
    return (v,) * shape[0] if shape else v


def _as_model(name: str, arr: Any) -> Any:
    a = np.asarray(arr)
    return tuple(int(x) for x in a.tolist()) if a.ndim else int(a)


class WorldMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.world = World(seed=3)
        self.world.register(*COMPONENTS)
        self.model: dict[int, dict[str, Any]] = {}
        self.dead: list[int] = []
        self.log: list[tuple[str, tuple[Any, ...]]] = []
        _watch(self.world)
        self.changed: set[int] = set()  # Health written (or added) since sys last ran
        self.added: set[int] = set()
        self.removed: list[int] = []

    def _model_despawn(self, ids: list[int]) -> None:
        """Despawn ``ids`` in the model with the relations' policies (ChildOf takes its sources along)."""
        dead = set(ids)
        frontier = set(ids)
        while frontier:
            frontier = {e for e, c in self.model.items() if c.get("ChildOf") in frontier and e not in dead}
            dead |= frontier
        for eid in dead:
            self._lost_health(eid)
            del self.model[eid]
            self.dead.append(eid)
        for comps in self.model.values():
            if comps.get("Owner") in dead:
                del comps["Owner"]
            if "Likes" in comps:
                kept = [t for t in comps["Likes"] if t not in dead]
                if kept:
                    comps["Likes"] = tuple(kept)
                else:
                    del comps["Likes"]

    def _lost_health(self, eid: int) -> None:
        if "Health" in self.model[eid]:
            self.removed.append(eid)
            self.changed.discard(eid)
            self.added.discard(eid)

    def _wrote_health(self, eid: int, new: bool) -> None:
        self.changed.add(eid)
        if new:
            self.added.add(eid)

    def _do(self, method: str, *args: Any) -> Any:
        self.log.append((method, args))
        return getattr(self.world, method)(*args)

    def _pick(self, picks: list[int]) -> list[int]:
        alive = sorted(self.model)
        if not alive:
            return []
        return sorted({alive[p % len(alive)] for p in picks})

    @rule(n=st.one_of(st.integers(0, 6), st.integers(30, 70)), names=name_sets, v=small)
    def spawn(self, n: int, names: set[str], v: int) -> None:
        values = {name: _value(name, v) for name in names}
        ids = self._do("spawn", n, values)
        for eid in ids.tolist():
            assert eid not in self.model and eid not in self.dead
            self.model[eid] = {name: _as_model(name, _value(name, v)) for name in names}
            if "Health" in names:
                self._wrote_health(eid, True)

    @precondition(lambda self: self.model)
    @rule(picks=st.lists(small, min_size=1, max_size=40))
    def despawn(self, picks: list[int]) -> None:
        ids = self._pick(picks)
        self._do("despawn", np.array(ids, dtype=np.uint64))
        self._model_despawn(ids)

    @precondition(lambda self: self.model)
    @rule(picks=st.lists(small, min_size=1, max_size=4), name=st.sampled_from(NAMES), v=small)
    def add_component(self, picks: list[int], name: str, v: int) -> None:
        ids = self._pick(picks)
        self._do("add_component", np.array(ids, dtype=np.uint64), name, _value(name, v))
        for eid in ids:
            if name == "Health":
                self._wrote_health(eid, "Health" not in self.model[eid])
            self.model[eid][name] = _as_model(name, _value(name, v))

    @precondition(lambda self: self.model)
    @rule(picks=st.lists(small, min_size=1, max_size=4), name=st.sampled_from(NAMES))
    def remove_component(self, picks: list[int], name: str) -> None:
        ids = self._pick(picks)
        self._do("remove_component", np.array(ids, dtype=np.uint64), name)
        for eid in ids:
            if name == "Health":
                self._lost_health(eid)
            self.model[eid].pop(name, None)

    @precondition(lambda self: self.model)
    @rule(pick=small, name=st.sampled_from(NAMES), v=small)
    def set_value(self, pick: int, name: str, v: int) -> None:
        (eid,) = self._pick([pick])
        if name in self.model[eid]:
            self._do("set", eid, name, _value(name, v))
            self.model[eid][name] = _as_model(name, _value(name, v))
            if name == "Health":
                self._wrote_health(eid, False)

    @precondition(lambda self: self.model)
    @rule(picks=st.lists(small, min_size=1, max_size=4), v=small, n=st.integers(0, 3))
    def apply_commands(self, picks: list[int], v: int, n: int) -> None:
        ids = [e for e in self._pick(picks) if "Health" in self.model[e]]
        cb = CommandBuffer()
        if ids:
            cb.set("Health", np.array(ids, dtype=np.uint64), np.full(len(ids), v, np.int32))
        cb.spawn(n, {"Tint": np.array(_value("Tint", v), np.uint8)})
        before = self.world.entity_count
        self._do("apply", cb)
        for e in ids:
            self.model[e]["Health"] = v
            self._wrote_health(e, False)
        chunk_ids: list[int] = []
        for c in self.world.query("Tint", without=("Position", "Health")):
            chunk_ids += c.entities.tolist()
        new = [e for e in chunk_ids if e not in self.model]
        assert len(new) == n and self.world.entity_count == before + n
        for e in new:
            self.model[e] = {"Tint": _value("Tint", v)}

    @precondition(lambda self: len(self.model) > 1)
    @rule(picks=st.lists(small, min_size=1, max_size=4), to=small,
          name=st.sampled_from(("ChildOf", "Owner", "Likes")))
    def relate(self, picks: list[int], to: int, name: str) -> None:
        (t,) = self._pick([to])
        ids = [e for e in self._pick(picks) if e != t]
        if not ids:
            return
        cb = CommandBuffer()
        if name == "Likes":
            rows = []
            for e in ids:
                cur = list(self.model[e].get("Likes", ()))
                if t not in cur and len(cur) < 3:
                    cur.append(t)
                rows.append(cur + [0] * (3 - len(cur)))
            cb.add_component(np.array(ids, np.uint64), "Likes", np.array(rows, np.uint64))
        else:
            cb.set_relation(np.array(ids, np.uint64), name, np.full(len(ids), t, np.uint64))
        self._do("apply", cb)
        for e, row in zip(ids, rows if name == "Likes" else [None] * len(ids)):
            self.model[e][name] = tuple(x for x in row if x) if row is not None else t

    @precondition(lambda self: self.model and self.dead)
    @rule(pick=small, dead=small, self_target=st.booleans())
    def bad_relations_are_refused_whole(self, pick: int, dead: int, self_target: bool) -> None:
        (e,) = self._pick([pick])
        target = e if self_target else self.dead[dead % len(self.dead)]
        before = self.world.checksum()
        cb = CommandBuffer()
        cb.spawn(1, {"Tint": np.array(_value("Tint", 1), np.uint8)})
        cb.set_relation(np.array([e], np.uint64), "ChildOf", np.array([target], np.uint64))
        try:
            self.world.apply(cb)
        except CommandError:
            pass
        else:
            raise AssertionError("a relation to a dead entity or to itself was accepted")
        assert self.world.checksum() == before

    @precondition(lambda self: any(k in c for c in self.model.values() for k in ("ChildOf", "Owner", "Likes")))
    @rule(pick=small)
    def despawn_a_target(self, pick: int) -> None:
        targets = sorted({t for c in self.model.values() for k in ("ChildOf", "Owner", "Likes") if k in c
                          for t in (c[k] if k == "Likes" else (c[k],))})
        t = targets[pick % len(targets)]
        self._do("despawn", np.array([t], dtype=np.uint64))
        self._model_despawn([t])

    @precondition(lambda self: self.model)
    @rule(picks=st.lists(small, min_size=1, max_size=3))
    def despawn_recursive(self, picks: list[int]) -> None:
        ids = self._pick(picks)
        cb = CommandBuffer()
        cb.despawn_recursive(np.array(ids, np.uint64))
        self._do("apply", cb)
        self._model_despawn(ids)

    @precondition(lambda self: self.dead)
    @rule(pick=small)
    def dead_ids_are_refused_and_change_nothing(self, pick: int) -> None:
        eid = self.dead[pick % len(self.dead)]
        before = self.world.checksum()
        try:
            self.world.despawn([eid])
        except DeadEntityError:
            pass
        else:
            raise AssertionError("despawn of a dead id was accepted")
        assert self.world.checksum() == before

    @rule(restore=st.booleans())
    def snapshot_round_trip(self, restore: bool) -> None:
        snap = self.world.snapshot()
        with World.from_snapshot(snap) as other:
            assert other.checksum() == self.world.checksum()
            assert _seen(other, other.begin_system("probe")) == _seen(self.world, self._do("begin_system", "probe"))
        if restore:
            self._do("restore", snap)

    @rule()
    def run_system(self) -> None:
        info = self._do("begin_system", "sys", ["Health"])
        changed, added = _seen(self.world, info)
        assert changed == self.changed and added == self.added
        removed = np.frombuffer(info["removed"]["Health"], "<u8").tolist()
        assert sorted(removed) == sorted(self.removed)
        self.changed, self.added, self.removed = set(), set(), []

    @invariant()
    def cached_checksum_is_exact(self) -> None:
        # The per-epoch checksum cache against a full recomputation.
        assert self.world.checksum() == world_checksum(self.world, cache=False)

    @invariant()
    def ids_and_counts(self) -> None:
        assert self.world.entity_count == len(self.model)
        if self.model:
            assert self.world.alive_mask(list(self.model)).all()
        if self.dead:
            assert not self.world.alive_mask(self.dead).any()

    @invariant()
    def relations_match_model_and_never_dangle(self) -> None:
        for rel in RELATIONS:
            got = {}
            for c in self.world.query(rel.name):
                for eid, v in zip(c.entities.tolist(), c[rel.name].tolist()):
                    got[eid] = tuple(x for x in v if x) if isinstance(v, list) else v
            want = {e: comps[rel.name] for e, comps in self.model.items() if rel.name in comps}
            assert got == want, rel.name
            targets = [t for v in got.values() for t in (v if isinstance(v, tuple) else (v,))]
            if targets:
                assert self.world.alive_mask(targets).all()

    @invariant()
    def queries_match_model(self) -> None:
        for names, with_, without in QUERIES:
            got: dict[int, tuple[Any, ...]] = {}
            for c in self.world.query(*names, with_=with_, without=without):
                assert len(c.entities) == len(c)
                cols = [c[n] for n in names]
                for row, eid in enumerate(c.entities.tolist()):
                    assert eid not in got
                    got[eid] = tuple(_as_model(n, col[row]) for n, col in zip(names, cols))
            want = {
                eid: tuple(comps[n] for n in names)
                for eid, comps in self.model.items()
                if set(names) | set(with_) <= comps.keys() and not set(without) & comps.keys()
            }
            assert got == want, (names, with_, without)

    def teardown(self) -> None:
        try:
            # Same operations on a fresh world give the same checksum.
            with World(seed=3) as fresh:
                fresh.register(*COMPONENTS)
                _watch(fresh)
                for method, args in self.log:
                    getattr(fresh, method)(*args)
                assert fresh.checksum() == self.world.checksum()
        finally:
            self.world.close()


def _watch(world: World) -> None:
    for rel in RELATIONS:
        world.declare_relation(rel)
    world.track_changes("Health")
    world.watch_removed("Health", "sys")


def _seen(world: World, info: dict[str, Any]) -> tuple[set[int], set[int]]:
    """(changed, added) Health entity ids as of ``info`` (from begin_system)."""
    out = []
    for changed, added in ((("Health",), ()), ((), ("Health",))):
        fcs = filter_chunks(world.query("Health"), changed, added, info["last"], info["this"])
        out.append({int(e) for fc in fcs for e in fc.entities})
    return out[0], out[1]


WorldMachine.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestWorldMachine = WorldMachine.TestCase
