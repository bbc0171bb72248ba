"""Request/response channel between the host and one child process.

A :class:`Channel` bundles four memfd segments, all created by the host and
sealed against resizing (the child may map them read-write), and two doorbell
sockets (Unix socketpairs)::

    fds[0]  request ring   host -> child   (Ring at offset 0)
    fds[1]  response ring  child -> host   (Ring at offset 0)
    fds[2]  output arena   child writes big arrays, host views them (Arena)
    fds[3]  draw-list      child writes draw commands, host reads (Segment)
    fds[4]  request doorbell, child's end    (the child sleeps on it)
    fds[5]  response doorbell, child's end   (the child wakes the host with it)

The rings carry the data; the doorbells only wake a peer that announced it is
asleep (a waiter word in the ring header), so a busy round trip makes no
syscall at all, and a sleeping one costs one ``send`` and one ``recv``: socket
wake-ups let the scheduler hand the CPU straight to the woken peer, unlike
futex or eventfd wake-ups, which matters on a busy two-core machine. Once the
child has its fds, the host calls :meth:`release_child_fds`; then the death of
either side is also seen at once as EOF on the other's doorbell.

The host calls :meth:`Channel.create`, passes :meth:`child_spec` and
:meth:`child_fds` to the child (``gpi.shm.send_with_fds``), and tells the
channel the child's pid (:meth:`set_peer_pid`, a pidfd is polled while
waiting). The child calls :meth:`Channel.attach` and, by default, watches its
host (pidfd of the host pid, or a change of parent pid). A waiting side whose
peer dies gets :class:`~gpi.shm.errors.PeerDiedError` within ~20 ms.

Messages are msgpack maps with ``"v"`` and ``"kind"`` (:mod:`gpi.shm.protocol`),
one per ring frame, at most ``max_message`` bytes.
"""

from __future__ import annotations

import os
import socket
import stat
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import msgpack
import numpy as np

from gpi.shm import protocol
from gpi.shm.arena import STREAM_CHUNK, Arena
from gpi.shm.errors import PeerDiedError, ShmError
from gpi.shm.protocol import PROTOCOL_VERSION
from gpi.shm.ring import Ring, chunk_ns, ring_region_size
from gpi.shm.segment import PAGE_SIZE, Segment, align_up

__all__ = ["Channel"]

_SEGMENTS = ("request", "response", "arena", "drawlist")
_BELLS = ("request_bell", "response_bell")
_FOREVER = chunk_ns(None)
_unpackb = msgpack.unpackb


