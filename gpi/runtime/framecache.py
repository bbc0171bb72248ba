"""The overlay's framebuffer cache: draw ImGui every few frames, blit its pixels in between.

ImGui's pixels change slowly (the overlay's tables refresh four times a
second) but rasterising them costs a software renderer (llvmpipe) tens of
milliseconds. :class:`OverlayCache` draws the overlay into an offscreen
framebuffer (one RGBA8 renderbuffer the size of the window) every ``every``
frames, and on the frames between copies the cached pixels of the overlay's
window onto the back buffer with one framebuffer blit. The copied rectangle
is the ImGui window's, found by its title each time it is redrawn, so the
cached copy follows the window when the user drags or resizes it.

Only the GL calls live here; which overlay to draw and with what model is
the caller's. OpenGL is imported on first use.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

__all__ = ["OverlayCache"]

_STALE = 1 << 30  # an age that always means "redraw now"


class OverlayCache:
    """An offscreen copy of the overlay, redrawn every ``every`` frames (see module doc)."""

    def __init__(self, every: int, clear_color: tuple[float, float, float, float]) -> None:
        self.every = int(every)
        self.clear_color = clear_color
        self._fbo: tuple[int, int, int, int] | None = None  # (framebuffer, renderbuffer, w, h)
        self._age = _STALE
        self._rect = (0, 0, 0, 0)

    @property
    def rect(self) -> tuple[int, int, int, int]:
        """``(x0, y0, x1, y1)`` framebuffer pixels of the overlay's window at its last redraw."""
        return self._rect

    def invalidate(self) -> None:
        """Redraw the overlay on the next frame (its content or visibility changed)."""
        self._age = _STALE

    def draw(self, overlay: Any, window: Any, model: Callable[[], Any], fallback_width: float) -> list[Any]:
        """Draw ``overlay`` with ``model()`` onto the back buffer, from the cache when it is fresh.

        Returns the overlay's actions (none on a frame served from the
        cache). ``fallback_width`` (screen units) is the left column copied
        when ImGui cannot say where its window is.
        """
        if not overlay.visible or self.every <= 1:
            return list(overlay.frame(model()))
        from OpenGL import GL

        w, h = window.drawable_size
        if self._fbo is None or self._fbo[2:] != (w, h):
            self.close()
            fbo = int(GL.glGenFramebuffers(1))
            rb = int(GL.glGenRenderbuffers(1))
            GL.glBindRenderbuffer(GL.GL_RENDERBUFFER, rb)
            GL.glRenderbufferStorage(GL.GL_RENDERBUFFER, GL.GL_RGBA8, w, h)
            GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, fbo)
            GL.glFramebufferRenderbuffer(GL.GL_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0, GL.GL_RENDERBUFFER, rb)
            GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, 0)
            self._fbo = (fbo, rb, w, h)
            self._age = _STALE
        fbo = self._fbo[0]
        actions: list[Any] = []
        if self._age >= self.every:
            GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, fbo)
            GL.glViewport(0, 0, w, h)
            GL.glClearColor(*self.clear_color)
            GL.glClear(GL.GL_COLOR_BUFFER_BIT)
            try:
                actions = list(overlay.frame(model()))
                self._rect = self._window_rect(window, w, h, fallback_width)
            finally:
                GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, 0)
            self._age = 0
        self._age += 1
        x0, y0, x1, y1 = self._rect
        GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, fbo)
        GL.glBindFramebuffer(GL.GL_DRAW_FRAMEBUFFER, 0)
        GL.glBlitFramebuffer(x0, y0, x1, y1, x0, y0, x1, y1, GL.GL_COLOR_BUFFER_BIT, GL.GL_NEAREST)
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, 0)
        return actions

    @staticmethod
    def _window_rect(window: Any, w: int, h: int, fallback_width: float) -> tuple[int, int, int, int]:
        """Where the overlay's ImGui window is, in framebuffer pixels (GL origin bottom-left)."""
        scale = w / max(window.size[0], 1)
        try:
            from imgui_bundle import imgui

            from gpi.runtime.overlay.overlay import WINDOW_TITLE

            win = imgui.internal.find_window_by_name(WINDOW_TITLE)
            px, py, sx, sy = win.pos.x, win.pos.y, win.size.x, win.size.y
        except Exception:  # no such window yet, or an imgui without the internal API
            return 0, 0, min(int((fallback_width + 20) * scale), w), h
        pad = 2.0  # borders and anti-aliased edges
        x0 = max(int((px - pad) * scale), 0)
        x1 = min(int((px + sx + pad) * scale) + 1, w)
        top = max(int((py - pad) * scale), 0)
        bottom = min(int((py + sy + pad) * scale) + 1, h)
        if x1 <= x0 or bottom <= top:
            return 0, 0, 0, 0
        return x0, h - bottom, x1, h - top

    def close(self) -> None:
        """Free the framebuffer and its renderbuffer (a GL context must be current); safe twice."""
        if self._fbo is None:
            return
        fbo, rb, _, _ = self._fbo
        self._fbo = None
        with contextlib.suppress(Exception):  # the context may already be gone at exit
            from OpenGL import GL

            GL.glDeleteFramebuffers(1, [fbo])
            GL.glDeleteRenderbuffers(1, [rb])
