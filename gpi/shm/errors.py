"""Errors raised by the shared-memory layer."""

from gpi.errors import GpiError

__all__ = [
    "ArenaError",
    "ChannelTimeout",
    "FrameError",
    "PeerDiedError",
    "ProtocolError",
    "SegmentClosedError",
    "SegmentError",
    "ShmError",
]


class ShmError(GpiError, OSError):
    """Base class of shared-memory errors."""


class SegmentError(ShmError):
    """A segment could not be created, mapped, sealed or passed."""


class SegmentClosedError(SegmentError, ValueError):
    """A closed segment was used."""


# -- transport (rings, arenas, channel) ------------------------------------------------


class FrameError(ShmError, ValueError):
    """A ring frame or message was malformed: bad length, truncated, garbage, over the limit."""


class ProtocolError(FrameError):
    """A well-framed message broke the protocol: wrong version, unknown kind, not a map."""


class ChannelTimeout(ShmError, TimeoutError):
    """Waiting on a ring or channel took longer than the timeout."""


class PeerDiedError(ShmError, ConnectionError):
    """The process at the other end of a ring or channel exited while we waited on it."""


class ArenaError(ShmError, ValueError):
    """An arena allocation did not fit, or a reference points outside the arena."""
