"""The SDL2 window and its OpenGL 3.3 core context.

One :class:`Window` owns an SDL window created with ``SDL_WINDOW_OPENGL`` and
the GL context made current on it. With no screen (no ``DISPLAY`` and no
``WAYLAND_DISPLAY``), or when asked with ``headless=True``, it uses SDL's
``offscreen`` video driver and Mesa's EGL, which gives a real OpenGL context
(llvmpipe) with no screen and no GPU: :mod:`gpi.runtime.render` draws into it
and reads the pixels back. The choice is made once, by :func:`configure_platform`,
before anything imports PyOpenGL (PyOpenGL picks its platform at first import,
so ``PYOPENGL_PLATFORM=egl`` must be in the environment by then).

Contract used by the overlay and input code (docs/contracts.md):
``.sdl_window`` (the ``SDL_Window*``), ``.gl_context``, ``.size`` (window
size in screen units), ``.drawable_size`` (framebuffer pixels),
``poll_events()`` (a list of ``sdl2.SDL_Event`` copies, to feed ImGui and
:class:`gpi.runtime.input.InputState`), ``swap()``, ``resize(w, h)``,
``should_close`` and ``close()`` (safe twice; also a context manager).
SDL's video subsystem is reference-counted by SDL itself, so several windows
(or a window and a test) can come and go in one process.
"""

from __future__ import annotations

import ctypes
import os
import sys
import warnings
from typing import Any

from gpi.runtime.render.errors import WindowError

__all__ = ["Window", "WindowError", "configure_platform", "headless_default"]

# SDL_WINDOWEVENT ids (SDL_video.h) used here.
_WINDOWEVENT_SIZE_CHANGED = 6
_WINDOWEVENT_CLOSE = 14


def headless_default() -> bool:
    """True when there is no screen to open a window on (or SDL_VIDEODRIVER=offscreen)."""
    if os.environ.get("SDL_VIDEODRIVER") == "offscreen":
        return True
    return not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def configure_platform(headless: bool | None = None) -> bool:
    """Set SDL/PyOpenGL platform variables for ``headless`` (default: :func:`headless_default`).

    Returns the mode chosen. Must run before PyOpenGL is first imported; if it
    was already imported for another platform, raises :class:`WindowError`.
    """
    if headless is None:
        headless = headless_default()
    if headless:
        os.environ.setdefault("SDL_VIDEODRIVER", "offscreen")
        os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
        plat_mod = sys.modules.get("OpenGL.platform")
        plat = type(getattr(plat_mod, "PLATFORM", None)).__name__ if plat_mod else ""
        if plat and plat != "NoneType" and "EGL" not in plat:
            raise WindowError(
                f"PyOpenGL was imported with platform {plat} before headless mode was chosen; "
                "call gpi.runtime.window.configure_platform(True) (or set "
                "PYOPENGL_PLATFORM=egl) before anything imports OpenGL"
            )
    return headless


def _sdl() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Using SDL2 binaries from pysdl2-dll"
        import sdl2
    return sdl2


