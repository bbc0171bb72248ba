"""SPSC ring in one process: model test against a deque, kernel vs reference bytes, bad frames, timeouts."""

from __future__ import annotations

import struct
from collections import deque

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpi.cython_ext import ring_ops
from gpi.cython_ext.ring_ops import HEADER_SIZE, RingCoreReference, frame_size
from gpi.shm import ChannelTimeout, FrameError, Ring, Segment, ShmError
from gpi.shm.ring import ring_region_size

OPS = st.lists(
    st.one_of(
        st.tuples(st.just("push"), st.integers(0, 300), st.integers(0, 255)),
        st.tuples(st.just("pop"), st.just(0), st.just(0)),
    ),
    max_size=120,
)


@settings(max_examples=60, deadline=None)
@given(cap_log=st.integers(6, 9), ops=OPS)
def test_ring_matches_deque_model(cap_log: int, ops: list[tuple[str, int, int]]) -> None:
    cap = 1 << cap_log
    with Segment.create(ring_region_size(cap), "model") as seg:
        ring = Ring.create(seg, 0, cap)
        model: deque[bytes] = deque()
        used = 0
        for op, n, fill in ops:
            if op == "push":
                data = bytes([fill]) * n
                if frame_size(n) > cap:
                    with pytest.raises(FrameError, match="does not fit"):
                        ring.try_push(data)
                    continue
                ok = ring.try_push(data)
                assert ok == (used + frame_size(n) <= cap)
                if ok:
                    model.append(data)
                    used += frame_size(n)
            else:
                got = ring.try_pop()
                if model:
                    expect = model.popleft()
                    used -= frame_size(len(expect))
                    assert got == expect
                else:
                    assert got is None
            assert len(ring) == used
        while model:
            assert ring.pop(timeout=0) == model.popleft()
        ring.close()


@settings(max_examples=40, deadline=None)
@given(ops=OPS)
def test_kernel_and_reference_write_identical_bytes(ops: list[tuple[str, int, int]]) -> None:
    if ring_ops.BACKEND != "cython":
        pytest.skip("Cython ring kernel not built")
    cap = 256
    bufs = [np.zeros(HEADER_SIZE + cap, np.uint8) for _ in range(2)]
    cores = [ring_ops.RingCore(bufs[0], 0, cap, True), RingCoreReference(bufs[1], 0, cap, True)]
    for op, n, fill in ops:
        data = bytes([fill]) * n
        if op == "push":
            results = [c.try_push(data) for c in cores]
        else:
            results = [c.try_pop() for c in cores]
        assert results[0] == results[1]
        assert cores[0].shared_indices() == cores[1].shared_indices()
    # header words that are not futex sequence counters, and the whole data area
    for lo, hi in ((0, 16), (64, 72), (128, 136), (HEADER_SIZE, HEADER_SIZE + cap)):
        assert bytes(bufs[0][lo:hi]) == bytes(bufs[1][lo:hi])


def test_wraparound_splits_frames_and_keeps_order() -> None:
    cap = 128
    with Segment.create(ring_region_size(cap), "wrap") as seg:
        ring = Ring.create(seg, 0, cap)
        for i in range(200):
            payload = bytes([i % 256]) * (i % 61)
            ring.push(payload, timeout=0)
            assert ring.pop(timeout=0) == payload
        ring.close()


def test_attach_checks_header_and_capacity() -> None:
    with Segment.create(ring_region_size(1024), "att") as seg:
        Ring.create(seg, 0, 1024).close()
        with Ring.attach(seg, 0, 1024) as other:
            assert other.capacity == 1024
        with pytest.raises(ShmError, match="no ring of capacity 512"):
            Ring.attach(seg, 0, 512)
        with pytest.raises(ShmError, match="power of two"):
            Ring.create(seg, 0, 1000)
        with pytest.raises(ShmError, match="does not fit"):
            Ring.create(seg, 1 << 30, 1024)
        with pytest.raises(ShmError, match="does not fit"):
            Ring.create(seg, 32, 1024)


def test_timeouts_on_empty_and_full() -> None:
    with Segment.create(ring_region_size(64), "to") as seg:
        ring = Ring.create(seg, 0, 64)
        with pytest.raises(ChannelTimeout, match="within 0.02 s"):
            ring.pop(timeout=0.02)
        ring.push(b"x" * 40, timeout=0)
        with pytest.raises(ChannelTimeout):
            ring.push(b"y" * 20, timeout=0.02)
        assert ring.try_push(b"y" * 20) is False
        assert isinstance(ChannelTimeout("x"), TimeoutError)
        ring.close()


