"""SPSC ring between real processes: a million-message stress test, peers killed mid-frame, peer death."""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest

from gpi.cython_ext.ring_ops import FRAME_MAGIC, HEADER_SIZE
from gpi.shm import (
    Channel,
    ChannelTimeout,
    PeerDiedError,
    Ring,
    Segment,
    recv_with_fds,
    send_with_fds,
)
from gpi.shm.ring import ring_region_size

pytestmark = pytest.mark.subprocess
CTX = mp.get_context("spawn")
PAD = bytes(range(64))
ROOT = Path(__file__).resolve().parents[2]


def _attach(sock: socket.socket) -> tuple[Segment, Ring, dict]:
    meta, fds = recv_with_fds(sock)
    seg = Segment.attach(fds[0], readonly=False, name="child")
    ring = Ring.attach(seg, 0, meta["capacity"])
    ring.watch(ppid=os.getppid())
    return seg, ring, meta


def _shared_ring(capacity: int) -> tuple[Segment, Ring, socket.socket, socket.socket]:
    seg = Segment.create(ring_region_size(capacity), "proc")
    seg.seal(allow_peer_writes=True)
    ring = Ring.create(seg, 0, capacity)
    a, b = socket.socketpair()
    return seg, ring, a, b


# -- a million messages with checksums ----------------------------------------------


def _producer(sock: socket.socket, n: int) -> None:
    seg, ring, _ = _attach(sock)
    push, pack, crc32 = ring.push, struct.Struct("<Q").pack, zlib.crc32
    crc = 0
    for i in range(n):
        data = pack(i) + PAD[: i % 57]
        crc = crc32(data, crc)
        push(data)
    push(b"END" + struct.pack("<I", crc))
    ring.close()
    seg.close()


@pytest.mark.slow
def test_million_messages_between_processes_arrive_in_order_with_checksums() -> None:
    n = 1_000_000
    seg, ring, a, b = _shared_ring(1 << 16)
    ring.watch(pidfd=-1)
    proc = CTX.Process(target=_producer, args=(b, n))
    proc.start()
    pidfd = os.pidfd_open(proc.pid)
    ring.watch(pidfd=pidfd)
    send_with_fds(a, {"capacity": ring.capacity}, [seg.fd])
    pop, unpack, crc32 = ring.pop, struct.Struct("<Q").unpack_from, zlib.crc32
    crc = 0
    bad = 0
    for i in range(n):
        data = pop(60)
        if unpack(data)[0] != i or len(data) != 8 + i % 57:
            bad += 1
        crc = crc32(data, crc)
    end = pop(60)
    proc.join(30)
    assert bad == 0
    assert end == b"END" + struct.pack("<I", crc)
    assert proc.exitcode == 0
    os.close(pidfd)
    ring.close()
    seg.close()
    a.close()
    b.close()


# -- a producer killed mid-frame -----------------------------------------------------


def _half_writer(sock: socket.socket, ready: mp.Queue) -> None:
    """Write a frame header and half its payload at the tail, then hang without publishing."""
    seg, ring, _ = _attach(sock)
    ring.push(b"complete frame", timeout=5)
    tail = ring._core.tail
    pos = HEADER_SIZE + (tail & (ring.capacity - 1))
    struct.pack_into("<II", seg.buf, pos, 200, FRAME_MAGIC ^ ((tail >> 3) & 0xFFFFFFFF))
    seg.buf[pos + 8 : pos + 108] = b"h" * 100
    ready.put("written")
    time.sleep(60)


def test_peer_killed_mid_frame_is_never_a_frame() -> None:
    seg, ring, a, b = _shared_ring(4096)
    q: mp.Queue = CTX.Queue()
    proc = CTX.Process(target=_half_writer, args=(b, q))
    proc.start()
    pidfd = os.pidfd_open(proc.pid)
    ring.watch(pidfd=pidfd)
    send_with_fds(a, {"capacity": ring.capacity}, [seg.fd])
    assert q.get(timeout=30) == "written"
    assert ring.pop(timeout=5) == b"complete frame"
    with pytest.raises(ChannelTimeout):  # alive but published nothing more
        ring.pop(timeout=0.05)
    os.kill(proc.pid, signal.SIGKILL)
    t0 = time.monotonic()
    with pytest.raises(PeerDiedError, match="peer process exited"):
        ring.pop(timeout=10)
    assert time.monotonic() - t0 < 10  # raised on death, not at the timeout
    proc.join(10)
    ring.reset()
    ring.push(b"after", timeout=0)
    assert ring.pop(timeout=0) == b"after"
    os.close(pidfd)
    ring.close()
    seg.close()
    a.close()
    b.close()


