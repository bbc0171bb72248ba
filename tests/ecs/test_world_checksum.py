"""The world checksum: coverage, and the per-epoch cache against a fresh computation."""

from __future__ import annotations

import gc
import weakref

import msgpack
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpi.cython_ext.checksum import checksum_buffers
from gpi.ecs import Component, LayoutError, World
from gpi.ecs.checksum import CHECKSUM_TAG, checksum_parts, encode_resources, world_checksum
from gpi.ecs.resources import canonical_packb


def fresh(w: World) -> int:
    return world_checksum(w, cache=False)


def same(w: World) -> int:
    """The cached value, checked against a full recomputation."""
    got = w.checksum()
    assert got == fresh(w)
    return got


def test_cache_follows_every_kind_of_change(world: World) -> None:
    seen = {same(world)}

    def changed() -> None:
        h = same(world)
        assert h not in seen
        seen.add(h)

    a = world.spawn(100, {"Position": np.arange(200).reshape(100, 2), "Health": 5})
    changed()
    world.spawn(3, {"Tint": (1, 2, 3, 4)})
    changed()
    world.set(int(a[7]), "Health", 6)  # value write: same epoch
    changed()
    world.set_many("Position", a[:10], np.zeros((10, 2)))
    changed()
    for ch in world.query("Health", writable=True):
        ch["Health"][:] += 1
    changed()
    world.add_component(a[:5], "Velocity", (1.0, 2.0))
    changed()
    world.remove_component(a[:2], "Velocity")
    changed()
    world.despawn(a[50:60])
    changed()
    world.spawn(1000, {"Health": 1})  # table growth: new segment
    changed()
    world.insert_resource("score", 3)
    changed()
    world.insert_resource("score", 3.0)  # equal in Python, not the same state
    changed()
    world.insert_resource("score", True)
    changed()
    world.insert_resource("names", ["a", "b"])
    changed()
    world.register(Component("Extra", "int8"))  # schema only
    changed()
    world.remove_resource("names")
    changed()


def test_in_place_resource_mutation_is_seen(world: World) -> None:
    world.insert_resource("cfg", {"speed": [1, 2]})
    h = same(world)
    world.resource("cfg")["speed"].append(3)  # no insert_resource: a host bug, still visible
    assert same(world) != h


def test_order_and_values_of_resources() -> None:
    with World() as a, World() as b:
        a.insert_resource("x", 1)
        a.insert_resource("y", {"k": 2, "j": 3})
        b.insert_resource("y", {"j": 3, "k": 2})
        b.insert_resource("x", 1)
        assert same(a) == same(b)


def test_restore_and_snapshot_round_trip(world: World) -> None:
    world.spawn(40, {"Health": np.arange(40)})
    snap = world.snapshot()
    h = same(world)
    world.spawn(10, {"Tint": 0})
    world.despawn(world.query("Health")[0].entities[:5])
    assert same(world) != h
    world.restore(snap)
    assert same(world) == h
    with World.from_snapshot(snap) as copy:
        assert same(copy) == h


def test_live_rows_only_and_empty_tables_skipped(world: World) -> None:
    ids = world.spawn(10, {"Health": 1})
    world.despawn(ids)
    h = same(world)
    with World(seed=1) as other:
        other.register(*world.components.values())
        other.spawn(10, {"Health": 2})  # other values, then gone again
        other.despawn(other.query("Health")[0].entities)
        assert same(other) == h  # unused capacity and empty tables are not hashed


def test_generations_count() -> None:
    with World() as a, World() as b:
        a.spawn(1)
        b.despawn(b.spawn(1))
        b.spawn(1)  # same slot, generation 2
        assert same(a) != same(b)


def test_cache_does_not_pin_released_segments(world: World) -> None:
    world.spawn(10, {"Health": 1})
    same(world)
    table = next(t for t in world.tables if t.names == ("Health",))
    old = weakref.ref(table.columns["Health"])
    world.spawn(5000, {"Health": 2})  # grows the table into a new segment
    world.query("Health")  # refreshes the chunk cache
    gc.collect()
    assert old() is None
    same(world)


def test_closed_world_is_refused(world: World) -> None:
    world.spawn(3, {"Health": 1})
    same(world)
    world.close()
    with pytest.raises(LayoutError, match="closed"):
        world.checksum()


def test_parts_chain_to_the_checksum(world: World) -> None:
    world.spawn(30, {"Position": np.ones((30, 2)), "Tint": 7})
    world.spawn(5, {"Health": 2})
    world.insert_resource("r", [1, "x"])
    buffers, lengths = checksum_parts(world)
    assert checksum_buffers(buffers, lengths) == world.checksum()
    assert buffers[0] == CHECKSUM_TAG


scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1),
                    st.floats(allow_nan=False), st.text(max_size=40), st.binary(max_size=40))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.one_of(st.text(max_size=5), st.integers(0, 9)), inner,
                                                 max_size=4)), max_leaves=10)


@settings(max_examples=80, deadline=None)
@given(items=st.dictionaries(st.text(min_size=1, max_size=40), values, max_size=6))
def test_fast_resource_encoding_is_canonical(items: dict[str, object]) -> None:
    assert encode_resources(items, msgpack.Packer(use_bin_type=True)) == canonical_packb(items)
