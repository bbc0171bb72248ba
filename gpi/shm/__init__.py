"""Shared memory: memfd segments, seals, fd passing (and, later, rings and arenas)."""

from gpi.shm.errors import SegmentClosedError, SegmentError, ShmError
from gpi.shm.fdpass import recv_with_fds, send_with_fds
from gpi.shm.segment import PAGE_SIZE, Segment, align_up

__all__ = [
    "PAGE_SIZE",
    "Segment",
    "SegmentClosedError",
    "SegmentError",
    "ShmError",
    "align_up",
    "recv_with_fds",
    "send_with_fds",
]
