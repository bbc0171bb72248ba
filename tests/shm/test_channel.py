"""Channel: request/response with a real child, arena zero-copy, protocol errors, peer death, reset."""

from __future__ import annotations

import multiprocessing as mp
import os
import socket
import time

import msgpack
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpi.cython_ext import ring_ops
from gpi.shm import (
    PROTOCOL_VERSION,
    Channel,
    ChannelTimeout,
    FrameError,
    PeerDiedError,
    ProtocolError,
    ShmError,
    protocol,
    recv_with_fds,
    send_with_fds,
)

CTX = mp.get_context("spawn")


def _server(sock: socket.socket) -> None:
    """A small child: answers calls until told to shut down."""
    spec, fds = recv_with_fds(sock)
    ch = Channel.attach(spec, fds)
    while True:
        msg = ch.recv(timeout=60)
        if msg["kind"] == "shutdown":
            ch.send({"kind": "bye"})
            break
        op = msg.get("op")
        ch.arena.reset()
        if op == "echo":
            ch.send({"kind": "result", "echo": msg["data"], "pid": os.getpid()})
        elif op == "array":
            n = msg["n"]
            arr, ref = ch.arena.array(np.float64, (n, 2))
            arr[:, 0] = np.arange(n)
            arr[:, 1] = -np.arange(n)
            ch.send({"kind": "result", "ref": ref})
        elif op == "stream":
            src = np.arange(msg["n"], dtype=np.float32)
            ch.send_arrays({"kind": "result"}, {"a": src, "b": src[::-1]}, chunk=1 << 16)
        elif op == "stream_and_die":
            src = np.arange(1 << 20, dtype=np.float32)
            arr, ref = ch.arena.stream_array(src.dtype, src.shape)
            ch.send({"kind": "result", "a": ref})
            arr[: 1 << 18] = src[: 1 << 18]
            ring_ops.store_u64(ch.arena.segment.array_view(), ref["progress"], arr.nbytes // 4)
            time.sleep(0.05)
            os._exit(5)  # killed mid-stream: a quarter published
        elif op == "draw":
            ch.drawlist.array_view()[:4] = [1, 2, 3, 4]
            ch.send({"kind": "result", "n": 4})
        elif op == "silent":
            pass  # never answers
        elif op == "die":
            os._exit(3)
    ch.close()


@pytest.fixture
def served() -> object:
    ch = Channel.create(
        "t", ring_capacity=1 << 14, arena_size=16 << 20, drawlist_size=1 << 16, kinds=["extra"]
    )
    a, b = socket.socketpair()
    proc = CTX.Process(target=_server, args=(b,))
    proc.start()
    send_with_fds(a, ch.child_spec(), ch.child_fds())
    ch.release_child_fds()
    ch.set_peer_pid(proc.pid)
    yield ch, proc
    if proc.is_alive():
        proc.kill()
    proc.join(10)
    ch.close()
    a.close()
    b.close()


@pytest.mark.subprocess
def test_request_response_arena_and_drawlist_with_a_real_child(
    served: tuple[Channel, mp.Process],
) -> None:
    ch, proc = served
    for i in range(200):
        reply = ch.request({"kind": "call", "op": "echo", "data": [i, "x" * (i % 7)]}, timeout=30)
        assert reply == {
            "kind": "result",
            "echo": [i, "x" * (i % 7)],
            "pid": proc.pid,
            "v": PROTOCOL_VERSION,
        }

    n = 1 << 19  # 8 MiB of float64 pairs
    reply = ch.request({"kind": "call", "op": "array", "n": n}, timeout=30)
    view = ch.arena.view(reply["ref"])
    assert view.shape == (n, 2) and view.dtype == np.float64
    assert view[-1, 0] == n - 1 and view[-1, 1] == -(n - 1)
    # zero copy: the view is the arena's own shared mapping
    base = ch.arena.segment.address
    assert base <= view.ctypes.data < base + ch.arena.segment.size
    assert not view.flags.writeable

    n = 3 << 18  # 3 MiB of float32 per array, streamed in 64 KiB chunks
    reply = ch.request({"kind": "call", "op": "stream", "n": n}, timeout=30)
    a = ch.copy_out(reply["a"], timeout=30)
    b = np.empty(n, np.float32)
    ch.copy_out(reply["b"], b, timeout=30)
    assert np.array_equal(a, np.arange(n, dtype=np.float32))
    assert np.array_equal(b, a[::-1])

    reply = ch.request({"kind": "call", "op": "draw"}, timeout=30)
    assert list(ch.drawlist.array_view()[: reply["n"]]) == [1, 2, 3, 4]

    assert ch.request({"kind": "shutdown"}, timeout=30)["kind"] == "bye"
    proc.join(30)
    assert proc.exitcode == 0


@pytest.mark.subprocess
def test_silent_child_times_out_and_dead_child_raises(served: tuple[Channel, mp.Process]) -> None:
    ch, proc = served
    with pytest.raises(ChannelTimeout):
        ch.request({"kind": "call", "op": "silent"}, timeout=0.2)
    ch.send({"kind": "call", "op": "die"})
    t0 = time.monotonic()
    with pytest.raises(PeerDiedError):
        ch.recv(timeout=20)
    assert time.monotonic() - t0 < 20
    proc.join(10)
    assert proc.exitcode == 3


@pytest.fixture
def pair() -> object:
    """Host and child ends of one channel in this process (fds duplicated)."""
    host = Channel.create(
        "p", ring_capacity=4096, arena_size=1 << 16, drawlist_size=4096, max_message=1024
    )
    child = Channel.attach(
        host.child_spec(), [os.dup(fd) for fd in host.child_fds()], watch_parent=False
    )
    yield host, child
    child.close()
    host.close()


def test_version_stamped_and_unknown_fields_ignored(pair: tuple[Channel, Channel]) -> None:
    host, child = pair
    host.send({"kind": "ping", "future_field": {"a": 1}})
    got = child.recv(timeout=1)
    assert (
        got["v"] == PROTOCOL_VERSION and got["kind"] == "ping" and got["future_field"] == {"a": 1}
    )
    assert child.try_recv() is None


@pytest.mark.parametrize(
    ("raw", "error", "match"),
    [
        (
            msgpack.packb({"v": PROTOCOL_VERSION + 1, "kind": "ping"}),
            ProtocolError,
            "protocol version 2",
        ),
        (msgpack.packb({"kind": "ping"}), ProtocolError, "protocol version None"),
        (
            msgpack.packb({"v": PROTOCOL_VERSION, "kind": "nonsense"}),
            ProtocolError,
            "unknown message kind 'nonsense'",
        ),
        (msgpack.packb([1, 2, 3]), ProtocolError, "must be a msgpack map"),
        (
            msgpack.packb({"v": PROTOCOL_VERSION, "kind": [1]}),
            ProtocolError,
            "unknown message kind",
        ),
        (b"\xc1\xff\x00garbage", FrameError, "garbage bytes"),
        (
            msgpack.packb({"v": PROTOCOL_VERSION, "kind": "ping", "x": "y" * 2000}),
            FrameError,
            "over the size limit",
        ),
    ],
)
def test_bad_messages_are_refused_with_named_reasons(
    pair: tuple[Channel, Channel], raw: bytes, error: type[Exception], match: str
) -> None:
    host, child = pair
    assert host.tx is not None
    host.tx.push(raw, timeout=0)
    with pytest.raises(error, match=match):
        child.recv(timeout=1)
    host.send({"kind": "ping"})  # the channel keeps working after a refused message
    assert child.recv(timeout=1)["kind"] == "ping"


def test_send_refuses_unknown_kind_and_oversize(pair: tuple[Channel, Channel]) -> None:
    host, _ = pair
    with pytest.raises(ProtocolError, match="not a known kind"):
        host.send({"kind": "whatever"})
    with pytest.raises(FrameError, match="over the size limit 1024"):
        host.send({"kind": "ping", "blob": b"x" * 2000})
    with pytest.raises(FrameError, match="cannot be encoded"):
        host.send({"kind": "ping", "obj": object()})


def test_extra_kinds_travel_in_the_spec() -> None:
    with Channel.create(
        "k", ring_capacity=1024, arena_size=4096, drawlist_size=4096, kinds=["tick"]
    ) as host:
        child = Channel.attach(
            host.child_spec(), [os.dup(fd) for fd in host.child_fds()], watch_parent=False
        )
        host.send({"kind": "tick", "n": 1})
        assert child.recv(timeout=1)["n"] == 1
        child.close()


def test_reset_recovers_from_a_corrupt_ring(pair: tuple[Channel, Channel]) -> None:
    host, child = pair
    assert host.tx is not None
    host.tx.segment.buf[128:136] = (12345).to_bytes(8, "little")  # corrupt published tail
    with pytest.raises(FrameError, match="corrupt index"):
        child.recv(timeout=1)
    host.reset()
    child.resync()
    host.send({"kind": "ping"})
    assert child.recv(timeout=1)["kind"] == "ping"
    child.send({"kind": "pong"})
    assert host.recv(timeout=1)["kind"] == "pong"


def test_attach_refuses_wrong_spec_and_close_is_idempotent() -> None:
    host = Channel.create("s", ring_capacity=1024, arena_size=4096, drawlist_size=4096)
    spec = host.child_spec()
    with pytest.raises(ProtocolError, match="protocol"):
        Channel.attach({**spec, "protocol": 99}, [os.dup(fd) for fd in host.child_fds()])
    with pytest.raises(ShmError, match="needs 6 fds"):
        Channel.attach(spec, [os.dup(host.child_fds()[0])])
    fds = [os.dup(fd) for fd in host.child_fds()]
    os.close(fds[4])
    fds[4] = os.dup(fds[0])  # a memfd where a doorbell socket belongs
    with pytest.raises(ShmError, match="is not a socket"):
        Channel.attach(spec, fds)
    with pytest.raises(ShmError, match="no ring of capacity 2048"):
        Channel.attach({**spec, "ring_capacity": 2048}, [os.dup(fd) for fd in host.child_fds()])
    host.close()
    host.close()
    assert host.closed
    with pytest.raises(ShmError, match="closed"):
        host.send({"kind": "ping"})


def test_child_of_a_vanished_host_refuses_to_attach() -> None:
    import subprocess
    import sys

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    with Channel.create("g", ring_capacity=1024, arena_size=4096, drawlist_size=4096) as host:
        spec = {**host.child_spec(), "host_pid": gone.pid}
        with pytest.raises(PeerDiedError, match="gone before attach"):
            Channel.attach(spec, [os.dup(fd) for fd in host.child_fds()])


@pytest.mark.subprocess
def test_child_death_shows_as_doorbell_eof_without_a_pidfd() -> None:
    ch = Channel.create("eof", ring_capacity=4096, arena_size=4096, drawlist_size=4096)
    a, b = socket.socketpair()
    proc = CTX.Process(target=_server, args=(b,))
    proc.start()
    send_with_fds(a, ch.child_spec(), ch.child_fds())
    ch.release_child_fds()
    with pytest.raises(ShmError, match="released"):
        ch.child_fds()
    assert ch.request({"kind": "call", "op": "echo", "data": 1}, timeout=30)["echo"] == 1
    ch.send({"kind": "call", "op": "die"})
    with pytest.raises(PeerDiedError):
        ch.recv(timeout=30)
    proc.join(10)
    ch.close()
    a.close()
    b.close()


MSGS = st.dictionaries(
    st.text(min_size=1, max_size=8).filter(lambda k: k not in ("v", "kind")),
    st.one_of(
        st.integers(-(2**63), 2**63 - 1),
        st.text(max_size=20),
        st.binary(max_size=20),
        st.lists(st.integers(0, 9), max_size=4),
        st.none(),
        st.booleans(),
    ),
    max_size=20,
)


@settings(max_examples=60, deadline=None)
@given(body=MSGS, kind=st.sampled_from(["ping", "call", "result"]))
def test_any_small_map_roundtrips_with_the_version_stamped(body: dict, kind: str) -> None:
    host = Channel.create("rt", ring_capacity=4096, arena_size=4096, drawlist_size=4096)
    child = Channel.attach(
        host.child_spec(), [os.dup(fd) for fd in host.child_fds()], watch_parent=False
    )
    try:
        msg = {"kind": kind, **body}
        host.send(msg)
        assert child.recv(timeout=1) == {**msg, "v": PROTOCOL_VERSION}
        data = protocol.encode(msg, kinds=host.kinds, max_size=4096)
        assert protocol.decode(data, kinds=host.kinds, max_size=4096) == {
            **msg,
            "v": PROTOCOL_VERSION,
        }
    finally:
        child.close()
        host.close()


def test_a_callers_own_v_is_replaced(pair: tuple[Channel, Channel]) -> None:
    host, child = pair
    host.send({"kind": "ping", "v": 99})
    assert child.recv(timeout=1)["v"] == PROTOCOL_VERSION
    stamped = {"v": PROTOCOL_VERSION, "kind": "call", **{f"k{i}": i for i in range(20)}}
    host.send(stamped)
    assert child.recv(timeout=1) == stamped


def test_python_path_matches_kernel_hot_path(pair: tuple[Channel, Channel]) -> None:
    host, child = pair
    for fast in (True, False):
        host._fast = child._fast = fast
        host.send({"kind": "call", "x": [1, 2]})
        assert child.recv(timeout=1) == {"kind": "call", "x": [1, 2], "v": PROTOCOL_VERSION}
        host.send({"kind": "call", **{f"k{i}": i for i in range(16)}})  # not a fixmap
        assert child.recv(timeout=1)["k15"] == 15
        with pytest.raises(ProtocolError, match="not a known kind"):
            host.send({"kind": "nope"})
        with pytest.raises(FrameError, match="over the size limit"):
            host.send({"kind": "ping", "blob": b"x" * 2000})
        assert host.tx is not None
        host.tx.push(b"\xc1junk", timeout=0)
        with pytest.raises(FrameError, match="garbage bytes"):
            child.recv(timeout=1)
        with pytest.raises(ChannelTimeout):
            child.recv(timeout=0.01)


def test_request_paths_in_one_process(pair: tuple[Channel, Channel]) -> None:
    host, child = pair
    for fast in (True, False):
        host._fast = child._fast = fast
        child.send({"kind": "pong", "n": 1})  # the answer is already waiting
        assert host.request({"kind": "ping"}, timeout=1) == {"kind": "pong", "n": 1, "v": 1}
        assert child.recv(timeout=1)["kind"] == "ping"
        assert child.tx is not None
        child.tx.push(b"\xc1junk", timeout=0)
        with pytest.raises(FrameError, match="garbage bytes"):
            host.request({"kind": "ping"}, timeout=1)
        with pytest.raises(ChannelTimeout):
            host.request({"kind": "ping"}, timeout=0.02)
        with pytest.raises(ProtocolError, match="not a known kind"):
            host.request({"kind": "nope"}, timeout=1)
        child.send({"kind": "pong"})
        big = {"kind": "call", "s": {1, 2}}  # a set: not msgpack at all
        with pytest.raises(FrameError, match="cannot be encoded"):
            host.request(big, timeout=1)
        while child.try_recv() is not None:
            pass
        assert host.try_recv() is not None
    host._fast = child._fast = True
    while host.tx is not None and host.tx.try_push(b"x" * 200):
        pass  # the request ring is full
    with pytest.raises(ChannelTimeout):
        host.request({"kind": "ping"}, timeout=0.02)


@pytest.mark.subprocess
def test_writer_dying_mid_stream_is_peer_death_not_a_hang(
    served: tuple[Channel, mp.Process],
) -> None:
    ch, proc = served
    reply = ch.request({"kind": "call", "op": "stream_and_die"}, timeout=30)
    with pytest.raises(PeerDiedError, match="writer died after 1048576 of 4194304 bytes"):
        ch.copy_out(reply["a"], timeout=30)
    proc.join(10)
    assert proc.exitcode == 5


@pytest.mark.subprocess
def test_spinning_channel_across_processes() -> None:
    ch = Channel.create(
        "spin", ring_capacity=4096, arena_size=1 << 16, drawlist_size=4096, spin_us=50
    )
    a, b = socket.socketpair()
    proc = CTX.Process(target=_server, args=(b,))
    proc.start()
    send_with_fds(a, ch.child_spec(), ch.child_fds())
    ch.release_child_fds()
    ch.set_peer_pid(proc.pid)
    for i in range(500):
        assert ch.request({"kind": "call", "op": "echo", "data": i}, timeout=30)["echo"] == i
    assert ch.request({"kind": "shutdown"}, timeout=30)["kind"] == "bye"
    proc.join(30)
    ch.close()
    a.close()
    b.close()
