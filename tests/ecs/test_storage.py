"""The world's state has one owner: restore swaps it whole, a refused restore keeps it."""

from __future__ import annotations

import numpy as np
import pytest

from gpi.ecs import LayoutError, SnapshotError, World, WorldView
from gpi.ecs.storage import Storage


def test_restore_swaps_the_storage_and_moves_the_epoch_on(world: World) -> None:
    ids = world.spawn(20, {"Position": np.arange(40).reshape(20, 2), "Health": 3})
    world.insert_resource("score", 7)
    snap, before = world.snapshot(), world.checksum()
    old, epoch, next_id = world.storage, world.epoch, world.storage.pool.next_id  # type: ignore[union-attr]
    world.despawn(ids[:5])
    world.insert_resource("score", 8)
    world.restore(snap)
    new = world.storage
    assert new is not old and old.closed and not new.closed
    assert world.checksum() == before and world.resource("score") == 7
    assert world.epoch == epoch + 2  # the despawn, then the restore
    assert all(t.version == world.epoch for t in world.tables)
    assert min(world.segments()) >= next_id  # segment ids keep counting up: no id is reused


def test_refused_restore_keeps_the_storage(world: World) -> None:
    world.spawn(5, {"Health": 1})
    snap = bytearray(world.snapshot())
    snap[40] ^= 0xFF
    state, before = world.storage, world.checksum()
    with pytest.raises(SnapshotError):
        world.restore(bytes(snap))
    assert world.storage is state and not state.closed and world.checksum() == before


def test_from_snapshot_keeps_the_snapshot_epoch(world: World) -> None:
    world.spawn(3, {"Health": 2})
    world.spawn(2, {"Position": (1.0, 2.0)})
    with World.from_snapshot(world.snapshot()) as copy:
        assert copy.epoch == world.epoch and copy.checksum() == world.checksum()
        assert [t.names for t in copy.tables] == [t.names for t in world.tables]


def test_checksum_cache_lives_with_the_state(world: World) -> None:
    world.spawn(4, {"Health": 1})
    world.checksum()
    cache = world.storage.checksum_cache
    assert cache is not None and cache.plan.epoch == world.epoch
    world.restore(world.snapshot())
    assert world.storage.checksum_cache is not cache  # a new state plans afresh


def test_closed_world_and_view_without_layout_say_so() -> None:
    w = World()
    w.close()
    assert w.storage.closed
    with pytest.raises(LayoutError, match="closed world"):
        w.checksum()
    w.close()  # twice is fine
    with pytest.raises(LayoutError, match="no entity index"):
        WorldView().is_alive(1)
    with pytest.raises(LayoutError, match="no segment pool"):
        Storage().add_table(())
