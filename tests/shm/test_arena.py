"""Arena: bump allocation, references, bounds-checked zero-copy views."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpi.cython_ext import ring_ops
from gpi.shm import Arena, ArenaError, ChannelTimeout, Segment


@pytest.fixture
def arena() -> object:
    seg = Segment.create(1 << 16, "arena")
    yield Arena(seg)
    seg.close()


def test_write_and_view_roundtrip_is_zero_copy(arena: Arena) -> None:
    a = np.arange(100, dtype=np.int32).reshape(10, 10)
    ref = arena.write(a)
    assert ref == {"off": 0, "nbytes": 400, "dtype": "<i4", "shape": [10, 10]}
    v = arena.view(ref)
    assert np.array_equal(v, a) and not v.flags.writeable
    arena.view(ref, writable=True)[0, 0] = 77
    assert v[0, 0] == 77  # same bytes
    ref2 = arena.write(np.ones(3, np.float64))
    assert ref2["off"] % 64 == 0 and ref2["off"] >= 400


def test_structured_dtype_travels(arena: Arena) -> None:
    dt = np.dtype([("pos", "<f4", (2,)), ("id", "<u8")])
    a = np.zeros(5, dt)
    a["id"] = np.arange(5)
    ref = arena.write(a)
    import msgpack

    ref = msgpack.unpackb(msgpack.packb(ref))  # as it arrives over the wire
    v = arena.view(ref)
    assert v.dtype == dt and list(v["id"]) == [0, 1, 2, 3, 4]


def test_full_arena_and_reset(arena: Arena) -> None:
    arena.alloc(60000)
    with pytest.raises(ArenaError, match="is full"):
        arena.alloc(10000)
    arena.reset()
    assert arena.alloc(10000) == 0 and arena.remaining == arena.size - 10000


@pytest.mark.parametrize(
    ("ref", "match"),
    [
        ({"off": -64, "nbytes": 8, "dtype": "<f8", "shape": [1]}, "outside the arena"),
        ({"off": 65536 - 8, "nbytes": 16, "dtype": "<f8", "shape": [2]}, "outside the arena"),
        ({"off": 0, "nbytes": 16, "dtype": "<f8", "shape": [3]}, "says 16 bytes"),
        ({"off": 0, "nbytes": 8, "dtype": "not-a-dtype", "shape": [1]}, "invalid dtype"),
        ({"off": 0, "nbytes": 8, "dtype": "|O", "shape": [1]}, "Python objects"),
        ({"off": 0, "nbytes": 8, "shape": [1]}, "lacks field"),
        ({"off": "0", "nbytes": 8, "dtype": "<f8", "shape": [1]}, "must be integers"),
        ({"off": 0, "nbytes": 8, "dtype": "<f8", "shape": [-1]}, "non-negative"),
        ([0, 8], "must be a map"),
    ],
)
def test_bad_references_are_refused(arena: Arena, ref: object, match: str) -> None:
    with pytest.raises(ArenaError, match=match):
        arena.view(ref)


def test_object_arrays_cannot_be_written(arena: Arena) -> None:
    with pytest.raises(ArenaError, match="Python objects"):
        arena.write(np.array([object()]))


@settings(max_examples=40, deadline=None)
@given(sizes=st.lists(st.integers(0, 3000), max_size=30))
def test_allocations_never_overlap_and_stay_inside(sizes: list[int]) -> None:
    with Segment.create(1 << 14, "h") as seg:
        arena = Arena(seg, 64, 1 << 13)
        spans = []
        for n in sizes:
            try:
                off = arena.alloc(n)
            except ArenaError:
                continue
            assert off % 64 == 0 and off + n <= arena.size
            spans.append((off, off + n))
        for (_, a1), (b0, _) in zip(spans, spans[1:]):
            assert a1 <= b0


def test_streamed_fill_and_copy_out_in_one_process(arena: Arena) -> None:
    src = np.arange(3000, dtype=np.float64)
    dst, ref = arena.stream_array(src.dtype, src.shape)
    assert "progress" in ref
    with pytest.raises(ChannelTimeout, match="only 0 of 24000 bytes"):
        arena.copy_out(ref, timeout=0.02)
    arena.fill(ref, src, chunk=1000)
    out = arena.copy_out(ref, timeout=1)
    assert np.array_equal(out, src) and np.shares_memory(dst, arena.view(ref))
    with pytest.raises(ArenaError, match="C-contiguous"):
        arena.copy_out(ref, np.empty(10))
    with pytest.raises(ArenaError, match="invalid progress offset"):
        arena.copy_out({**ref, "progress": 3})
    with pytest.raises(ArenaError, match="cannot fill"):
        arena.fill(ref, np.zeros(5))


def test_progress_cell_kernel_matches_reference() -> None:
    buf = np.zeros(64, np.uint8)
    ring_ops.store_u64(buf, 0, 12345)
    assert ring_ops.load_u64(buf, 0) == 12345 == ring_ops.load_u64_reference(buf, 0)
    ring_ops.store_u64_reference(buf, 32, 7)
    assert ring_ops.load_u64(buf, 32) == 7
    assert ring_ops.wait_u64(buf, 0, 100, 0) == (0, 12345)
    assert ring_ops.wait_u64(buf, 32, 100, 1_000_000)[0] == ring_ops.TIMEOUT
    assert ring_ops.wait_u64_reference(buf, 32, 100, 1_000_000)[0] == ring_ops.TIMEOUT
    assert buf[44:48].tolist() == [0, 0, 0, 0]  # the waiter flag is cleared after a wait
    with pytest.raises(ValueError, match="misaligned"):
        ring_ops.load_u64(buf, 4)
    with pytest.raises(ValueError, match="outside"):
        ring_ops.store_u64_reference(buf, 56, 1)
