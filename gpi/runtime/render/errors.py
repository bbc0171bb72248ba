"""Errors raised by the window and the renderer.

Every class derives from :class:`gpi.errors.GpiError` (through
:class:`RenderError`) and from the builtin that matches the failure.
"""

from __future__ import annotations

from gpi.errors import GpiError

__all__ = ["RenderError", "ShaderError", "WindowError"]


class RenderError(GpiError, RuntimeError):
    """The renderer could not do what was asked (no context, closed, bad input)."""


class WindowError(RenderError):
    """The SDL window or its OpenGL context could not be created or was used after close()."""


class ShaderError(RenderError):
    """A shader failed to compile or link; the message holds the driver's log."""
