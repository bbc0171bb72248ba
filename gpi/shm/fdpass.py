"""Passing file descriptors between processes over a Unix socketpair (SCM_RIGHTS).

A message is one ``sendmsg``: a msgpack payload plus up to :data:`MAX_FDS`
descriptors. The receiver owns the fds it gets and must close them (or hand them
to a :class:`~gpi.shm.segment.Segment`, which does).
"""

from __future__ import annotations

import socket
from typing import Any

import msgpack

from gpi.shm.errors import SegmentError

__all__ = ["MAX_FDS", "MAX_PAYLOAD", "recv_with_fds", "send_with_fds"]

MAX_FDS = 250  # SCM_MAX_FD is 253 on Linux
MAX_PAYLOAD = 1 << 20


def send_with_fds(sock: socket.socket, obj: Any, fds: list[int] | tuple[int, ...] = ()) -> None:
    """Send a msgpack-able object and descriptors in one message."""
    if len(fds) > MAX_FDS:
        raise SegmentError(f"cannot pass {len(fds)} fds in one message (max {MAX_FDS})")
    data = msgpack.packb(obj, use_bin_type=True)
    if len(data) > MAX_PAYLOAD:
        raise SegmentError(f"fd-pass payload of {len(data)} bytes exceeds {MAX_PAYLOAD}")
    socket.send_fds(sock, [data], list(fds))


def recv_with_fds(sock: socket.socket, maxfds: int = MAX_FDS) -> tuple[Any, list[int]]:
    """Receive one message; raises :class:`SegmentError` on EOF or a truncated message."""
    # Peek at the datagram's length first (MSG_TRUNC makes recv return the whole length of
    # a SOCK_SEQPACKET message), so the receive allocates what the message needs, not a
    # MAX_PAYLOAD buffer per message. Other socket types fall back to the full buffer.
    size = MAX_PAYLOAD
    if sock.type == socket.SOCK_SEQPACKET:
        size = min(max(sock.recv_into(bytearray(1), 1, socket.MSG_PEEK | socket.MSG_TRUNC), 1), MAX_PAYLOAD)
    data, fds, flags, _ = socket.recv_fds(sock, size, maxfds)
    if not data:
        for fd in fds:
            _close_quietly(fd)
        raise SegmentError("peer closed the fd-passing socket")
    if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
        for fd in fds:
            _close_quietly(fd)
        raise SegmentError("fd-passing message was truncated")
    return msgpack.unpackb(data, raw=False), list(fds)


def _close_quietly(fd: int) -> None:
    import os

    try:
        os.close(fd)
    except OSError:
        pass
