"""Shared memory: memfd segments, seals, fd passing, SPSC rings, arenas and the channel."""

from gpi.shm.arena import Arena
from gpi.shm.channel import Channel
from gpi.shm.errors import (
    ArenaError,
    ChannelTimeout,
    FrameError,
    PeerDiedError,
    ProtocolError,
    SegmentClosedError,
    SegmentError,
    ShmError,
)
from gpi.shm.fdpass import recv_with_fds, send_with_fds
from gpi.shm.protocol import CORE_KINDS, PROTOCOL_VERSION
from gpi.shm.ring import Ring
from gpi.shm.segment import PAGE_SIZE, Segment, align_up

__all__ = [
    "CORE_KINDS",
    "PAGE_SIZE",
    "PROTOCOL_VERSION",
    "Arena",
    "ArenaError",
    "Channel",
    "ChannelTimeout",
    "FrameError",
    "PeerDiedError",
    "ProtocolError",
    "Ring",
    "Segment",
    "SegmentClosedError",
    "SegmentError",
    "ShmError",
    "align_up",
    "recv_with_fds",
    "send_with_fds",
]
