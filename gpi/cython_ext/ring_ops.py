"""SPSC ring endpoint: the Cython kernel, with a pure-Python reference of the same interface.

``RingCore(buf, offset, capacity, init)`` is one endpoint of a single-producer
single-consumer byte ring living in ``buf`` (any writable buffer, usually a
shared-memory mapping) at ``offset``. The byte layout and the frame format are
documented in ``_ring.pyx``; both implementations write identical bytes.

The compiled kernel (:mod:`gpi.cython_ext._ring`) is chosen once at import
(:mod:`gpi.cython_ext.backend`); when it is not built or ``GPI_PURE_PYTHON=1``,
:class:`RingCoreReference` takes its place (same bytes,
plain loads and stores, sleeps by polling: correct within one process and
between processes on x86's strong memory order, but slow; it never makes the
futex syscall, so a compiled peer asleep on the futex notices its frames
within one 20 ms sleep slice). ``BACKEND`` says which one is in use.

The compiled kernel also has ``send_msg``/``recv_msg``, the channel's hot
paths (check, pack, stamp and push / pop, unpack and check in one call); the
channel falls back to plain ``push``/``pop`` when they are missing.

The same module carries the *progress cell* helpers used by streamed arena
writes (16 bytes: ``u64 value | u32 seq | u32 waiters``): ``store_u64``
(release store, futex wake only if the reader sleeps), ``load_u64`` (acquire)
and ``wait_u64`` (spin, then sleep on the futex, watching the peer).

Methods return status codes rather than raising, so the caller
(:mod:`gpi.shm.ring`) can add context: ``try_push``/``push`` return 1 when the
frame was published, 0 when full (``try_push`` only) or a negative code;
``try_pop``/``pop`` return the frame's ``bytes``, ``None`` when empty
(``try_pop`` only) or a negative code.
"""

from __future__ import annotations

import os
import select
import struct
import time
from typing import Any

from gpi.cython_ext.backend import load_kernel

__all__ = [
    "BACKEND",
    "CODE_NAMES",
    "E_INDEX",
    "E_LENGTH",
    "E_MAGIC",
    "E_TOOBIG",
    "E_TRUNC",
    "EMPTY",
    "FRAME_MAGIC",
    "HEADER_SIZE",
    "KERNEL",
    "PEER_DIED",
    "PROGRESS_CELL",
    "RING_MAGIC",
    "RingCore",
    "RingCoreReference",
    "TIMEOUT",
    "frame_size",
    "load_u64",
    "load_u64_reference",
    "store_u64",
    "store_u64_reference",
    "wait_u64",
    "wait_u64_reference",
]

HEADER_SIZE = 384
OFF_HEAD = 64
OFF_TAIL = 128
OFF_DSEQ = 192
OFF_SSEQ = 256
RING_MAGIC = 0x52495047  # 'GPIR'
FRAME_MAGIC = 0x46495047  # 'GPIF'
LAYOUT_VERSION = 1

EMPTY = -1
TIMEOUT = -2
PEER_DIED = -3
E_INDEX = -4
E_MAGIC = -5
E_LENGTH = -6
E_TRUNC = -7
E_TOOBIG = -8

CODE_NAMES = {
    EMPTY: "empty",
    TIMEOUT: "timeout",
    PEER_DIED: "peer died",
    E_INDEX: "corrupt index",
    E_MAGIC: "bad frame tag",
    E_LENGTH: "length past ring capacity",
    E_TRUNC: "truncated frame",
    E_TOOBIG: "frame larger than the ring",
}

_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_HDR = struct.Struct("<II")
_M32 = 0xFFFFFFFF


def frame_size(nbytes: int) -> int:
    """Bytes a payload of ``nbytes`` occupies in the ring: 8-byte header plus payload padded to 8."""
    return ((nbytes + 7) & ~7) + 8


def _peer_dead(pidfd: int, ppid: int) -> bool:
    if pidfd >= 0 and select.select([pidfd], [], [], 0)[0]:
        return True
    return ppid > 0 and os.getppid() != ppid


