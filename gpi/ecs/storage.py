"""Segment bookkeeping: every shared-memory segment the world uses, under a stable int id.

The world allocates segments through a :class:`SegmentPool`. Ids count up from
1 and are never reused, so a host that has already sent segment 7 to a child
only needs to send fds for ids the child has not seen. Segments are sealed at
creation (no new writable mapping can ever be made), so whatever a child maps
is read-only; the host's own writable mapping keeps working.
"""

from __future__ import annotations

from gpi.shm import Segment

__all__ = ["SegmentPool"]


class SegmentPool:
    """Creates, names, seals and closes the world's segments; ids are stable ints."""

    def __init__(self, prefix: str = "gpi-ecs", first_id: int = 1) -> None:
        self._prefix = prefix
        self._next_id = int(first_id)
        self._segments: dict[int, Segment] = {}

    def create(self, size: int, what: str) -> tuple[int, Segment]:
        """A new sealed, zero-filled segment of at least ``size`` bytes and its id."""
        sid = self._next_id
        self._next_id += 1
        seg = Segment.create(max(int(size), 1), f"{self._prefix}-{what}")
        try:
            seg.seal(allow_peer_writes=False)
        except BaseException:
            seg.close()
            raise
        self._segments[sid] = seg
        return sid, seg

    def release(self, sid: int) -> None:
        """Close segment ``sid`` (views still held elsewhere keep the memory until dropped)."""
        seg = self._segments.pop(sid, None)
        if seg is not None:
            seg.close()

    def segments(self) -> dict[int, Segment]:
        """The live segments by id (a new dict)."""
        return dict(self._segments)

    def close(self) -> None:
        """Close every segment. Safe to call twice."""
        for sid in list(self._segments):
            self.release(sid)

    @property
    def next_id(self) -> int:
        """The id the next segment will get (ids are never reused)."""
        return self._next_id

    def __len__(self) -> int:
        return len(self._segments)