class Channel:
    """Two rings, an output arena and a draw-list buffer shared with one peer."""

    # Class-level defaults so close() works after a failed construction.
    _segments: list[Segment] = []
    _bells: list[int] = []
    _pidfd: int = -1
    tx: Ring | None = None
    rx: Ring | None = None
    _txc: Any = None
    _rxc: Any = None
    _fast = False
    arena: Arena
    drawlist: Segment

    def __init__(
        self,
        segments: Sequence[Segment],
        bells: Sequence[int],
        spec: Mapping[str, Any],
        *,
        host: bool,
    ) -> None:
        """Wire up rings, doorbells and arena. Prefer :meth:`create`/:meth:`attach`.

        ``segments`` and ``bells`` belong to the channel from here on, even if this
        raises. ``bells``: on the host the four socket ends (request child/host,
        response host/child); on the child its two (request, response).
        """
        self._segments = list(segments)
        self._bells = list(bells)
        try:
            self._wire(spec, host)
        except BaseException:
            self.close()
            raise

    def _wire(self, spec: Mapping[str, Any], host: bool) -> None:
        self.spec = dict(spec)
        self.name = str(spec["name"])
        self.is_host = host
        self.kinds = protocol.make_kinds(spec.get("kinds", ()))
        self.max_message = int(spec["max_message"])
        self._pack = protocol.new_packer()
        cap = int(spec["ring_capacity"])
        req, resp, arena, draw = self._segments
        if host:
            self.tx = Ring.create(req, 0, cap, name=f"{self.name}/request")
            self.rx = Ring.create(resp, 0, cap, name=f"{self.name}/response")
            _, req_w, resp_r, _ = self._bells
            self.tx.use_doorbell(write_fd=req_w)
            self.rx.use_doorbell(read_fd=resp_r)
        else:
            self.rx = Ring.attach(req, 0, cap, name=f"{self.name}/request")
            self.tx = Ring.attach(resp, 0, cap, name=f"{self.name}/response")
            req_r, resp_w = self._bells
            self.rx.use_doorbell(read_fd=req_r)
            self.tx.use_doorbell(write_fd=resp_w)
        self.rx.pair_with(self.tx)
        spin = int(float(spec.get("spin_us", 0.0)) * 1000)
        self.tx.spin_ns = self.rx.spin_ns = spin
        self._txc = self.tx._core
        self._rxc = self.rx._core
        self._fast = hasattr(self._txc, "send_msg")  # the compiled kernel has the hot paths
        self.arena = Arena(arena, 0, int(spec["arena_size"]))
        self.drawlist = draw
        if self.max_message > self.tx.max_payload:
            raise ShmError(
                f"channel {self.name!r}: max_message {self.max_message} exceeds the ring's "
                f"max payload {self.tx.max_payload}; raise ring_capacity"
            )

    # -- construction ---------------------------------------------------------------

    @classmethod
    def create(
        cls,
        name: str = "channel",
        *,
        ring_capacity: int = 1 << 20,
        arena_size: int = 16 << 20,
        drawlist_size: int = 1 << 20,
        max_message: int | None = None,
        kinds: Iterable[str] | None = None,
        spin_us: float = 0.0,
    ) -> Channel:
        """Host side: allocate and seal the four segments (peer writes allowed) and the doorbells.

        ``spin_us``: how long a waiting side spins before it sleeps (both sides).
        0 by default: a Python peer needs more than 2 us to answer, and on a
        busy machine spinning holds the CPU the peer needs; raise it only when
        both processes own a core.
        """
        if ring_capacity < 64 or ring_capacity & (ring_capacity - 1):
            raise ShmError(f"channel {name!r}: ring_capacity must be a power of two >= 64")
        spec = {
            "protocol": protocol.PROTOCOL_VERSION,
            "name": name,
            "ring_capacity": int(ring_capacity),
            "arena_size": int(arena_size),
            "drawlist_size": int(drawlist_size),
            "max_message": int(max_message if max_message is not None else ring_capacity - 8),
            "kinds": sorted(protocol.make_kinds(kinds)),
            "host_pid": os.getpid(),
            "spin_us": float(spin_us),
            "fds": list(_SEGMENTS + _BELLS),
        }
        sizes = (ring_region_size(ring_capacity),) * 2 + (arena_size, drawlist_size)
        segs: list[Segment] = []
        bells: list[int] = []
        try:
            for part, size in zip(_SEGMENTS, sizes):
                seg = Segment.create(align_up(size, PAGE_SIZE), f"{name}/{part}")
                segs.append(seg)
                seg.seal(allow_peer_writes=True)
            for _ in _BELLS:
                a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
                bells.extend((b.detach(), a.detach()))  # (consumer end, producer end)
        except BaseException:
            for seg in segs:
                seg.close()
            for fd in bells:
                _close_quietly(fd)
            raise
        return cls(segs, bells, spec, host=True)  # owns segs and bells, even if it raises

    def child_spec(self) -> dict[str, Any]:
        """What the child needs besides the fds (msgpack-able)."""
        return dict(self.spec)

    def child_fds(self) -> list[int]:
        """The fds to pass to the child, in spec order: request, response, arena, drawlist
        segments, then the request doorbell's read end and the response doorbell's write end."""
        if not self.is_host:
            raise ShmError(f"channel {self.name!r}: only the host side hands out child fds")
        req_r, _, _, resp_w = self._bells
        if req_r < 0:
            raise ShmError(f"channel {self.name!r}: child fds were already released")
        return [seg.fd for seg in self._segments] + [req_r, resp_w]

    def release_child_fds(self) -> None:
        """Host side, once the child has its fds: close our copies of the child's doorbell
        ends, so the child's death shows at once as EOF on ours (not only via the pidfd)."""
        if self.is_host and len(self._bells) == 4 and self._bells[0] >= 0:
            for i in (0, 3):
                _close_quietly(self._bells[i])
                self._bells[i] = -1

    @classmethod
    def attach(
        cls, spec: Mapping[str, Any], fds: Sequence[int], *, watch_parent: bool = True
    ) -> Channel:
        """Child side: map the segments (taking ownership of ``fds``) and bind the rings."""
        if spec.get("protocol") != protocol.PROTOCOL_VERSION:
            for fd in fds:
                _close_quietly(fd)
            raise protocol.ProtocolError(
                f"channel spec has protocol {spec.get('protocol')!r}, this side speaks "
                f"{protocol.PROTOCOL_VERSION}"
            )
        want = len(_SEGMENTS) + len(_BELLS)
        if len(fds) != want:
            for fd in fds:
                _close_quietly(fd)
            raise ShmError(f"channel attach needs {want} fds, got {len(fds)}")
        segs: list[Segment] = []
        bells = list(fds[len(_SEGMENTS) :])
        name = str(spec.get("name", "channel"))
        try:
            for fd in bells:
                if not stat.S_ISSOCK(os.fstat(fd).st_mode):
                    raise ShmError(f"channel {name!r}: doorbell fd {fd} is not a socket")
            for i, (part, fd) in enumerate(zip(_SEGMENTS, fds)):
                try:
                    segs.append(Segment.attach(fd, readonly=False, name=f"{name}/{part}"))
                except BaseException:
                    for rest in fds[i + 1 : len(_SEGMENTS)]:
                        _close_quietly(rest)
                    raise
        except BaseException:
            for seg in segs:
                seg.close()
            for fd in bells:
                _close_quietly(fd)
            raise
        ch = cls(segs, bells, spec, host=False)  # owns segs and bells, even if it raises
        if watch_parent:
            ch._watch_host(int(spec.get("host_pid", 0)))
        return ch

    # -- peer watching --------------------------------------------------------------

    def set_peer_pid(self, pid: int) -> None:
        """Watch process ``pid`` (a pidfd): waits fail with PeerDiedError once it exits."""
        self._drop_pidfd()
        self._pidfd = os.pidfd_open(pid)
        for ring in (self.tx, self.rx):
            if ring is not None:
                ring.watch(pidfd=self._pidfd)

    def _watch_host(self, host_pid: int) -> None:
        ppid = os.getppid()
        if host_pid and host_pid == ppid:
            for ring in (self.tx, self.rx):
                if ring is not None:
                    ring.watch(ppid=ppid)
            return
        if host_pid and ppid != 0:  # ppid 0: another pid namespace, host_pid means nothing here
            try:
                self.set_peer_pid(host_pid)
            except ProcessLookupError:
                self.close()
                raise PeerDiedError(
                    f"channel {self.name!r}: host process {host_pid} is gone before attach"
                ) from None
            except OSError:
                pass  # no pidfd: the doorbell's EOF still reports the host's death

    def _drop_pidfd(self) -> None:
        fd, self._pidfd = self._pidfd, -1
        if fd >= 0:
            _close_quietly(fd)

    # -- messages -------------------------------------------------------------------

    def send(self, msg: Mapping[str, Any], timeout: float | None = None) -> None:
        """Frame ``msg`` (version stamped) and push it to the peer."""
        core = self._txc
        if core is None:
            raise ShmError(f"channel {self.name!r} is closed")
        wait = _FOREVER if timeout is None else chunk_ns(timeout)
        if self._fast and type(msg) is dict:
            # hot path in the kernel: check, pack, stamp and push in one call
            rc = core.send_msg(msg, self.kinds, self.max_message, PROTOCOL_VERSION, wait)
            if rc == 1:
                return
            if rc < 0:
                data, core.pending = core.pending, None
                self._tx().finish_push(rc, data, timeout)
                return
        data = protocol.encode(msg, kinds=self.kinds, max_size=self.max_message, pack=self._pack)
        rc = core.push(data, wait)
        if rc != 1:
            self._tx().finish_push(rc, data, timeout)

    def recv(self, timeout: float | None = None) -> dict[str, Any]:
        """The next message from the peer, waiting up to ``timeout`` seconds (None: forever)."""
        core = self._rxc
        if core is None:
            raise ShmError(f"channel {self.name!r} is closed")
        wait = _FOREVER if timeout is None else chunk_ns(timeout)
        if self._fast:
            got = core.recv_msg(_unpackb, self.kinds, self.max_message, PROTOCOL_VERSION, wait)
            if type(got) is dict:
                return got
        else:
            got = core.pop(wait)
        if type(got) is not bytes:
            got = self._rx().finish_pop(got, timeout)
        # not the common case: the full decoder accepts it or names what is wrong
        return protocol.decode(got, kinds=self.kinds, max_size=self.max_message)

    def try_recv(self) -> dict[str, Any] | None:
        """The next message if one is waiting, else None."""
        data = self._rx().try_pop()
        if data is None:
            return None
        return protocol.decode(data, kinds=self.kinds, max_size=self.max_message)

    def send_arrays(
        self,
        msg: Mapping[str, Any],
        arrays: Mapping[str, Any],
        timeout: float | None = None,
        chunk: int | None = None,
    ) -> None:
        """Send ``msg`` with a streamed arena reference under each key of ``arrays``, then fill them.

        The peer gets the message first and can :meth:`copy_out` each array
        while it is still being written (the copies overlap). The arena is
        not reset here: call ``arena.reset()`` once per request.
        """
        refs: dict[str, Any] = {}
        pending = []
        for key, value in arrays.items():
            src = np.asarray(value)
            _, ref = self.arena.stream_array(src.dtype, src.shape)
            refs[key] = ref
            pending.append((ref, src))
        self.send({**msg, **refs}, timeout)
        for ref, src in pending:
            self.arena.fill(ref, src, chunk or STREAM_CHUNK)

    def copy_out(
        self, ref: Any, out: np.ndarray | None = None, timeout: float | None = None
    ) -> np.ndarray:
        """Copy an arena array the peer referenced into ``out`` (or a new array), following its progress."""
        rx = self._rx()
        core = rx._k()
        return self.arena.copy_out(ref, out, timeout=timeout, pidfd=core.pidfd, ppid=core.ppid)

    def request(self, msg: Mapping[str, Any], timeout: float | None = None) -> dict[str, Any]:
        """Send ``msg`` and return the peer's next message; ``timeout`` covers both.

        On the host this is a request and its response; in a child serving
        requests, ``request(reply)`` answers and waits for the next request.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        if self._fast and type(msg) is dict and self._txc is not None:
            # hot path: push, wait and pop in one kernel call
            wait = _FOREVER if timeout is None else chunk_ns(timeout)
            got = self._txc.call(
                msg, self._rxc, self.kinds, self.max_message, PROTOCOL_VERSION, wait, _unpackb
            )
            if type(got) is dict:
                return got
            if type(got) is tuple:  # sent; the receive needs finishing or judging
                data = got[0]
                if type(data) is not bytes:
                    left = None if deadline is None else max(0.0, deadline - time.monotonic())
                    data = self._rx().finish_pop(data, left)
                return protocol.decode(data, kinds=self.kinds, max_size=self.max_message)
            if got is not None:  # the push itself must wait longer or failed
                pending, self._txc.pending = self._txc.pending, None
                self._tx().finish_push(got, pending, timeout)
                return self.recv(_left(deadline))
        self.send(msg, timeout)
        return self.recv(_left(deadline))

    # -- recovery and lifetime -------------------------------------------------------

    def reset(self) -> None:
        """Empty both rings and the arena. The peer must :meth:`resync` (or be restarted)."""
        for ring in (self.tx, self.rx):
            if ring is not None:
                ring.reset()
        self.arena.reset()

    def resync(self) -> None:
        """Adopt the ring indices in shared memory after the peer called :meth:`reset`."""
        for ring in (self.tx, self.rx):
            if ring is not None:
                ring.resync()
        self.arena.reset()

    def close(self) -> None:
        """Release rings, segments and the pidfd. Safe twice."""
        for ring in (self.tx, self.rx):
            if ring is not None:
                ring.close()
        self.tx = self.rx = None
        self._txc = self._rxc = None
        self._drop_pidfd()
        segs, self._segments = self._segments, []
        for seg in segs:
            seg.close()
        bells, self._bells = self._bells, []
        for fd in bells:
            if fd >= 0:
                _close_quietly(fd)

    @property
    def closed(self) -> bool:
        return self.tx is None

    def __enter__(self) -> Channel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()

    def __repr__(self) -> str:
        side = "host" if getattr(self, "is_host", False) else "child"
        state = "closed" if self.closed else "open"
        return f"<Channel {getattr(self, 'name', '?')!r} {side} {state}>"

    def _tx(self) -> Ring:
        if self.tx is None:
            raise ShmError(f"channel {self.name!r} is closed")
        return self.tx

    def _rx(self) -> Ring:
        if self.rx is None:
            raise ShmError(f"channel {self.name!r} is closed")
        return self.rx


def _left(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def _close_quietly(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass
