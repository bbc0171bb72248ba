"""The OpenGL renderer: 2D camera, shaders, and draw lists drawn from shared memory.

Importing this package loads no OpenGL: :class:`Renderer` (which imports
PyOpenGL, after :func:`gpi.runtime.window.configure_platform` chose EGL for
headless use) is loaded on first access.
"""

from __future__ import annotations

from typing import Any

from gpi.runtime.render.camera import Camera
from gpi.runtime.render.errors import RenderError, ShaderError, WindowError

__all__ = [
    "Camera",
    "FrameStats",
    "RenderError",
    "Renderer",
    "ShaderError",
    "WindowError",
    "render_image",
]


def __getattr__(name: str) -> Any:
    if name in ("Renderer", "FrameStats", "render_image"):
        from gpi.runtime.render import renderer

        return getattr(renderer, name)
    raise AttributeError(f"module 'gpi.runtime.render' has no attribute {name!r}")