def _published_garbage(ring: Ring, seg: Segment, words: tuple[int, int], tail: int) -> None:
    """Write an 8-byte 'frame header' at index 0 and publish ``tail`` as a hostile producer would."""
    struct.pack_into("<II", seg.buf, HEADER_SIZE, *words)
    struct.pack_into("<Q", seg.buf, 128, tail)


@pytest.mark.parametrize(
    ("words", "tail", "match"),
    [
        ((5, 0xDEADBEEF), 16, "garbage bytes"),
        ((1 << 20, ring_ops.FRAME_MAGIC), 16, "past the ring capacity"),
        ((100, ring_ops.FRAME_MAGIC), 16, "truncated frame"),
        ((0, ring_ops.FRAME_MAGIC), 4, "corrupt index"),
        ((0, ring_ops.FRAME_MAGIC), 4096, "corrupt index"),
    ],
)
def test_bad_frames_are_named_and_reset_recovers(
    words: tuple[int, int], tail: int, match: str
) -> None:
    cap = 256
    with Segment.create(ring_region_size(cap), "bad") as seg:
        ring = Ring.create(seg, 0, cap)
        _published_garbage(ring, seg, words, tail)
        with pytest.raises(FrameError, match=match) as info:
            ring.pop(timeout=0.1)
        assert "reset()" in str(info.value)
        assert isinstance(info.value, ValueError)
        ring.reset()
        assert ring.try_pop() is None
        ring.push(b"fine", timeout=0)
        assert ring.pop(timeout=0) == b"fine"
        ring.close()


def test_producer_refuses_a_corrupt_consumer_index() -> None:
    with Segment.create(ring_region_size(256), "badhead") as seg:
        ring = Ring.create(seg, 0, 256)
        ring.push(b"abc", timeout=0)
        struct.pack_into("<Q", seg.buf, 64, 10_000)  # head ahead of tail
        with pytest.raises(FrameError, match="corrupt index"):
            ring.try_push(b"x")
        ring.reset()
        assert ring.try_push(b"x")
        ring.close()


def test_stale_bytes_from_an_earlier_lap_are_not_a_frame() -> None:
    cap = 64
    with Segment.create(ring_region_size(cap), "stale") as seg:
        ring = Ring.create(seg, 0, cap)
        for _ in range(4):  # one full lap: the data area holds valid-looking old frames
            ring.push(b"z" * 8, timeout=0)
            ring.pop(timeout=0)
        # a hostile producer republishes one more frame's worth without writing it
        head = ring._core.head
        struct.pack_into("<Q", seg.buf, 128, head + 16)
        with pytest.raises(FrameError, match="garbage bytes"):
            ring.pop(timeout=0)
        ring.close()


def test_close_twice_and_use_after_close() -> None:
    seg = Segment.create(ring_region_size(64), "c")
    ring = Ring.create(seg, 0, 64)
    ring.close()
    ring.close()
    assert ring.closed
    with pytest.raises(ShmError, match="closed"):
        ring.try_push(b"x")
    seg.close()


def test_readonly_segment_is_refused() -> None:
    with Segment.create(ring_region_size(64), "ro") as seg:
        Ring.create(seg, 0, 64).close()
        ro = Segment.attach(__import__("os").dup(seg.fd), readonly=True)
        with pytest.raises((ShmError, ValueError)):
            Ring.attach(ro, 0, 64)
        ro.close()


def test_reference_backend_blocks_times_out_and_sees_peer_death() -> None:
    import os
    import subprocess
    import sys

    cap = 64
    buf = np.zeros(HEADER_SIZE + cap, np.uint8)
    ref = RingCoreReference(buf, 0, cap, True)
    assert ref.pop(1_000_000) == ring_ops.TIMEOUT
    assert ref.push(b"x" * 40, 0) == 1
    assert ref.push(b"y" * 20, 1_000_000) == ring_ops.TIMEOUT
    assert ref.pop(0) == b"x" * 40
    assert ref.try_push(b"z" * 100) == ring_ops.E_TOOBIG
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    pidfd = os.pidfd_open(proc.pid)
    proc.wait()
    ref.pidfd = pidfd
    assert ref.pop(5_000_000_000) == ring_ops.PEER_DIED
    os.close(pidfd)
    ref.close()
    with pytest.raises(ValueError, match="closed"):
        ref.try_pop()


def test_spin_and_pairing_knobs() -> None:
    with Segment.create(2 * ring_region_size(256), "knobs") as seg:
        a = Ring.create(seg, 0, 256)
        b = Ring.create(seg, ring_region_size(256), 256)
        a.spin_ns = 0
        assert a.spin_ns == 0
        b.pair_with(a)
        a.push(b"req", timeout=0)
        b.push(b"resp", timeout=0)
        assert b.pop(timeout=0) == b"resp"
        assert a.pop(timeout=0) == b"req"
        a.close()
        b.close()
