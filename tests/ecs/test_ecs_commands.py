"""Command buffers: wire form, whole-buffer validation, rejection leaves the world untouched."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgpack
import numpy as np
import pytest
from ecs_fixtures import ALL

from gpi.ecs import (
    Access,
    AccessError,
    CommandBuffer,
    CommandError,
    World,
    decode_inline,
    encode_inline,
)


@pytest.fixture
def populated(world: World) -> tuple[World, np.ndarray]:
    ids = world.spawn(8, {"Position": np.arange(16).reshape(8, 2), "Health": np.arange(8)})
    world.spawn(4, {"Position": 0, "Velocity": 1})
    world.insert_resource("score", 0)
    return world, ids


def _rejected(world: World, cmds: Any, match: str, access: Access | None = None,
              exc: type[Exception] = CommandError) -> CommandError:
    before = world.checksum()
    epoch = world.epoch
    with pytest.raises(exc, match=match) as info:
        world.apply(cmds, access, source="boids.steer")
    assert world.checksum() == before, "a rejected buffer changed the world"
    assert world.epoch == epoch
    assert "boids.steer" in str(info.value) and info.value.source == "boids.steer"
    return info.value


def test_apply_all_kinds_in_phase_order(populated: tuple[World, np.ndarray]) -> None:
    world, ids = populated
    cb = CommandBuffer()
    cb.spawn(2, {"Health": 50})                           # phase 5
    cb.despawn(ids[[7]])                                  # phase 4
    cb.set("Health", ids[[0, 1]], [100, 101])             # phase 1
    cb.add_component(ids[[2]], "Tint", [1, 2, 3, 4])      # phase 2
    cb.remove_component(ids[[3]], "Health")               # phase 3
    cb.insert_resource("score", 5)
    cb.send_event("spawned", {"n": 2})
    (chunk,) = [c for c in world.query("Position", "Velocity")]
    cb.set_chunk(chunk, "Position", np.full((4, 2), 9, np.float32))  # phase 1, before the spawns
    assert len(cb) == 8 and cb.nbytes > 0
    world.apply(cb, source="test")
    assert world.get(ids[0], "Health") == 100 and world.get(ids[1], "Health") == 101
    assert world.get(ids[2], "Tint").tolist() == [1, 2, 3, 4]
    assert not world.has(ids[3], "Health")
    assert not world.is_alive(ids[7])
    assert world.resource("score") == 5 and world.events("spawned") == [{"n": 2}]
    assert all((c["Position"] == 9).all() for c in world.query("Position", "Velocity"))
    # the spawn ran after the despawn: the freed slot was reused
    new = [e for c in world.query("Health", without=("Position",)) for e in c.entities.tolist()]
    assert len(new) == 2 and (int(ids[7]) & 0xFFFFFFFF) in {e & 0xFFFFFFFF for e in new}


def test_wire_round_trip_through_msgpack(populated: tuple[World, np.ndarray]) -> None:
    world, ids = populated
    cb = CommandBuffer()
    cb.set("Position", ids[:3], np.ones((3, 2), np.float32))
    cb.spawn(3, {"Tint": np.array([1, 2, 3, 4], np.uint8), "Health": 3})
    cb.despawn(ids[[5]])
    cb.send_event("e", [1, "x", b"y"])
    wire = msgpack.unpackb(msgpack.packb(cb.to_wire()), raw=False)
    back = CommandBuffer.from_wire(wire)
    assert len(back) == len(cb)
    a, b = world.checksum(), None
    snap = world.snapshot()
    world.apply(back)
    b = world.checksum()
    with World.from_snapshot(snap) as other:
        other.apply(cb)
        assert other.checksum() == b != a


def test_encode_decode_hooks_let_arrays_live_elsewhere(populated: tuple[World, np.ndarray]) -> None:
    world, ids = populated
    arena: list[np.ndarray] = []

    def enc(arr: np.ndarray) -> Any:
        if arr.nbytes >= 32:
            arena.append(arr.copy())
            return {"arena": len(arena) - 1}
        return encode_inline(arr)

    def dec(obj: Any) -> np.ndarray:
        return arena[obj["arena"]] if "arena" in obj else decode_inline(obj)

    cb = CommandBuffer()
    cb.set("Position", ids, np.full((8, 2), 3, np.float32))
    cb.set("Health", ids[:1], 1)
    wire = cb.to_wire(enc)
    assert "arena" in wire["ops"][0]["values"] and "data" in wire["ops"][1]["values"]
    world.apply(CommandBuffer.from_wire(wire, dec))
    assert world.get(ids[4], "Position").tolist() == [3, 3]


def _buf(fill: Callable[[CommandBuffer], None]) -> CommandBuffer:
    cb = CommandBuffer()
    fill(cb)
    return cb


def test_unknown_component(populated: tuple[World, np.ndarray]) -> None:
    world, ids = populated
    err = _rejected(world, _buf(lambda cb: cb.set("Mana", ids[:1], 1)), "unknown component 'Mana'")
    assert err.component == "Mana"
    _rejected(world, _buf(lambda cb: cb.spawn(1, {"Mana": 1})), "unknown component 'Mana'")


def test_dtype_and_shape_mismatch(populated: tuple[World, np.ndarray]) -> None:
    world, ids = populated
    _rejected(world, _buf(lambda cb: cb.set("Health", ids[:2], np.array([1.5, 2.5]))),
              "Health.*expected dtype int32, given float64")
    _rejected(world, _buf(lambda cb: cb.set("Position", ids[:2], np.zeros((2, 3), np.float32))),
              "Position.*shape \\(2, 3\\)")
    _rejected(world, _buf(lambda cb: cb.spawn(2, {"Position": np.zeros((3, 2), np.float32)})),
              "Position.*shape")


def test_dead_foreign_and_duplicate_ids(populated: tuple[World, np.ndarray]) -> None:
    world, ids = populated
    world.despawn(ids[[6]])
    err = _rejected(world, _buf(lambda cb: cb.set("Health", ids[[6]], 1)), "dead")
    assert err.entity == int(ids[6])
    with World() as other:
        other.register(*ALL)
        foreign = other.spawn(50, {"Health": 1})[-1]
    _rejected(world, _buf(lambda cb: cb.despawn([foreign])), "never spawned")
    _rejected(world, _buf(lambda cb: cb.set("Health", ids[[1, 1]], [1, 2])), "more than once")
    _rejected(world, _buf(lambda cb: (cb.despawn(ids[[1]]), cb.despawn(ids[[1]]))), "despawned twice")
    # an entity that lacks the component
    spare = world.spawn(1, {"Tint": 0})
    _rejected(world, _buf(lambda cb: cb.set("Health", spare, 1)), "has no component 'Health'")


def test_every_problem_is_listed_and_nothing_applies(populated: tuple[World, np.ndarray]) -> None:
    world, ids = populated
    cb = CommandBuffer()
    cb.set("Health", ids[:2], [7, 7])  # fine on its own
    cb.insert_resource("score", 99)    # fine on its own
    cb.set("Mana", ids[:1], 1)
    cb.despawn([12345])
    err = _rejected(world, cb, "unknown component")
    assert len(err.errors) == 2
    assert world.get(ids[0], "Health") == 0 and world.resource("score") == 0


def test_stale_and_out_of_range_set_chunk(populated: tuple[World, np.ndarray]) -> None:
    world, ids = populated
    chunk = world.query("Position", "Health")[0]
    stale = _buf(lambda cb: cb.set_chunk(chunk, "Health", np.zeros(len(chunk), np.int32)))
    world.spawn(1, {"Position": 0, "Health": 0})  # same table: rows and version change
    _rejected(world, stale, "stale chunk")
    fresh = world.query("Position", "Health")[0]
    _rejected(world, _buf(lambda cb: cb.set_chunk(fresh, "Health", np.zeros(3, np.int32))),
              "do not cover the chunk")
    wire = _buf(lambda cb: cb.set_chunk(fresh, "Health", np.zeros(len(fresh), np.int32))).to_wire()
    wire["ops"][0]["table"] = 99
    _rejected(world, wire, "no table 99")
    wire["ops"][0]["table"] = fresh.table_id
    wire["ops"][0]["rows"] = len(fresh) + 5
    _rejected(world, wire, "stale chunk")


def test_oversized_buffer(populated: tuple[World, np.ndarray]) -> None:
    world, ids = populated
    world.max_command_bytes = 1 << 16
    _rejected(world, _buf(lambda cb: cb.spawn(100_000, {"Position": 0})), "over the limit")
    _rejected(world, _buf(lambda cb: cb.set("Position", ids[:1], np.zeros((10_000, 1, 2)))), "over the limit")


def test_access_is_enforced(populated: tuple[World, np.ndarray]) -> None:
    world, ids = populated
    acc = Access(writes=["Velocity"], resources=["score"], events=["boom"], structural=False)
    err = _rejected(world, _buf(lambda cb: cb.set("Position", ids[:1], 0)),
                    "wrote 'Position' but declared writes=\\['Velocity'\\]", acc, AccessError)
    assert isinstance(err, PermissionError)
    _rejected(world, _buf(lambda cb: cb.despawn(ids[:1])), "structural", acc, AccessError)
    _rejected(world, _buf(lambda cb: cb.insert_resource("gold", 1)), "resource 'gold'", acc, AccessError)
    _rejected(world, _buf(lambda cb: cb.send_event("bang", 1)), "event 'bang'", acc, AccessError)
    ok = _buf(lambda cb: (cb.insert_resource("score", 2), cb.send_event("boom", 1)))
    world.apply(ok, acc)
    assert world.resource("score") == 2


def test_unserialisable_resource_or_event(populated: tuple[World, np.ndarray]) -> None:
    world, _ = populated
    _rejected(world, _buf(lambda cb: cb.insert_resource("x", object())), "msgpack")
    _rejected(world, _buf(lambda cb: cb.send_event("x", {1, 2})), "msgpack")


@pytest.mark.parametrize(
    "wire, match",
    [
        ({"v": 2, "ops": []}, "malformed command buffer"),
        ([1, 2], "malformed command buffer"),
        ({"v": 1, "ops": [{"op": "explode"}]}, "op 0: malformed operation"),
        ({"v": 1, "ops": [{"op": "set", "name": "Health"}]}, "missing field 'ids'"),
        ({"v": 1, "ops": [{"op": "spawn", "count": "3", "values": {}}]}, "'count' must be int"),
        ({"v": 1, "ops": [{"op": "despawn", "ids": {"dtype": "<u8", "shape": [2], "data": b"123"}}]},
         "needs 16 bytes, got 3"),
        ({"v": 1, "ops": [{"op": "despawn", "ids": {"dtype": "|O", "shape": [1], "data": b"12345678"}}]},
         "object"),
        ({"v": 1, "ops": [{"op": "despawn", "ids": {"dtype": "<f8", "shape": [1], "data": b"12345678"}}]},
         "must be integers"),
        ({"v": 1, "ops": [{"op": "despawn", "ids": "nope"}]}, "malformed array"),
    ],
)
def test_malformed_wire_data(populated: tuple[World, np.ndarray], wire: Any, match: str) -> None:
    world, _ = populated
    _rejected(world, wire, match)


def test_command_buffer_recording_errors() -> None:
    cb = CommandBuffer()
    with pytest.raises(CommandError, match="integers"):
        cb.despawn([1.5])
    with pytest.raises(CommandError, match="ragged"):
        cb.set("Position", [1, 2], [[1, 2], [3]])
    assert len(cb) == 0 and repr(cb)


def test_validate_alone_changes_nothing(populated: tuple[World, np.ndarray]) -> None:
    world, ids = populated
    before = world.checksum()
    good = _buf(lambda cb: (cb.set("Health", ids[:2], 5), cb.despawn(ids[2:4]), cb.spawn(3)))
    assert world.validate(good, Access(None), "x") is None
    assert world.checksum() == before
    with pytest.raises(CommandError, match="system 'x'"):
        world.validate(_buf(lambda cb: cb.set("Nope", ids[:1], 1)), source="x")
    assert world.checksum() == before
