"""Snapshots: round trip, restore in place, corrupt or truncated input."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from gpi.ecs import SnapshotError, World
from gpi.ecs.snapshot import FORMAT_VERSION, MAGIC


def _fill(world: World) -> np.ndarray:
    ids = world.spawn(300, {"Position": np.random.default_rng(0).random((300, 2)), "Velocity": [1, 2]})
    world.add_component(ids[::3], "Health", np.arange(100))
    world.despawn(ids[5:50:2])
    world.spawn(7, {"Tint": [1, 2, 3, 4]})
    world.insert_resource("rng", {"state": 12345, "name": "pcg"})
    world.send_event("spawned", 7)
    return ids


def test_round_trip_keeps_checksum_and_behaviour(world: World) -> None:
    ids = _fill(world)
    snap = world.snapshot()
    assert snap[:8] == MAGIC
    with World.from_snapshot(snap) as copy:
        assert copy.checksum() == world.checksum()
        assert copy.epoch == world.epoch and copy.seed == world.seed
        assert copy.get(ids[3], "Health") == world.get(ids[3], "Health")
        assert copy.resource("rng") == {"state": 12345, "name": "pcg"}
        assert copy.events("spawned") == [7]
        assert [len(c) for c in copy.query("Position")] == [len(c) for c in world.query("Position")]
        # identical futures: free list and generations came along
        a = world.spawn(40, {"Health": 1})
        b = copy.spawn(40, {"Health": 1})
        assert a.tolist() == b.tolist()
        assert copy.checksum() == world.checksum()


def test_restore_in_place(world: World) -> None:
    ids = _fill(world)
    snap = world.snapshot()
    want = world.checksum()
    epoch = world.epoch
    old_segments = set(world.segments())
    world.despawn(ids[100:200])
    world.insert_resource("rng", 0)
    assert world.checksum() != want
    world.restore(snap)
    assert world.checksum() == want
    assert world.epoch > epoch  # always moves forward, so children remap
    assert min(world.segments()) > max(old_segments)  # ids never reused
    assert world.get(ids[150], "Position").shape == (2,)


def test_empty_world_round_trip() -> None:
    with World(seed=9) as w, World.from_snapshot(w.snapshot()) as c:
        assert c.checksum() == w.checksum() and c.seed == 9 and c.entity_count == 0


def _corruptions(snap: bytes) -> list[tuple[bytes, str]]:
    flipped = bytearray(snap)
    flipped[len(snap) // 2] ^= 0x40
    bad_checksum = bytearray(snap)
    bad_checksum[16] ^= 1
    return [
        (b"", "truncated"),
        (snap[:20], "truncated"),
        (snap[:-1], "truncated"),
        (snap + b"x", "truncated or padded"),
        (b"NOTASNAP" + snap[8:], "not a GPI snapshot"),
        (snap[:8] + struct.pack("<I", FORMAT_VERSION + 1) + snap[12:], "version"),
        (bytes(flipped), "corrupt"),
        (bytes(bad_checksum), "does not reproduce"),
    ]


def test_corrupt_snapshots_are_refused_and_restore_changes_nothing(world: World) -> None:
    _fill(world)
    snap = world.snapshot()
    before = world.checksum()
    for data, words in _corruptions(snap):
        with pytest.raises(SnapshotError, match=words):
            World.from_snapshot(data)
        with pytest.raises(SnapshotError, match=words):
            world.restore(data)
        assert world.checksum() == before
    with pytest.raises(SnapshotError):
        World.from_snapshot("not bytes")  # type: ignore[arg-type]


@pytest.mark.parametrize("body", [{}, {"seed": 0}, [1, 2], {"seed": "x", "epoch": 0, "components": []}])
def test_well_compressed_but_malformed_content(body: object) -> None:
    import lz4.frame
    import msgpack

    payload = lz4.frame.compress(msgpack.packb(body))
    data = struct.pack("<8sIIQQ", MAGIC, FORMAT_VERSION, 0, 0, len(payload)) + payload
    with pytest.raises(SnapshotError, match="malformed|not a map"):
        World.from_snapshot(data)
