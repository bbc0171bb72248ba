"""Relations: consistency on despawn (both policies), validation, queries, commands, snapshots, propagation."""

from __future__ import annotations

import numpy as np
import pytest

from gpi.ecs import CommandBuffer, CommandError, Component, World
from gpi.ecs.errors import SchemaError
from gpi.ecs.relations import Relation, descendants, parent, propagate, sources, targets_of

P = Component("P", "float32", (2,))
L = Component("L", "float32", (2,))


def tree(on_delete: str = "despawn") -> tuple[World, int, np.ndarray, np.ndarray]:
    w = World(seed=2)
    w.register(P, L)
    w.declare_relation(Relation("ChildOf", on_delete=on_delete))
    w.declare_relation(Relation("Likes", exclusive=False, max_targets=3))
    root = int(w.spawn(1, {"P": [10, 20]})[0])
    kids = w.spawn(3, {"L": [1, 0], "ChildOf": root})
    grand = w.spawn(2, {"L": [0, 1], "ChildOf": kids[0]})
    return w, root, kids, grand


def alive_ids(w: World) -> set[int]:
    return {int(e) for t in w.tables for e in t.entities[: t.rows]}


def test_queries() -> None:
    w, root, kids, grand = tree()
    with w:
        assert sources(w, "ChildOf", [root]).tolist() == kids.tolist()
        assert parent(w, int(grand[1])) == int(kids[0]) and parent(w, root) is None
        assert descendants(w, [root]).tolist() == [*kids.tolist(), *grand.tolist()]
        w.add_component(grand[:1], "Likes", np.array([[root, kids[2], 0]], np.uint64))
        assert targets_of(w, int(grand[0]), "Likes").tolist() == [root, int(kids[2])]
        assert sources(w, "Likes", [kids[2]]).tolist() == [int(grand[0])]


def test_despawn_policy_takes_the_subtree() -> None:
    w, root, kids, grand = tree("despawn")
    with w:
        w.despawn([kids[0]])
        assert alive_ids(w) == {root, int(kids[1]), int(kids[2])}
        w.despawn([root])
        assert w.entity_count == 0


def test_remove_policy_never_leaves_a_dangling_id() -> None:
    w, root, kids, grand = tree("remove")
    with w:
        w.add_component(grand, "Likes", np.array([[kids[0], kids[1], 0], [kids[1], 0, 0]], np.uint64))
        w.despawn([kids[0], kids[1]])
        assert w.entity_count == 4
        assert not any(w.has(int(g), "ChildOf") for g in grand)
        assert w.has(int(grand[0]), "Likes") is False and w.has(int(grand[1]), "Likes") is False
        assert w.has(int(kids[2]), "ChildOf")
        for t in w.tables:  # no relation value names a dead entity
            for name in ("ChildOf", "Likes"):
                if name in t.columns:
                    v = t.columns[name][: t.rows].reshape(-1)
                    v = v[v != 0]
                    assert w.alive_mask(v).all()


def test_non_exclusive_keeps_other_targets_packed() -> None:
    w, root, kids, grand = tree("remove")
    with w:
        w.add_component(grand[:1], "Likes", np.array([[kids[1], kids[2], root]], np.uint64))
        w.despawn([kids[2]])
        assert w.get(int(grand[0]), "Likes").tolist() == [int(kids[1]), root, 0]


def test_validation_refuses_dead_and_self_targets_whole() -> None:
    w, root, kids, grand = tree()
    with w:
        dead = int(kids[2])
        w.despawn([dead])
        before = w.checksum()
        for build in (lambda b: b.set_relation(kids[:1], "ChildOf", [dead]),
                      lambda b: b.set_relation(kids[:1], "ChildOf", [int(kids[0])]),
                      lambda b: b.spawn(1, {"ChildOf": dead})):
            buf = CommandBuffer()
            buf.set("L", kids[:1], [[5, 5]])
            build(buf)
            with pytest.raises(CommandError, match="ChildOf"):
                w.apply(buf)
            assert w.checksum() == before
        with pytest.raises(SchemaError):
            w.declare_relation(Relation("ChildOf", on_delete="remove"))


def test_commands_despawn_recursive_and_spawn_with_a_target_despawned_in_the_same_list() -> None:
    w, root, kids, grand = tree("remove")
    with w:
        buf = CommandBuffer()
        buf.spawn(2, {"L": 0, "ChildOf": int(kids[1])})
        buf.despawn_recursive([kids[0]])
        buf.despawn([kids[1]])
        w.apply(buf)
        assert not w.alive_mask(np.concatenate([kids[:2], grand])).any()
        orphans = [int(e) for c in w.query("L") for e in c.entities if int(e) != int(kids[2])]
        assert len(orphans) == 2 and not any(w.has(e, "ChildOf") for e in orphans)
        bad = CommandBuffer()
        bad.despawn_recursive([root], relation="Nope")
        with pytest.raises(CommandError, match="not a declared relation"):
            w.apply(bad)


def test_despawn_recursive_equals_despawning_the_ids() -> None:
    a, root, kids, grand = tree("remove")
    b, *_ = tree("remove")
    with a, b:
        gone = a.despawn_recursive([root])
        assert sorted(gone.tolist()) == sorted([root, *kids.tolist(), *grand.tolist()])
        b.despawn(gone)
        assert a.checksum() == b.checksum()


def test_snapshot_keeps_relations_and_their_policies() -> None:
    w, root, kids, grand = tree("despawn")
    with w:
        snap = w.snapshot()
        with World.from_snapshot(snap) as w2:
            assert w2.relations == w.relations and w2.checksum() == w.checksum()
            w2.despawn([root])
            assert w2.entity_count == 0


def test_propagate_local_to_world_positions() -> None:
    w, root, kids, grand = tree()
    with w:
        ids, pos = propagate(w, "L", "P")
        got = dict(zip(ids.tolist(), pos.tolist()))
        assert got[int(kids[1])] == [11.0, 20.0]
        assert got[int(grand[0])] == [11.0, 21.0]  # root + child + grandchild
