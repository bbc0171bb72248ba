"""Errors raised by the ImGui overlay."""

from gpi.errors import GpiError

__all__ = ["OverlayError"]


class OverlayError(GpiError, RuntimeError):
    """The overlay could not start (no GL context, no window) or was used after close."""