def _endless_producer(sock: socket.socket) -> None:
    seg, ring, _ = _attach(sock)
    rng = random.Random(7)
    i = 0
    while True:
        body = struct.pack("<Q", i) + bytes(
            rng.randrange(256) for _ in range(rng.randrange(0, 900))
        )
        ring.push(struct.pack("<I", zlib.crc32(body)) + body)
        i += 1


def test_producer_killed_at_a_random_moment_leaves_only_whole_frames() -> None:
    seg, ring, a, b = _shared_ring(1 << 14)
    proc = CTX.Process(target=_endless_producer, args=(b,))
    proc.start()
    pidfd = os.pidfd_open(proc.pid)
    ring.watch(pidfd=pidfd)
    send_with_fds(a, {"capacity": ring.capacity}, [seg.fd])
    expect = 0
    for _ in range(300):
        ring.pop(timeout=30)
        expect += 1
    os.kill(proc.pid, signal.SIGKILL)  # producer is mid-push somewhere
    with pytest.raises(PeerDiedError):
        while True:
            data = ring.pop(timeout=10)
            assert struct.unpack_from("<I", data)[0] == zlib.crc32(data[4:])
            assert struct.unpack_from("<Q", data, 4)[0] == expect
            expect += 1
    proc.join(10)
    os.close(pidfd)
    ring.close()
    seg.close()
    a.close()
    b.close()


# -- the child notices when its host dies ------------------------------------------


def _waiting_child(sock: socket.socket, result: mp.Queue) -> None:
    spec, fds = recv_with_fds(sock)
    ch = Channel.attach(spec, fds)  # host_pid is not our parent: watched through a pidfd
    result.put("attached")
    try:
        ch.recv(timeout=30)
        result.put("message")
    except PeerDiedError as exc:
        result.put(f"died: {exc}")
    except ChannelTimeout:
        result.put("timeout")
    ch.close()


def test_child_sees_host_death_through_pidfd() -> None:
    fake_host = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    with Channel.create("w", ring_capacity=1024, arena_size=4096, drawlist_size=4096) as ch:
        spec = ch.child_spec()
        spec["host_pid"] = fake_host.pid
        a, b = socket.socketpair()
        q: mp.Queue = CTX.Queue()
        proc = CTX.Process(target=_waiting_child, args=(b, q))
        proc.start()
        send_with_fds(a, spec, ch.child_fds())
        assert q.get(timeout=30) == "attached"
        time.sleep(0.05)
        fake_host.kill()
        fake_host.wait()
        out = q.get(timeout=30)
        proc.join(10)
        assert out.startswith("died:"), out
        a.close()
        b.close()


_ORPHAN_SCRIPT = r"""
import os, sys
from gpi.shm import Channel, PeerDiedError, ChannelTimeout
out = int(sys.argv[1])
ch = Channel.create("orphan", ring_capacity=1024, arena_size=4096, drawlist_size=4096)
spec, fds = ch.child_spec(), [os.dup(f) for f in ch.child_fds()]
pid = os.fork()
if pid == 0:
    try:
        # our parent is the host: watched through getppid() (or, if it is already
        # gone by now, attach itself raises PeerDiedError)
        child = Channel.attach(spec, fds)
        child.recv(timeout=20)
        os.write(out, b"message")
    except PeerDiedError:
        os.write(out, b"died")
    except ChannelTimeout:
        os.write(out, b"timeout")
    os._exit(0)
os._exit(0)  # the host dies at once; the child is waiting on it
"""


def test_child_sees_parent_death_through_getppid() -> None:
    r, w = os.pipe()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-c", _ORPHAN_SCRIPT, str(w)], pass_fds=(w,), env=env)
    os.close(w)
    proc.wait(30)
    with os.fdopen(r, "rb") as f:
        assert f.read() == b"died"


def test_blocked_producer_sees_consumer_death() -> None:
    seg, ring, a, b = _shared_ring(256)
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    pidfd = os.pidfd_open(proc.pid)
    ring.watch(pidfd=pidfd)
    while ring.try_push(b"x" * 24):
        pass
    with pytest.raises(ChannelTimeout):
        ring.push(b"y", timeout=0.05)
    proc.kill()
    proc.wait()
    with pytest.raises(PeerDiedError):
        ring.push(b"y", timeout=10)
    os.close(pidfd)
    ring.close()
    seg.close()
    a.close()
    b.close()
