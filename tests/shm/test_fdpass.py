"""fd passing: payloads of any size up to the limit arrive whole, with their fds, on real sockets."""

from __future__ import annotations

import os
import socket

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpi.shm import SegmentError, recv_with_fds, send_with_fds
from gpi.shm.fdpass import MAX_PAYLOAD


@settings(max_examples=25, deadline=None)
@given(st.binary(max_size=200_000), st.integers(0, 3))
def test_messages_of_any_size_arrive_whole_with_their_fds(blob: bytes, nfds: int) -> None:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    r, w = os.pipe()
    try:
        send_with_fds(a, {"blob": blob}, [r] * nfds)
        send_with_fds(a, {"next": 1})  # the peeked size is per message, not per stream
        msg, fds = recv_with_fds(b)
        assert msg == {"blob": blob}
        assert len(fds) == nfds
        for fd in fds:
            assert os.fstat(fd).st_ino == os.fstat(r).st_ino
            os.close(fd)
        assert recv_with_fds(b) == ({"next": 1}, [])
    finally:
        for fd in (r, w):
            os.close(fd)
        a.close()
        b.close()


def test_a_stream_socket_still_works_and_eof_is_an_error() -> None:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with a, b:
        send_with_fds(a, [1, "two"])
        assert recv_with_fds(b) == ([1, "two"], [])
    c, d = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with d:
        c.close()
        with pytest.raises(SegmentError, match="closed"):
            recv_with_fds(d)


def test_an_oversized_payload_is_refused_before_sending() -> None:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with a, b:
        with pytest.raises(SegmentError, match="exceeds"):
            send_with_fds(a, b"x" * (MAX_PAYLOAD + 1))
