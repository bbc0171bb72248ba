"""Request/response channel between the host and one child process.

A :class:`Channel` bundles four memfd segments, all created by the host and
sealed against resizing (the child may map them read-write)::

    fds[0]  request ring   host -> child   (Ring at offset 0)
    fds[1]  response ring  child -> host   (Ring at offset 0)
    fds[2]  output arena   child writes big arrays, host views them (Arena)
    fds[3]  draw-list      child writes draw commands, host reads (Segment)

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
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from gpi.shm import protocol
from gpi.shm.arena import Arena
from gpi.shm.errors import PeerDiedError, ShmError
from gpi.shm.ring import Ring, ring_region_size
from gpi.shm.segment import PAGE_SIZE, Segment, align_up

__all__ = ["Channel"]

_SEGMENTS = ("request", "response", "arena", "drawlist")


class Channel:
    """Two rings, an output arena and a draw-list buffer shared with one peer."""

    # Class-level defaults so close() works after a failed construction.
    _segments: list[Segment] = []
    _pidfd: int = -1
    tx: Ring | None = None
    rx: Ring | None = None
    arena: Arena
    drawlist: Segment

    def __init__(
        self,
        segments: Sequence[Segment],
        spec: Mapping[str, Any],
        *,
        host: bool,
    ) -> None:
        """Wire up rings and arena over ``segments``. Prefer :meth:`create`/:meth:`attach`."""
        self._segments = list(segments)
        self.spec = dict(spec)
        self.name = str(spec["name"])
        self.is_host = host
        self.kinds = protocol.make_kinds(spec.get("kinds", ()))
        self.max_message = int(spec["max_message"])
        cap = int(spec["ring_capacity"])
        req, resp, arena, draw = self._segments
        if host:
            self.tx = Ring.create(req, 0, cap, name=f"{self.name}/request")
            self.rx = Ring.create(resp, 0, cap, name=f"{self.name}/response")
        else:
            self.rx = Ring.attach(req, 0, cap, name=f"{self.name}/request")
            self.tx = Ring.attach(resp, 0, cap, name=f"{self.name}/response")
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
    ) -> Channel:
        """Host side: allocate and seal the four segments (peer writes allowed)."""
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
            "segments": list(_SEGMENTS),
        }
        sizes = (ring_region_size(ring_capacity),) * 2 + (arena_size, drawlist_size)
        segs: list[Segment] = []
        try:
            for part, size in zip(_SEGMENTS, sizes):
                seg = Segment.create(align_up(size, PAGE_SIZE), f"{name}/{part}")
                segs.append(seg)
                seg.seal(allow_peer_writes=True)
            return cls(segs, spec, host=True)
        except BaseException:
            for seg in segs:
                seg.close()
            raise

    def child_spec(self) -> dict[str, Any]:
        """What the child needs besides the fds (msgpack-able)."""
        return dict(self.spec)

    def child_fds(self) -> list[int]:
        """The segment fds to pass to the child, in spec order (request, response, arena, drawlist)."""
        return [seg.fd for seg in self._segments]

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
        if len(fds) != len(_SEGMENTS):
            for fd in fds:
                _close_quietly(fd)
            raise ShmError(f"channel attach needs {len(_SEGMENTS)} fds, got {len(fds)}")
        segs: list[Segment] = []
        name = str(spec.get("name", "channel"))
        try:
            for i, (part, fd) in enumerate(zip(_SEGMENTS, fds)):
                try:
                    segs.append(Segment.attach(fd, readonly=False, name=f"{name}/{part}"))
                except BaseException:
                    for rest in fds[i + 1 :]:
                        _close_quietly(rest)
                    raise
            ch = cls(segs, spec, host=False)
        except BaseException:
            for seg in segs:
                seg.close()
            raise
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
        if host_pid:
            try:
                self.set_peer_pid(host_pid)
            except ProcessLookupError:
                self.close()
                raise PeerDiedError(
                    f"channel {self.name!r}: host process {host_pid} is gone before attach"
                ) from None
            except OSError:
                pass  # e.g. another pid namespace: no watching possible

    def _drop_pidfd(self) -> None:
        fd, self._pidfd = self._pidfd, -1
        if fd >= 0:
            _close_quietly(fd)

    # -- messages -------------------------------------------------------------------

    def send(self, msg: Mapping[str, Any], timeout: float | None = None) -> None:
        """Frame ``msg`` (version stamped) and push it to the peer."""
        self._tx().push(protocol.encode(msg, kinds=self.kinds, max_size=self.max_message), timeout)

    def recv(self, timeout: float | None = None) -> dict[str, Any]:
        """The next message from the peer, waiting up to ``timeout`` seconds (None: forever)."""
        data = self._rx().pop(timeout)
        return protocol.decode(data, kinds=self.kinds, max_size=self.max_message)

    def try_recv(self) -> dict[str, Any] | None:
        """The next message if one is waiting, else None."""
        data = self._rx().try_pop()
        if data is None:
            return None
        return protocol.decode(data, kinds=self.kinds, max_size=self.max_message)

    def request(self, msg: Mapping[str, Any], timeout: float | None = None) -> dict[str, Any]:
        """Send ``msg`` and wait for the peer's next message (the response)."""
        self.send(msg, timeout)
        return self.recv(timeout)

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
        self._drop_pidfd()
        segs, self._segments = self._segments, []
        for seg in segs:
            seg.close()

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


def _close_quietly(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass
