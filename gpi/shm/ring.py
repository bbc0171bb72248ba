"""Single-producer single-consumer byte rings in shared memory.

A :class:`Ring` is one endpoint (producer or consumer, or both in one process)
of a ring of length-prefixed frames living in a region of a
:class:`~gpi.shm.segment.Segment`. The hot path is one call into the Cython
kernel per frame (:mod:`gpi.cython_ext.ring_ops`): copy, publish with a
release store and wake the peer only if it sleeps; or wait (short spin, then a
futex sleep with the GIL released), validate and copy out.

Region layout (bytes from ``offset``; see ``gpi/cython_ext/_ring.pyx``)::

    0    u32 magic 'GPIR' | u32 layout version | u64 capacity
    64   u64 head (consumer)          own cache line
    128  u64 tail (producer)          own cache line
    192  u32 data_seq  | u32 data_waiters    the consumer sleeps on data_seq (or a doorbell)
    256  u32 space_seq | u32 space_waiters   the producer sleeps on space_seq
    384  data: capacity bytes (power of two)

Frames: ``u32 length | u32 tag`` then the payload padded to 8 bytes; a frame
may wrap around the end of the data area (split copy), so the largest payload
is ``capacity - 8``. ``tag = FRAME_MAGIC ^ (index >> 3)``: garbage and stale
bytes fail the tag check. Every index read from the peer is validated, so a
corrupt or hostile peer produces :class:`~gpi.shm.errors.FrameError`, never an
out-of-bounds access.

Waiting: spin for ``spin_ns`` (5 us by default), then sleep with the GIL
released. A sleeper first stores its *waiter word* (1: asleep on the futex
``*_seq`` word; 2: asleep in ``recv`` on a doorbell socket, see
:meth:`Ring.use_doorbell`), re-checks the ring, then sleeps; a publisher makes
the wake-up syscall only if that word is set, so a busy exchange makes no
syscall at all. After a push that had to wake the peer, the paired receive
(:meth:`Ring.pair_with`) skips the spin: the peer needs a CPU before it can
answer.

Waiting sides can watch the peer (a pidfd, or the parent pid) and raise
:class:`~gpi.shm.errors.PeerDiedError` within ~20 ms of its death (at once on
doorbell EOF); a producer killed before publishing leaves nothing visible.
"""

from __future__ import annotations

import os
import socket
import struct
from typing import Any

from gpi.cython_ext import ring_ops
from gpi.cython_ext.ring_ops import HEADER_SIZE, RingCore, frame_size
from gpi.shm.errors import ChannelTimeout, FrameError, PeerDiedError, ShmError
from gpi.shm.segment import Segment

__all__ = ["HEADER_SIZE", "Ring", "frame_size", "ring_region_size"]

# Blocking calls go back to Python at least this often so signals (Ctrl-C) are handled.
_CHUNK_NS = 250_000_000
# Spinning pays only when the peer answers within the spin, and on a busy two-core
# machine it steals the CPU the peer needs (measured in benchmarks/transport_bench.py):
# rings spin briefly by default; Channel (Python peers, >2 us per answer) does not.
DEFAULT_SPIN_NS = 5_000
DEFAULT_YIELD_NS = 0
# A sleeping consumer wakes at least this often (struct timeval) to check its peer.
_BELL_TIMEOUT = struct.pack("ll", 0, 20_000)


def ring_region_size(capacity: int) -> int:
    """Bytes a ring of ``capacity`` data bytes needs in a segment (header included)."""
    return HEADER_SIZE + capacity


