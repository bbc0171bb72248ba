"""Errors raised by the shared-memory layer."""

from gpi.errors import GpiError

__all__ = ["SegmentClosedError", "SegmentError", "ShmError"]


class ShmError(GpiError, OSError):
    """Base class of shared-memory errors."""


class SegmentError(ShmError):
    """A segment could not be created, mapped, sealed or passed."""


class SegmentClosedError(SegmentError, ValueError):
    """A closed segment was used."""
