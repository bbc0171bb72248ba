"""The host World: ids, structural changes, queries, resources, events, segments."""

from __future__ import annotations

import os

import msgpack
import numpy as np
import pytest
from ecs_fixtures import HEALTH, POSITION

from gpi.ecs import (
    Component,
    DeadEntityError,
    LayoutError,
    MissingComponentError,
    MissingResourceError,
    SchemaError,
    UnknownComponentError,
    World,
    id_generation,
    id_index,
)


def test_ids_start_at_generation_one_and_die_for_good(world: World) -> None:
    ids = world.spawn(3, {"Health": 1})
    assert ids.dtype == np.uint64
    assert id_generation(ids).tolist() == [1, 1, 1]
    assert id_index(ids).tolist() == [0, 1, 2]
    assert 0 not in ids.tolist()
    world.despawn(ids[1:2])
    assert not world.is_alive(ids[1])
    assert world.alive_mask(ids).tolist() == [True, False, True]
    again = world.spawn(2, {"Health": 2})
    # slot 1 reused with the next generation, then a fresh slot
    assert id_index(again).tolist() == [1, 3]
    assert id_generation(again).tolist() == [2, 1]
    assert not world.is_alive(ids[1])
    with pytest.raises(DeadEntityError, match="dead"):
        world.get(ids[1], "Health")
    with pytest.raises(DeadEntityError, match="never spawned"):
        world.get((1 << 32) | 999, "Health")
    with pytest.raises(DeadEntityError, match="generation 0"):
        world.get(0, "Health")


def test_free_list_is_fifo_and_deterministic(world: World) -> None:
    ids = world.spawn(6, {"Health": 0})
    world.despawn(ids[[4, 1, 3]])
    new = world.spawn(3)
    assert id_index(new).tolist() == [4, 1, 3]


def test_spawn_broadcasts_and_get_set(world: World) -> None:
    pos = np.arange(10, dtype=np.float32).reshape(5, 2)
    ids = world.spawn(5, {"Position": pos, "Health": 7, "Tint": [1, 2, 3, 4]})
    assert world.entity_count == 5
    assert world.get(ids[2], "Position").tolist() == [4.0, 5.0]
    assert world.get(ids[2], "Health") == 7
    assert world.get(ids[4], "Tint").tolist() == [1, 2, 3, 4]
    world.set(ids[2], "Health", 9)
    assert world.get(ids[2], "Health") == 9
    got = world.get(ids[2], "Position")
    got[0] = 100  # a copy, not a view
    assert world.get(ids[2], "Position")[0] == 4.0
    with pytest.raises(MissingComponentError, match="Velocity"):
        world.get(ids[0], "Velocity")
    with pytest.raises(UnknownComponentError, match="Nope"):
        world.get(ids[0], "Nope")
    with pytest.raises(SchemaError, match="shape"):
        world.spawn(2, {"Position": np.zeros((3, 2))})
    assert world.components_of(ids[0]) == ("Health", "Position", "Tint")
    assert world.has(ids[0], "Tint") and not world.has(ids[0], "Velocity")


def test_despawn_swap_removes_and_keeps_rows_consistent(world: World) -> None:
    ids = world.spawn(10, {"Health": np.arange(10)})
    world.despawn(ids[[0, 3, 9]])
    (chunk,) = world.query("Health")
    assert sorted(chunk["Health"].tolist()) == [1, 2, 4, 5, 6, 7, 8]
    for eid, h in zip(chunk.entities, chunk["Health"]):
        assert world.get(eid, "Health") == h
    with pytest.raises(DeadEntityError):
        world.despawn(ids[[0]])
    with pytest.raises(SchemaError, match="more than once"):
        world.despawn(ids[[1, 1]])


def test_add_and_remove_move_rows_between_tables(world: World) -> None:
    ids = world.spawn(6, {"Position": np.arange(12).reshape(6, 2)})
    world.add_component(ids[::2], "Health", [10, 20, 30])
    assert [world.get(e, "Health") for e in ids[::2]] == [10, 20, 30]
    assert world.get(ids[4], "Position").tolist() == [8, 9]
    assert {len(c) for c in world.query("Position", "Health")} == {3}
    assert sum(len(c) for c in world.query("Position", without=("Health",))) == 3
    # adding again just sets the value
    world.add_component(ids[:1], "Health", 11)
    assert world.get(ids[0], "Health") == 11
    world.remove_component(ids, "Health")  # those without it are left alone
    assert not any(world.has(e, "Health") for e in ids)
    assert [world.get(e, "Position").tolist() for e in ids] == np.arange(12).reshape(6, 2).tolist()


