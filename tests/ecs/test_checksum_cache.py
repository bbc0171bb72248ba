"""The world checksum's fast path: weak-reference buffers, prefetch, and a cache that is never stale."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest
from ecs_fixtures import ALL
from hypothesis import given, settings
from hypothesis import strategies as st

from gpi.cython_ext import checksum as ck
from gpi.ecs import Component, World, WorldView
from gpi.ecs.checksum import checksum_parts, world_checksum

kernel = pytest.mark.skipif(ck.KERNEL is None, reason="compiled checksum kernel not built")


def _arrays() -> list[np.ndarray]:
    rng = np.random.default_rng(4)
    return [rng.integers(0, 256, n, dtype=np.uint8) for n in (0, 5, 64, 1023, 1024, 5000, 9000)]


@pytest.mark.parametrize("impl", ["kernel", "reference"])
def test_weak_references_hash_like_their_objects(impl: str) -> None:
    fn = ck.checksum_buffers if impl == "kernel" else ck.checksum_buffers_reference
    arrays = _arrays()
    lengths = [a.nbytes for a in arrays]
    strong = fn(arrays, lengths, 9)  # type: ignore[arg-type]
    mixed = [weakref.ref(a) if i % 2 else a for i, a in enumerate(arrays)]
    assert fn(mixed, lengths, 9) == strong  # type: ignore[arg-type]
    assert fn(mixed[:-1], lengths[:-1], 9, arrays[-1]) == strong  # type: ignore[arg-type]  # tail: whole
    assert fn([], [], 9, b"xyz") == fn([b"xyz"], [3], 9)
    gone = np.zeros(100, np.uint8)
    ref = weakref.ref(gone)
    del gone
    gc.collect()
    with pytest.raises(ReferenceError, match="buffer 1 is a weak reference"):
        fn([arrays[1], ref], [5, 100], 0)  # type: ignore[arg-type]


@kernel
def test_prefetch_distance_changes_no_value() -> None:
    ext = ck.KERNEL
    assert ext is not None
    arrays = _arrays() + [np.arange(70_000, dtype=np.uint32)]
    lengths = [a.nbytes for a in arrays]
    want = ck.checksum_buffers_reference(arrays, lengths, 3)
    old_pf, old_level = ext.prefetch_distance(), ext.simd_level()
    try:
        for level in ext.simd_levels():
            ext.set_simd_level(level)
            for pf in (0, 1, 2, 7, 64):
                ext.set_prefetch_distance(pf)
                assert ck.checksum_buffers(arrays, lengths, 3) == want  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="prefetch distance"):
            ext.set_prefetch_distance(-1)
    finally:
        ext.set_prefetch_distance(old_pf)
        ext.set_simd_level(old_level)


def test_format_v2_value_is_pinned() -> None:
    # Golden replays and recorded files hold these values: the fast path must not move them.
    with World(seed=2) as w:
        w.register(*ALL)
        ids = w.spawn(50, {"Position": np.arange(100).reshape(50, 2), "Health": np.arange(50)})
        w.spawn(3, {"Tint": (1, 2, 3, 4)})
        w.despawn(ids[::7])
        w.insert_resource("population", 10_000)
        w.insert_resource("cfg", {"b": [1, 2.5], "a": "x"})
        assert w.checksum() == world_checksum(w, cache=False) == ck.checksum_buffers(*checksum_parts(w))
        assert w.checksum() == 0x6A84548ABDC2A307


def test_column_gone_within_an_epoch_is_planned_again(world: World) -> None:
    world.spawn(40, {"Health": np.arange(40), "Position": 1.0})
    world.checksum()
    table = next(t for t in world.tables if t.rows)
    # What no world operation does: swap a column for a copy without a new epoch.
    table.columns["Health"] = table.columns["Health"].copy()
    table.columns["Health"][:40] += 1
    table.chunk_cache.clear()
    gc.collect()
    plan = world.storage.checksum_cache.plan
    assert any(isinstance(b, weakref.ref) and b() is None for b in plan.buffers)  # the old column is gone
    assert world.checksum() == world_checksum(world, cache=False)


def test_view_checksum_follows_the_host(world: World) -> None:
    ids = world.spawn(30, {"Position": np.ones((30, 2)), "Health": 1})
    world.insert_resource("r", [1, 2])
    with WorldView.from_layout(world.layout(), world.segments()) as view:
        view.set_frame_state(world.resources, None)
        assert view.checksum() == world.checksum()
        world.set_many("Health", ids[:5], 9)  # same epoch, values only (shared memory)
        assert view.checksum() == world.checksum() == world_checksum(view, cache=False)
        world.despawn(ids[:3])
        view.update(world.layout(), world.segments())
        assert view.checksum() == world.checksum()


_OPS = st.lists(st.tuples(st.sampled_from(["spawn", "despawn", "set", "write", "add", "remove", "res", "res_list",
                                           "mutate", "del_res", "register", "restore", "grow"]),
                          st.integers(0, 2**31)), max_size=25)


@settings(max_examples=60, deadline=None)
@given(ops=_OPS)
def test_cached_checksum_is_never_stale(ops: list[tuple[str, int]]) -> None:
    with World(seed=5) as w:
        w.register(*ALL)
        ids = list(w.spawn(8, {"Position": np.zeros((8, 2)), "Health": 1}))
        extra = 0
        for op, k in ops:
            rng = np.random.default_rng(k)
            pick = [ids[i] for i in rng.choice(len(ids), min(len(ids), 1 + k % 4), replace=False)] if ids else []
            if op == "spawn":
                ids += list(w.spawn(1 + k % 5, {"Position": rng.random((1 + k % 5, 2)), "Tint": k % 256}))
            elif op == "grow":
                ids += list(w.spawn(100 + k % 200, {"Health": k % 1000}))
            elif op == "despawn" and pick:
                w.despawn(pick)
                ids = [i for i in ids if i not in set(pick)]
            elif op == "set" and pick:
                pick = [i for i in pick if w.has(i, "Position")]
                w.set_many("Position", pick, rng.random((len(pick), 2)))
            elif op == "write":
                for ch in w.query("Position", writable=True):
                    ch["Position"][k % ch.rows] = k % 97
            elif op == "add" and pick:
                w.add_component([i for i in pick if not w.has(i, "Velocity")], "Velocity", (1.0, 2.0))
            elif op == "remove" and pick:
                w.remove_component([i for i in pick if w.has(i, "Velocity")], "Velocity")
            elif op == "res":
                w.insert_resource(f"r{k % 3}", [k % 5, float(k % 5), bool(k % 2), None][k % 4])
            elif op == "res_list":
                w.insert_resource("lst", [k % 7, "a"])
            elif op == "mutate" and "lst" in w.resources:
                w.resource("lst").append(k % 3)  # in place, no insert: still seen
            elif op == "del_res":
                w.remove_resource(f"r{k % 3}")
            elif op == "register":
                extra += 1
                w.register(Component(f"Extra{extra}", "int16"))
            elif op == "restore":
                w.restore(w.snapshot())
            assert w.checksum() == world_checksum(w, cache=False)
        assert w.checksum() == world_checksum(w, cache=False)


def test_restore_of_another_state_is_seen() -> None:
    with World(seed=1) as a, World(seed=1) as b:
        for w in (a, b):
            w.register(*ALL)
        a.spawn(10, {"Health": 1})
        b.spawn(10, {"Health": 2})
        snap_b = b.snapshot()
        ha = a.checksum()
        a.restore(snap_b)
        assert a.checksum() == b.checksum() != ha


def test_numpy_fallback_state_gives_the_same_values(monkeypatch: pytest.MonkeyPatch) -> None:
    def build() -> World:
        w = World(seed=3)
        w.register(*ALL)
        w.spawn(1100, {"Position": np.random.default_rng(2).random((1100, 2)), "Health": 7})
        w.insert_resource("r", [1, "a"])
        return w

    with build() as w:
        want = w.checksum()
    monkeypatch.setattr(ck, "KERNEL", None)
    with build() as w:  # its checksum state is made with the numpy reference as kernel
        assert w.checksum() == want
        w.spawn(2, {"Tint": 1})
        assert w.checksum() == world_checksum(w, cache=False)
