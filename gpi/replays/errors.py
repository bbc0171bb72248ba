"""Errors raised while writing, reading, verifying or comparing replays.

Every class derives from :class:`gpi.errors.GpiError` (through
:class:`ReplayError`) and from the builtin that matches the failure, so callers
may catch either. Messages say what was wrong, where (file, byte offset, block,
tick) and what to do about it.
"""

from __future__ import annotations

from gpi.errors import GpiError

__all__ = [
    "CorruptBlockError",
    "HeaderError",
    "PluginMismatchError",
    "RecordError",
    "ReplayError",
    "ReplayFormatError",
    "ReplayVersionError",
    "SeekError",
    "SimulatorUnavailableError",
    "TruncatedReplayError",
    "VerifyWorkerError",
]


class ReplayError(GpiError):
    """Base class of replay errors."""


class ReplayFormatError(ReplayError, ValueError):
    """A file is not a GPI replay, or its header cannot be decoded."""


class ReplayVersionError(ReplayFormatError):
    """A replay was written in a format version this reader does not know.

    ``found`` and ``expected`` hold the two versions.
    """

    def __init__(self, message: str, *, found: int, expected: int) -> None:
        super().__init__(message)
        self.found = found
        self.expected = expected


class HeaderError(ReplayFormatError):
    """The replay header is corrupt (checksum mismatch), undecodable or incomplete."""


class TruncatedReplayError(ReplayFormatError, EOFError):
    """The file ends before its header does: nothing in it can be replayed."""


class CorruptBlockError(ReplayError, ValueError):
    """A data block is corrupt or cut short (raised only by strict readers).

    ``block_index``, ``offset`` (byte offset of the block in the file) and
    ``tick`` (the first tick the block would hold, or the tick after the last
    good one) say where.
    """

    def __init__(self, message: str, *, block_index: int, offset: int, tick: int) -> None:
        super().__init__(message)
        self.block_index = block_index
        self.offset = offset
        self.tick = tick


class RecordError(ReplayError, ValueError):
    """A recorder was used wrongly: ticks out of order, a bad checksum, closed, ..."""


class SeekError(ReplayError, IndexError):
    """A tick was asked for that the replay does not hold."""


class PluginMismatchError(ReplayError, ValueError):
    """A replay was recorded with other plugin code than the code loaded now."""


class SimulatorUnavailableError(ReplayError, RuntimeError):
    """No simulator can be built for a replay (the runtime hook is not wired)."""


class VerifyWorkerError(ReplayError, RuntimeError):
    """A parallel verify worker failed: its simulator could not be built, it raised, or it died."""