def test_growth_moves_to_a_new_segment_and_bumps_epoch(world: World) -> None:
    ids = world.spawn(10, {"Health": np.arange(10)})
    table = world.tables[0]
    seg0, epoch0 = table.segment_id, world.epoch
    more = world.spawn(500, {"Health": np.arange(10, 510)})
    assert table.segment_id != seg0 and table.capacity >= 510
    assert world.epoch > epoch0
    assert world.get(ids[3], "Health") == 3 and world.get(more[-1], "Health") == 509
    assert seg0 not in world.segments()


def test_epoch_bumps_on_structure_not_values(world: World) -> None:
    ids = world.spawn(3, {"Health": 1})
    e = world.epoch
    world.set(ids[0], "Health", 5)
    for c in world.query("Health", writable=True):
        c["Health"][:] += 1
    assert world.epoch == e
    world.add_component(ids[:1], "Tint", 0)
    assert world.epoch > e


def test_queries_filter_order_and_read_only(world: World) -> None:
    world.spawn(2, {"Position": 0, "Velocity": 1})
    world.spawn(3, {"Position": 0, "Velocity": 1, "Health": 5})
    world.spawn(4, {"Position": 0})
    world.spawn(1, {"Health": 1})
    chunks = world.query("Position")
    assert [len(c) for c in chunks] == [3, 4, 2]  # sorted by component names
    assert [c.components for c in chunks] == sorted(c.components for c in chunks)
    assert [len(c) for c in world.query("Position", with_=("Velocity",))] == [3, 2]
    assert [len(c) for c in world.query("Position", without=("Health",))] == [4, 2]
    assert [len(c) for c in world.query(without=("Position",))] == [1]
    c = chunks[0]
    assert "Health" in c and c["Health"].tolist() == [5, 5, 5]  # not queried but in the table
    with pytest.raises(ValueError):
        c["Position"][0, 0] = 1
    with pytest.raises(ValueError):
        c.entities[0] = 1
    with pytest.raises(UnknownComponentError):
        world.query("Nope")
    with pytest.raises(UnknownComponentError):
        c["Tint"]
    for w in world.query("Position", "Velocity", writable=True):
        w["Position"] += w["Velocity"]
    assert all((c["Position"] == 1).all() for c in world.query("Position", "Velocity"))


def test_chunk_goes_stale_after_structural_change(world: World) -> None:
    world.spawn(3, {"Position": 0, "Health": 1})
    (c,) = world.query("Position")
    world.spawn(1, {"Position": 0, "Health": 1})
    with pytest.raises(LayoutError, match="stale"):
        c["Health"]


def test_register_conflicts(world: World) -> None:
    world.register(Component("Health", "int32"))  # identical: fine
    with pytest.raises(SchemaError, match="already registered"):
        world.register(Component("Health", "int64"))


def test_resources_and_events(world: World) -> None:
    world.insert_resource("time", {"tick": 3, "dt": 0.016})
    assert world.resource("time") == {"tick": 3, "dt": 0.016}
    assert world.try_resource("nope", 5) == 5
    with pytest.raises(MissingResourceError, match="nope"):
        world.resource("nope")
    with pytest.raises(SchemaError, match="msgpack"):
        world.insert_resource("bad", object())
    value = [1, 2]
    world.insert_resource("list", value)
    value.append(3)  # stored as a copy
    assert world.resource("list") == [1, 2]
    world.send_event("hit", {"id": 1})
    world.send_event("hit", {"id": 2})
    assert world.events("hit") == [{"id": 1}, {"id": 2}]
    assert world.events("other") == []
    world.clear_events()
    assert world.events("hit") == []
    world.remove_resource("time")
    assert world.try_resource("time") is None


