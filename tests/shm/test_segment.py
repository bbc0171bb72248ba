"""Memfd segments: create, seal, pass to a real child, read-only there, close twice."""

import multiprocessing as mp
import os
import socket

import numpy as np
import pytest

from gpi.shm import Segment, SegmentClosedError, SegmentError, recv_with_fds, send_with_fds


def test_create_write_read_and_close_twice() -> None:
    seg = Segment.create(100, "t")
    assert seg.size % 4096 == 0 and seg.size >= 100
    arr = seg.ndarray(np.float32, (10,), offset=64)
    arr[:] = np.arange(10)
    assert seg.ndarray(np.float32, 10, offset=64)[3] == 3.0
    seg.close()
    seg.close()
    assert seg.closed
    with pytest.raises(SegmentClosedError):
        _ = seg.fd


def test_view_out_of_bounds_is_clear_error() -> None:
    with Segment.create(4096, "t") as seg, pytest.raises(SegmentError, match="exceeds its size"):
        seg.ndarray(np.uint8, 5000)


def test_grown_copies_bytes() -> None:
    with Segment.create(4096, "g") as seg:
        seg.array_view()[:4] = [1, 2, 3, 4]
        with seg.grown(3 * 4096) as big:
            assert big.size == 3 * 4096
            assert list(big.array_view()[:5]) == [1, 2, 3, 4, 0]


def test_nothing_in_dev_shm() -> None:
    before = set(os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else set()
    segs = [Segment.create(4096, f"leak{i}") for i in range(5)]
    for s in segs:
        s.close()
    after = set(os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else set()
    assert after <= before


def _child(sock: socket.socket, result: "mp.Queue[object]") -> None:
    import mmap

    meta, fds = recv_with_fds(sock)
    out: dict[str, object] = {}
    try:
        mmap.mmap(fds[0], meta["size"], prot=mmap.PROT_READ | mmap.PROT_WRITE)
        out["rw_map"] = "allowed"
    except PermissionError:
        out["rw_map"] = "refused"
    seg = Segment.attach(fds[0], meta["size"], readonly=True, name="child")
    view = seg.ndarray(np.int64, 4)
    out["values"] = view.tolist()
    try:
        view[0] = 99
        out["numpy_write"] = "allowed"
    except ValueError:
        out["numpy_write"] = "refused"
    seg.close()
    result.put(out)


@pytest.mark.subprocess
def test_child_maps_read_only_and_kernel_refuses_writes() -> None:
    seg = Segment.create(4096, "shared")
    seg.ndarray(np.int64, 4)[:] = [5, 6, 7, 8]
    seg.seal()
    a, b = socket.socketpair()
    ctx = mp.get_context("spawn")
    q: mp.Queue[object] = ctx.Queue()
    proc = ctx.Process(target=_child, args=(b, q))
    proc.start()
    send_with_fds(a, {"size": seg.size}, [seg.fd])
    out = q.get(timeout=30)
    proc.join(30)
    assert out == {"rw_map": "refused", "values": [5, 6, 7, 8], "numpy_write": "refused"}
    # the owner's writable mapping still works after sealing
    seg.ndarray(np.int64, 4)[0] = 1
    assert seg.ndarray(np.int64, 4)[0] == 1
    seg.close()
    a.close()
    b.close()