class RingCoreReference:
    """Pure-Python ring endpoint writing the same bytes as the Cython kernel."""

    def __init__(self, buf: Any, offset: int, capacity: int, init: bool) -> None:
        """Bind to ``buf[offset:]``; ``init`` writes a fresh header (creator only)."""
        view = memoryview(buf).cast("B")
        if view.readonly:
            raise ValueError("ring buffer must be writable")
        if capacity < 64 or capacity & (capacity - 1):
            raise ValueError(f"ring capacity must be a power of two >= 64, got {capacity}")
        if offset < 0 or offset % 64 or len(view) - offset < HEADER_SIZE + capacity:
            raise ValueError(
                f"ring of capacity {capacity} at offset {offset} does not fit in {len(view)} bytes"
            )
        self._mv: memoryview | None = view[offset : offset + HEADER_SIZE + capacity]
        self.capacity = capacity
        self.pidfd = -1
        self.ppid = 0
        self.spin_ns = 20000
        self.yield_ns = 0
        self.bell_r = -1
        self.bell_w = -1
        self.last_woke = 0
        self.partner: Any = None
        if init:
            self._mv[:HEADER_SIZE] = bytes(HEADER_SIZE)
            _U32.pack_into(self._mv, 4, LAYOUT_VERSION)
            _U64.pack_into(self._mv, 8, capacity)
            _U32.pack_into(self._mv, 0, RING_MAGIC)
        self.head, self.tail = self.shared_indices()

    def _m(self) -> memoryview:
        if self._mv is None:
            raise ValueError("ring endpoint is closed")
        return self._mv

    def header(self) -> tuple[int, int, int]:
        """(magic, layout version, capacity) as stored in shared memory."""
        m = self._m()
        return _U32.unpack_from(m, 0)[0], _U32.unpack_from(m, 4)[0], _U64.unpack_from(m, 8)[0]

    def shared_indices(self) -> tuple[int, int]:
        """(head, tail) as currently published in shared memory."""
        m = self._m()
        return _U64.unpack_from(m, OFF_HEAD)[0], _U64.unpack_from(m, OFF_TAIL)[0]

    def frame_header(self) -> tuple[int, int]:
        """(length, tag) of the 8 bytes at this endpoint's head."""
        return _HDR.unpack_from(self._m(), HEADER_SIZE + (self.head & (self.capacity - 1)))  # type: ignore[return-value]

    def _copy_in(self, index: int, data: bytes) -> None:
        m, cap = self._m(), self.capacity
        pos = index & (cap - 1)
        first = min(len(data), cap - pos)
        m[HEADER_SIZE + pos : HEADER_SIZE + pos + first] = data[:first]
        if first < len(data):
            m[HEADER_SIZE : HEADER_SIZE + len(data) - first] = data[first:]

    def _copy_out(self, index: int, n: int) -> bytes:
        m, cap = self._m(), self.capacity
        pos = index & (cap - 1)
        first = min(n, cap - pos)
        out = bytes(m[HEADER_SIZE + pos : HEADER_SIZE + pos + first])
        if first < n:
            out += bytes(m[HEADER_SIZE : HEADER_SIZE + n - first])
        return out

    def _kick(self, off: int) -> None:
        m = self._m()
        _U32.pack_into(m, off, (_U32.unpack_from(m, off)[0] + 1) & _M32)

    def try_push(self, data: bytes) -> int:
        """1 if published, 0 if full, else a negative code."""
        m, cap, n = self._m(), self.capacity, len(data)
        need = frame_size(n)
        if need > cap or n > _M32:
            return E_TOOBIG
        used = (self.tail - _U64.unpack_from(m, OFF_HEAD)[0]) & ((1 << 64) - 1)
        if used > cap:
            return E_INDEX
        if used + need > cap:
            return 0
        t = self.tail
        _HDR.pack_into(m, HEADER_SIZE + (t & (cap - 1)), n, FRAME_MAGIC ^ ((t >> 3) & _M32))
        self._copy_in(t + 8, data)
        self.tail = t + need
        _U64.pack_into(m, OFF_TAIL, self.tail)
        self._kick(OFF_DSEQ)
        self.last_woke = 0
        if self.bell_w >= 0 and _U32.unpack_from(m, OFF_DSEQ + 4)[0] == 2:
            self.last_woke = 1
            try:
                os.write(self.bell_w, b"\x01")
            except BlockingIOError:
                pass  # a full pipe wakes the reader anyway
        return 1

    def _peek(self) -> int:
        m, cap, head = self._m(), self.capacity, self.head
        tail = _U64.unpack_from(m, OFF_TAIL)[0]
        if tail == head:
            return EMPTY
        used = (tail - head) & ((1 << 64) - 1)
        if used > cap or used & 7:
            return E_INDEX
        if used < 8:
            return E_TRUNC
        n, tag = self.frame_header()
        if tag != FRAME_MAGIC ^ ((head >> 3) & _M32):
            return E_MAGIC
        if n + 8 > cap:
            return E_LENGTH
        if frame_size(n) > used:
            return E_TRUNC
        return int(n)

    def try_pop(self) -> bytes | int | None:
        """The next frame's bytes, None if empty, or a negative code."""
        n = self._peek()
        if n == EMPTY:
            return None
        if n < 0:
            return n
        out = self._copy_out(self.head + 8, n)
        self.head += frame_size(n)
        _U64.pack_into(self._m(), OFF_HEAD, self.head)
        self._kick(OFF_SSEQ)
        return out

    def _wait(self, ready: Any, timeout_ns: int) -> int:
        deadline = None if timeout_ns < 0 else time.monotonic_ns() + timeout_ns
        while True:
            if ready():
                return 0
            if _peer_dead(self.pidfd, self.ppid):
                return 0 if ready() else PEER_DIED
            if deadline is not None and time.monotonic_ns() >= deadline:
                return TIMEOUT
            time.sleep(0.0002)

    def push(self, data: bytes, timeout_ns: int) -> int:
        """Publish one frame, waiting for space up to ``timeout_ns`` (< 0: forever)."""
        need = frame_size(len(data))

        def ready() -> bool:
            used = (self.tail - _U64.unpack_from(self._m(), OFF_HEAD)[0]) & ((1 << 64) - 1)
            return used > self.capacity or used + need <= self.capacity

        while True:
            rc = self.try_push(data)
            if rc != 0:
                return rc
            rc = self._wait(ready, timeout_ns)
            if rc:
                return rc

    def pop(self, timeout_ns: int) -> bytes | int:
        """The next frame's bytes, waiting up to ``timeout_ns`` (< 0: forever), or a negative code."""
        out = self.try_pop()
        if out is not None:
            return out
        rc = self._wait(lambda: _U64.unpack_from(self._m(), OFF_TAIL)[0] != self.head, timeout_ns)
        if rc:
            return rc
        out = self.try_pop()
        return EMPTY if out is None else out

    def reset(self) -> None:
        """Zero both indices here and in shared memory (the peer must reset too)."""
        if self._mv is None:
            return
        self.head = self.tail = 0
        _U64.pack_into(self._mv, OFF_HEAD, 0)
        _U64.pack_into(self._mv, OFF_TAIL, 0)
        self._kick(OFF_DSEQ)
        self._kick(OFF_SSEQ)

    def resync(self) -> None:
        """Re-read both indices from shared memory."""
        if self._mv is not None:
            self.head, self.tail = self.shared_indices()

    def close(self) -> None:
        """Release the buffer; later calls raise ValueError."""
        mv, self._mv = self._mv, None
        if mv is not None:
            mv.release()