def test_layout_is_msgpack_able_and_complete(world: World) -> None:
    world.spawn(5, {"Position": 1, "Health": 2})
    layout = world.layout()
    back = msgpack.unpackb(msgpack.packb(layout), raw=False)
    assert back["epoch"] == world.epoch
    assert {d["name"] for d in back["components"]} == {"Position", "Velocity", "Health", "Tint"}
    (t,) = back["tables"]
    assert t["rows"] == 5 and t["components"] == ["Health", "Position"]
    ids = {sid for sid, _ in back["segments"]}
    assert t["segment"] in ids and back["entities"]["segment"] in ids
    assert ids <= set(world.segments())


def test_segments_are_sealed_against_writable_maps(world: World) -> None:
    import mmap

    world.spawn(3, {"Health": 1})
    for seg in world.segments().values():
        fd = os.dup(seg.fd)
        try:
            with pytest.raises(PermissionError):
                mmap.mmap(fd, seg.size, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ | mmap.PROT_WRITE)
        finally:
            os.close(fd)


def test_close_is_idempotent_and_leaves_nothing_in_dev_shm() -> None:
    before = set(os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else set()
    w = World()
    w.register(POSITION, HEALTH)
    w.spawn(1000, {"Position": 1, "Health": 1})
    fds = [s.fd for s in w.segments().values()]
    w.close()
    w.close()
    for fd in fds:
        with pytest.raises(OSError):
            os.fstat(fd)
    after = set(os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else set()
    assert after <= before
    with World() as w2:
        w2.register(HEALTH)
    assert repr(w2)


def test_entity_count_and_empty_spawn(world: World) -> None:
    assert world.spawn(0, {"Health": 1}).shape == (0,)
    e = world.epoch
    world.despawn([])
    assert world.epoch == e and world.entity_count == 0
    with pytest.raises(SchemaError):
        world.spawn(-1)


def test_chunks_are_reused_until_the_epoch_changes(world: World) -> None:
    world.spawn(3, {"Position": 0, "Health": 1})
    a = world.query("Position")
    assert world.query("Position")[0] is a[0]
    assert world.query("Position", writable=True)[0] is not a[0]
    world.spawn(1, {"Health": 1})  # another table, but a new epoch
    b = world.query("Position")
    assert b[0] is not a[0] and len(b[0]) == 3
    world.query("Position", with_=["Health"])  # lists work too (slow path)
    assert [len(c) for c in world.query("Position", with_=["Health"])] == [3]


def test_structured_components(world: World) -> None:
    body = Component("Body", np.dtype([("mass", "<f4"), ("kind", "u1")]))
    world.register(body)
    ids = world.spawn(3, {"Body": np.array([(1.0, 2), (3.0, 4), (5.0, 6)], dtype=body.dtype)})
    v = world.get(ids[1], "Body")
    assert (float(v["mass"]), int(v["kind"])) == (3.0, 4)
    v["mass"] = 99  # a copy
    assert float(world.get(ids[1], "Body")["mass"]) == 3.0
    world.set(ids[1], "Body", (7.0, 8))
    assert int(world.get(ids[1], "Body")["kind"]) == 8
    snap = world.snapshot()
    with World.from_snapshot(snap) as copy:
        assert copy.checksum() == world.checksum()


@pytest.mark.parametrize("n, k", [(1000, 3), (1000, 900), (64, 1)])
def test_swap_remove_few_and_many_rows(world: World, n: int, k: int) -> None:
    ids = world.spawn(n, {"Health": np.arange(n)})
    rng = np.random.default_rng(k)
    gone = rng.choice(n, k, replace=False)
    world.despawn(ids[gone])
    (c,) = world.query("Health") if k < n else [None]
    assert sorted(c["Health"].tolist()) == sorted(set(range(n)) - set(gone.tolist()))
    for eid, h in zip(c.entities.tolist(), c["Health"].tolist()):
        assert world.get(eid, "Health") == h


def test_no_fd_leaks_across_growth_restore_and_close() -> None:
    def nfd() -> int:
        return len(os.listdir("/proc/self/fd"))

    before = nfd()
    for _ in range(3):
        w = World()
        w.register(POSITION, HEALTH)
        ids = w.spawn(3000, {"Position": 0})
        w.add_component(ids[::2], "Health", 1)
        w.despawn(ids[:100])
        snap = w.snapshot()
        w.restore(snap)
        World.from_snapshot(snap).close()
        w.close()
    assert nfd() == before