class Ring:
    """One endpoint of an SPSC ring in ``segment`` at ``offset`` (64-byte aligned)."""

    _core: Any = None
    name: str = ""
    capacity: int = 0

    def __init__(
        self, segment: Segment, offset: int = 0, capacity: int = 0, *, create: bool, name: str = ""
    ) -> None:
        """Bind to a ring region; ``create=True`` writes a fresh header. Prefer :meth:`create`/:meth:`attach`."""
        self.name = name or segment.name
        self.segment = segment
        try:
            self._core = RingCore(segment.array_view(), offset, capacity, create)
        except ValueError as exc:
            raise ShmError(f"ring {self.name!r}: {exc}") from exc
        self.capacity = int(capacity)
        if not create:
            magic, version, cap = self._core.header()
            if magic != ring_ops.RING_MAGIC or cap != capacity:
                self.close()
                raise ShmError(
                    f"ring {self.name!r}: no ring of capacity {capacity} at offset {offset} "
                    f"(found magic {magic:#x}, version {version}, capacity {cap}); "
                    "check the spec passed to attach()"
                )
        self._core.spin_ns = DEFAULT_SPIN_NS
        self._core.yield_ns = DEFAULT_YIELD_NS

    @classmethod
    def create(
        cls, segment: Segment, offset: int = 0, capacity: int | None = None, name: str = ""
    ) -> Ring:
        """Initialise a new ring; ``capacity`` defaults to the largest power of two that fits."""
        if capacity is None:
            room = segment.size - offset - HEADER_SIZE
            if room < 64:
                raise ShmError(f"ring {name!r}: segment of {segment.size} bytes is too small")
            capacity = 1 << (room.bit_length() - 1)
        return cls(segment, offset, capacity, create=True, name=name)

    @classmethod
    def attach(cls, segment: Segment, offset: int, capacity: int, name: str = "") -> Ring:
        """Bind to a ring another process created (its header must match ``capacity``)."""
        return cls(segment, offset, capacity, create=False, name=name)

    # -- peer watching --------------------------------------------------------------

    def watch(self, *, pidfd: int = -1, ppid: int = 0) -> None:
        """While waiting, fail with PeerDiedError if ``pidfd`` becomes readable or our parent changes from ``ppid``."""
        self._k().pidfd = pidfd
        self._k().ppid = ppid

    def use_doorbell(self, *, read_fd: int = -1, write_fd: int = -1) -> None:
        """Sleep/wake through a Unix socketpair instead of the futex (both ends must agree).

        The consumer passes its end as ``read_fd``: it sleeps in a blocking
        ``recv`` on it (one syscall both waits and drains; EOF means the peer
        is gone). The producer passes the other end as ``write_fd`` and sends
        one byte when, and only when, the consumer announced it sleeps. Socket
        (and pipe) wake-ups are "synchronous" for the scheduler, which runs the
        woken peer on the waker's CPU when the waker is about to sleep: on a
        busy machine that is several times faster than a futex or eventfd
        wake-up. The fds stay owned by the caller.
        """
        if read_fd >= 0:
            sock = socket.socket(fileno=os.dup(read_fd))
            try:
                sock.setblocking(True)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _BELL_TIMEOUT)
            finally:
                sock.close()
        if write_fd >= 0:
            os.set_blocking(write_fd, False)
        core = self._k()
        core.bell_r = read_fd
        core.bell_w = write_fd

    def pair_with(self, tx: Ring) -> None:
        """Declare ``tx`` as the ring this process sends requests on: waits here skip the
        spin when that send had to wake the peer (it needs our CPU more than we need to spin)."""
        self._k().partner = tx._k()

    @property
    def spin_ns(self) -> int:
        """How long a waiting call spins before it sleeps on the futex."""
        return int(self._k().spin_ns)

    @spin_ns.setter
    def spin_ns(self, value: int) -> None:
        self._k().spin_ns = int(value)

    @property
    def max_payload(self) -> int:
        """Largest payload one frame can carry."""
        return self.capacity - 8

    # -- producer -------------------------------------------------------------------

    def try_push(self, data: bytes) -> bool:
        """Publish one frame if there is room; False if the ring is full."""
        rc = self._k().try_push(data if type(data) is bytes else bytes(data))
        if rc == 1:
            return True
        if rc == 0:
            return False
        raise self._error(rc, len(data), None)

    def push(self, data: bytes, timeout: float | None = None) -> None:
        """Publish one frame, waiting up to ``timeout`` seconds (None: forever) for room."""
        core = self._core
        if core is None:
            raise ShmError(f"ring {self.name!r} is closed")
        if type(data) is not bytes:
            data = bytes(data)
        rc = core.push(data, _CHUNK_NS if timeout is None else chunk_ns(timeout))
        if rc != 1:
            self.finish_push(rc, data, timeout)

    def finish_push(self, status: int, data: bytes, timeout: float | None) -> None:
        """Continue a kernel ``push`` of ``data`` that returned ``status`` (keep waiting, or raise)."""
        core = self._k()
        if status == ring_ops.TIMEOUT and _more(timeout):
            status = self._slow(lambda t: core.push(data, t), _rest(timeout))
            if status == 1:
                return
        raise self._error(status, len(data), timeout)

    # -- consumer -------------------------------------------------------------------

    def try_pop(self) -> bytes | None:
        """The next frame's payload, or None if the ring is empty."""
        out = self._k().try_pop()
        if out is None or type(out) is bytes:
            return out
        raise self._error(out, 0, None)

    def pop(self, timeout: float | None = None) -> bytes:
        """The next frame's payload, waiting up to ``timeout`` seconds (None: forever)."""
        core = self._core
        if core is None:
            raise ShmError(f"ring {self.name!r} is closed")
        out = core.pop(_CHUNK_NS if timeout is None else chunk_ns(timeout))
        if type(out) is bytes:
            return out
        return self.finish_pop(out, timeout)

    def finish_pop(self, status: int, timeout: float | None) -> bytes:
        """Continue a kernel ``pop`` that returned ``status`` (keep waiting, or raise)."""
        core = self._k()
        if status == ring_ops.TIMEOUT and _more(timeout):
            out = self._slow(core.pop, _rest(timeout))
            if type(out) is bytes:
                return out
            status = out
        raise self._error(status, 0, timeout)

    def __len__(self) -> int:
        """Bytes currently published and not yet consumed (frame headers included)."""
        head, tail = self._k().shared_indices()
        return int(tail - head) & ((1 << 64) - 1)

    # -- recovery and lifetime -------------------------------------------------------

    def reset(self) -> None:
        """Empty the ring (both indices to 0) and wake sleepers; the peer endpoint must :meth:`resync`."""
        self._k().reset()

    def resync(self) -> None:
        """Adopt the indices in shared memory (after the other endpoint called :meth:`reset`)."""
        self._k().resync()

    @property
    def closed(self) -> bool:
        return self._core is None

    def close(self) -> None:
        """Release the mapping reference (the segment is not closed). Safe twice.

        Not while another thread of this process waits on the ring: an endpoint
        belongs to one thread at a time (single producer, single consumer).
        """
        core, self._core = self._core, None
        if core is not None:
            core.close()

    def __enter__(self) -> Ring:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        if self._core is None:
            return f"<Ring {self.name!r} closed>"
        head, tail = self._core.shared_indices()
        return f"<Ring {self.name!r} capacity={self.capacity} head={head} tail={tail}>"

    # -- internals -------------------------------------------------------------------

    def _k(self) -> Any:
        core = self._core
        if core is None:
            raise ShmError(f"ring {self.name!r} is closed")
        return core

    def _slow(self, call: Any, timeout: float | None) -> Any:
        """Keep waiting in chunks (signals run in between) until done or the deadline."""
        import time

        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if deadline is None:
                left = _CHUNK_NS
            else:
                left = min(_CHUNK_NS, int((deadline - time.monotonic()) * 1e9))
                if left <= 0:
                    return ring_ops.TIMEOUT
            out = call(left)
            if out != ring_ops.TIMEOUT:
                return out

    def _error(self, rc: int, nbytes: int, timeout: float | None) -> Exception:
        where = f"ring {self.name!r}"
        core = self._core
        if rc == ring_ops.TIMEOUT:
            return ChannelTimeout(f"{where}: nothing happened within {timeout} s")
        if rc == ring_ops.PEER_DIED:
            return PeerDiedError(
                f"{where}: the peer process exited (or closed its end) while we waited on it"
            )
        if rc == ring_ops.E_TOOBIG:
            return FrameError(
                f"{where}: a frame of {nbytes} bytes does not fit (capacity {self.capacity}, "
                f"max payload {self.max_payload}); send big arrays through the arena"
            )
        head, tail = core.shared_indices() if core is not None else (0, 0)
        state = f"head={head} tail={tail} capacity={self.capacity}"
        fix = "; call reset() on both ends to recover"
        if rc == ring_ops.E_INDEX:
            return FrameError(
                f"{where}: corrupt index ({state}): more than a ring's worth in flight{fix}"
            )
        length, tag = core.frame_header() if core is not None else (0, 0)
        if rc == ring_ops.E_MAGIC:
            return FrameError(
                f"{where}: garbage bytes at index {core.head}: frame tag {tag:#010x} is not a frame "
                f"header ({state}){fix}"
            )
        if rc == ring_ops.E_LENGTH:
            return FrameError(
                f"{where}: frame length {length} at index {core.head} is past the ring capacity "
                f"{self.capacity} ({state}){fix}"
            )
        if rc == ring_ops.E_TRUNC:
            return FrameError(
                f"{where}: truncated frame at index {core.head}: header says {length} bytes "
                f"({frame_size(length)} with header) but only {tail - core.head} were published{fix}"
            )
        return ShmError(f"{where}: unexpected ring status {rc}")


def chunk_ns(timeout: float | None) -> int:
    """The first kernel wait for ``timeout`` seconds (None: forever), capped so signals run."""
    if timeout is None:
        return _CHUNK_NS
    return max(0, min(_CHUNK_NS, int(timeout * 1e9)))


def _more(timeout: float | None) -> bool:
    """Whether a timeout longer than one chunk leaves time after the first call."""
    return timeout is None or timeout * 1e9 > _CHUNK_NS


def _rest(timeout: float | None) -> float | None:
    return None if timeout is None else timeout - _CHUNK_NS / 1e9