class Window:
    """An SDL2 window with a current OpenGL 3.3 core context."""

    # Class-level defaults so close() works after a failed __init__.
    _sdl2: Any = None
    _video_up = False
    sdl_window: Any = None
    gl_context: Any = None
    should_close = False
    headless = False

    def __init__(self, width: int = 1280, height: int = 720, title: str = "GPI Sandbox", *,
                 headless: bool | None = None, vsync: bool = False, resizable: bool = True,
                 hidden: bool = False) -> None:
        """Open the window and make its GL context current (see :func:`configure_platform`)."""
        if width <= 0 or height <= 0:
            raise WindowError(f"window size must be positive, got {width}x{height}")
        self.headless = configure_platform(headless)
        sdl2 = self._sdl2 = _sdl()
        try:
            if sdl2.SDL_InitSubSystem(sdl2.SDL_INIT_VIDEO) != 0:
                raise WindowError(self._err("cannot initialise SDL video"))
            self._video_up = True
            for attr, value in (
                (sdl2.SDL_GL_CONTEXT_MAJOR_VERSION, 3),
                (sdl2.SDL_GL_CONTEXT_MINOR_VERSION, 3),
                (sdl2.SDL_GL_CONTEXT_PROFILE_MASK, sdl2.SDL_GL_CONTEXT_PROFILE_CORE),
                (sdl2.SDL_GL_DOUBLEBUFFER, 1),
                (sdl2.SDL_GL_RED_SIZE, 8),
                (sdl2.SDL_GL_GREEN_SIZE, 8),
                (sdl2.SDL_GL_BLUE_SIZE, 8),
                (sdl2.SDL_GL_ALPHA_SIZE, 8),
            ):
                sdl2.SDL_GL_SetAttribute(attr, value)
            flags = sdl2.SDL_WINDOW_OPENGL
            if resizable:
                flags |= sdl2.SDL_WINDOW_RESIZABLE
            if hidden:
                flags |= sdl2.SDL_WINDOW_HIDDEN
            pos = sdl2.SDL_WINDOWPOS_CENTERED
            win = sdl2.SDL_CreateWindow(title.encode(), pos, pos, int(width), int(height), flags)
            if not win:
                raise WindowError(self._err(f"cannot create a {width}x{height} OpenGL window"))
            self.sdl_window = win
            ctx = sdl2.SDL_GL_CreateContext(win)
            if not ctx:
                raise WindowError(self._err("cannot create an OpenGL 3.3 core context"))
            self.gl_context = ctx
            if sdl2.SDL_GL_MakeCurrent(win, ctx) != 0:
                raise WindowError(self._err("cannot make the OpenGL context current"))
            sdl2.SDL_GL_SetSwapInterval(1 if vsync else 0)
        except BaseException:
            self.close()
            raise

    def _err(self, what: str) -> str:
        detail = self._sdl2.SDL_GetError().decode(errors="replace") if self._sdl2 else ""
        hint = (" (headless: needs Mesa EGL, e.g. apt-get install libegl-mesa0 libgl1-mesa-dri)"
                if self.headless else " (no screen? set SDL_VIDEODRIVER=offscreen PYOPENGL_PLATFORM=egl)")
        return f"window: {what}: {detail or 'no SDL error text'}{hint}"

    def _live(self) -> Any:
        if self.sdl_window is None:
            raise WindowError("window is closed")
        return self._sdl2

    # -- state ----------------------------------------------------------------------

    @property
    def size(self) -> tuple[int, int]:
        """Window size in screen units (what mouse coordinates are in)."""
        sdl2 = self._live()
        w, h = ctypes.c_int(), ctypes.c_int()
        sdl2.SDL_GetWindowSize(self.sdl_window, ctypes.byref(w), ctypes.byref(h))
        return int(w.value), int(h.value)

    @property
    def drawable_size(self) -> tuple[int, int]:
        """Framebuffer size in pixels (differs from :attr:`size` on high-DPI screens)."""
        sdl2 = self._live()
        w, h = ctypes.c_int(), ctypes.c_int()
        sdl2.SDL_GL_GetDrawableSize(self.sdl_window, ctypes.byref(w), ctypes.byref(h))
        return int(w.value), int(h.value)

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self.sdl_window is None

    # -- per frame --------------------------------------------------------------------

    def poll_events(self) -> list[Any]:
        """Every pending SDL event, as ``sdl2.SDL_Event`` copies; notes quit/close requests."""
        sdl2 = self._live()
        events: list[Any] = []
        ev = sdl2.SDL_Event()
        while sdl2.SDL_PollEvent(ctypes.byref(ev)):
            copy = sdl2.SDL_Event()
            ctypes.pointer(copy)[0] = ev
            events.append(copy)
            if ev.type == sdl2.SDL_QUIT:
                self.should_close = True
            elif ev.type == sdl2.SDL_WINDOWEVENT and ev.window.event == _WINDOWEVENT_CLOSE:
                self.should_close = True
        return events

    def make_current(self) -> None:
        """Make this window's GL context current on the calling thread."""
        sdl2 = self._live()
        if sdl2.SDL_GL_MakeCurrent(self.sdl_window, self.gl_context) != 0:
            raise WindowError(self._err("cannot make the OpenGL context current"))

    def swap(self) -> None:
        """Present the frame (swap the back and front buffers)."""
        self._live().SDL_GL_SwapWindow(self.sdl_window)

    def resize(self, width: int, height: int) -> None:
        """Ask for a new window size (a SIZE_CHANGED event follows on the next poll)."""
        if width <= 0 or height <= 0:
            raise WindowError(f"window size must be positive, got {width}x{height}")
        self._live().SDL_SetWindowSize(self.sdl_window, int(width), int(height))

    def set_title(self, title: str) -> None:
        """Change the window title."""
        self._live().SDL_SetWindowTitle(self.sdl_window, title.encode())

    # -- lifetime ---------------------------------------------------------------------

    def close(self) -> None:
        """Delete the GL context, destroy the window, release SDL video. Safe to call twice."""
        sdl2 = self._sdl2
        ctx, self.gl_context = self.gl_context, None
        win, self.sdl_window = self.sdl_window, None
        if sdl2 is None:
            return
        if ctx:
            sdl2.SDL_GL_DeleteContext(ctx)
        if win:
            sdl2.SDL_DestroyWindow(win)
        if self._video_up:
            self._video_up = False
            sdl2.SDL_QuitSubSystem(sdl2.SDL_INIT_VIDEO)

    def __enter__(self) -> Window:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        if self.closed:
            return "<Window closed>"
        mode = "headless" if self.headless else "screen"
        return f"<Window {self.size[0]}x{self.size[1]} {mode}>"