# -- progress words (streamed arena writes) ---------------------------------------------


PROGRESS_CELL = 16  # u64 value | u32 seq | u32 waiters


def _word(buf: Any, offset: int) -> memoryview:
    mv = memoryview(buf).cast("B")
    if offset < 0 or offset % 8 or offset + PROGRESS_CELL > len(mv):
        raise ValueError(
            f"progress cell at offset {offset} is outside or misaligned in {len(mv)} bytes"
        )
    return mv


def store_u64_reference(buf: Any, offset: int, value: int) -> None:
    """Store ``value`` into the cell at ``offset`` and bump its seq word (plain stores)."""
    mv = _word(buf, offset)
    _U64.pack_into(mv, offset, value)
    _U32.pack_into(mv, offset + 8, (_U32.unpack_from(mv, offset + 8)[0] + 1) & _M32)


def load_u64_reference(buf: Any, offset: int) -> int:
    """Load the 8-byte word at ``offset`` (plain load)."""
    return int(_U64.unpack_from(_word(buf, offset), offset)[0])


def wait_u64_reference(
    buf: Any,
    offset: int,
    target: int,
    timeout_ns: int,
    spin_ns: int = 20000,
    pidfd: int = -1,
    ppid: int = 0,
) -> tuple[int, int]:
    """Wait until the word at ``offset`` is >= ``target``: (status code, last value seen)."""
    deadline = None if timeout_ns < 0 else time.monotonic_ns() + timeout_ns
    while True:
        v = load_u64_reference(buf, offset)
        if v >= target:
            return 0, v
        if _peer_dead(pidfd, ppid):
            v = load_u64_reference(buf, offset)
            return (0 if v >= target else PEER_DIED), v
        if deadline is not None and time.monotonic_ns() >= deadline:
            return TIMEOUT, v
        time.sleep(0.00002)


# The compiled extension in use (None: the pure-Python reference runs).
KERNEL = load_kernel("_ring")
if KERNEL is not None:
    RingCore: Any = KERNEL.RingCore
    store_u64: Any = KERNEL.store_u64
    load_u64: Any = KERNEL.load_u64
    wait_u64: Any = KERNEL.wait_u64
    BACKEND = "cython"
else:  # not built, or GPI_PURE_PYTHON=1: same bytes, slower
    RingCore = RingCoreReference
    store_u64 = store_u64_reference
    load_u64 = load_u64_reference
    wait_u64 = wait_u64_reference
    BACKEND = "python"
