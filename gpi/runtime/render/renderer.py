"""The OpenGL 3.3 core renderer: draws draw lists straight out of shared memory.

Each frame the renderer takes the draw lists of the host and of every child
(each a byte region in the format of :mod:`gpi.draw`: a
:class:`~gpi.draw.DrawList`, a :class:`gpi.shm.Segment`, a
numpy array or any buffer), and for each one:

1. reads and validates its header and batch table (a copy of a few hundred
   bytes: a list that fails validation is skipped and reported in
   :attr:`Renderer.last_errors`, so a hostile child can never make the host
   read outside its segment);
2. uploads its vertex bytes with ``glBufferSubData`` straight from the
   region's address (``ctypes.c_void_p(address)``): no numpy copy, no
   serialisation, one memcpy done by the driver;
3. queues its batches.

Then it draws every batch of every list with one ``glDrawArrays`` each (runs
that are adjacent in the buffer are merged), ordered by layer, then by list
order, then by batch order.

Render interpolation: ``render(..., alpha=a)`` draws each vertex at ``pos -
motion * (1 - a)``, ``a`` of the way from where it was one tick earlier to
where it is now (``alpha`` of :class:`gpi.runtime.loop.FrameResult`). The
motion streams of lists that have one are uploaded like their vertices
(straight from the region into a second buffer, attribute 2, at the same
vertex index); lists without one draw with that attribute's array disabled,
i.e. a constant zero motion. At ``alpha = 1`` (the default: screenshots,
golden images, replays) no motion is uploaded or read at all and the
pixels are those of the tick itself. The vertex buffer is orphaned every frame
(``glBufferData(..., NULL, GL_STREAM_DRAW)``) so the driver never stalls on
the previous frame, and it grows to the next power of two when needed.

Two lists belong to the renderer itself and are cleared after every frame:
:attr:`Renderer.immediate` (world coordinates, drawn with the others) and
:attr:`Renderer.screen` (window pixels, origin bottom-left, y up, drawn last
on top): both take rects, circles, lines and text.

:meth:`Renderer.read_pixels` returns the frame as an ``(h, w, 4)`` uint8 RGBA
array (top row first) and :meth:`Renderer.save_png` writes it with Pillow, so
any tick can be saved headless.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gpi.draw import (
    MOTION_SIZE,
    VERTEX_SIZE,
    DrawList,
    DrawListError,
    as_u8,
    read_batches,
    read_header,
)
from gpi.runtime.render.camera import Camera
from gpi.runtime.render.errors import RenderError, ShaderError
from gpi.runtime.render.shaders import FRAGMENT_SHADER, VERTEX_SHADER
from gpi.runtime.window import configure_platform

configure_platform()  # PyOpenGL chooses its platform (EGL when headless) at first import
from OpenGL import GL  # noqa: E402

__all__ = ["FrameStats", "Renderer", "render_image", "resolve_region"]

Color = tuple[float, float, float, float]


@dataclass
class FrameStats:
    """What the last :meth:`Renderer.render` did."""

    lists: int = 0
    lists_skipped: int = 0
    batches: int = 0
    draw_calls: int = 0
    vertices: int = 0
    bytes_uploaded: int = 0
    moving_lists: int = 0
    """Lists drawn with their motion stream (0 at alpha = 1)."""
    errors: list[str] = field(default_factory=list)


def resolve_region(source: Any) -> np.ndarray:
    """The flat uint8 array behind a draw-list ``source`` (DrawList, Segment, array, buffer)."""
    if isinstance(source, DrawList):
        return source.buffer
    return as_u8(source, writable=False)


def _compile(kind: int, src: str, name: str) -> int:
    shader = GL.glCreateShader(kind)
    GL.glShaderSource(shader, src)
    GL.glCompileShader(shader)
    if not GL.glGetShaderiv(shader, GL.GL_COMPILE_STATUS):
        log = GL.glGetShaderInfoLog(shader)
        GL.glDeleteShader(shader)
        raise ShaderError(f"{name} shader failed to compile: {log!r}")
    return int(shader)


def _program() -> int:
    vs = _compile(GL.GL_VERTEX_SHADER, VERTEX_SHADER, "vertex")
    fs = _compile(GL.GL_FRAGMENT_SHADER, FRAGMENT_SHADER, "fragment")
    prog = GL.glCreateProgram()
    GL.glAttachShader(prog, vs)
    GL.glAttachShader(prog, fs)
    GL.glLinkProgram(prog)
    GL.glDeleteShader(vs)
    GL.glDeleteShader(fs)
    if not GL.glGetProgramiv(prog, GL.GL_LINK_STATUS):
        log = GL.glGetProgramInfoLog(prog)
        GL.glDeleteProgram(prog)
        raise ShaderError(f"shader program failed to link: {log!r}")
    return int(prog)


class Renderer:
    """Draws draw lists with OpenGL 3.3 core in the current context (usually a :class:`Window`'s)."""

    _closed = True
    _vbo = 0
    _mvbo = 0
    _vao = 0
    _program = 0

    def __init__(self, window: Any = None, *, immediate_vertices: int = 1 << 16) -> None:
        """Create the shader, vertex array and streaming vertex buffer in the current GL context."""
        self.window = window
        if window is not None:
            window.make_current()
        try:
            version = GL.glGetString(GL.GL_VERSION)
        except Exception as exc:  # PyOpenGL raises several types when no context is current
            raise RenderError(
                f"renderer: no current OpenGL context ({exc}); create a gpi.runtime.window.Window first"
            ) from exc
        if not version:
            raise RenderError(
                "renderer: no current OpenGL context (glGetString returned nothing); "
                "create a gpi.runtime.window.Window first"
            )
        self.gl_version = version.decode(errors="replace")
        self._program = _program()
        self._u_transform = GL.glGetUniformLocation(self._program, "u_transform")
        self._u_lag = GL.glGetUniformLocation(self._program, "u_lag")
        self._vao = int(GL.glGenVertexArrays(1))
        self._vbo, self._mvbo = (int(b) for b in GL.glGenBuffers(2))
        self._capacity = 0
        self._mcapacity = 0
        GL.glBindVertexArray(self._vao)
        GL.glBindBuffer(GL.GL_ARRAY_BUFFER, self._mvbo)
        self._mcapacity = self._reserve_buffer(1 << 16, 0)
        GL.glVertexAttribPointer(2, 2, GL.GL_FLOAT, GL.GL_FALSE, MOTION_SIZE, ctypes.c_void_p(0))
        GL.glDisableVertexAttribArray(2)  # enabled only while drawing lists that move
        GL.glBindBuffer(GL.GL_ARRAY_BUFFER, self._vbo)
        self._reserve(1 << 20)
        GL.glEnableVertexAttribArray(0)
        GL.glVertexAttribPointer(0, 2, GL.GL_FLOAT, GL.GL_FALSE, VERTEX_SIZE, ctypes.c_void_p(0))
        GL.glEnableVertexAttribArray(1)
        GL.glVertexAttribPointer(1, 4, GL.GL_UNSIGNED_BYTE, GL.GL_TRUE, VERTEX_SIZE, ctypes.c_void_p(8))
        GL.glBindVertexArray(0)
        self._closed = False
        self.immediate = DrawList.allocate(immediate_vertices, batch_capacity=256)
        self.screen = DrawList.allocate(immediate_vertices, batch_capacity=256)
        self.stats = FrameStats()
        self._viewport = (0, 0)

    # -- buffers ------------------------------------------------------------------------

    @staticmethod
    def _reserve_buffer(nbytes: int, capacity: int, orphan: bool = True) -> int:
        """Orphan the bound buffer (or only grow it) to a power of two >= ``nbytes``; its new size."""
        cap = max(capacity, 1 << 16)
        while cap < nbytes:
            cap *= 2
        if orphan or cap != capacity:
            GL.glBufferData(GL.GL_ARRAY_BUFFER, cap, None, GL.GL_STREAM_DRAW)
        return cap

    def _reserve(self, nbytes: int, orphan: bool = True) -> None:
        """Orphan the vertex buffer (or only grow it), to a power of two >= ``nbytes``."""
        self._capacity = self._reserve_buffer(nbytes, self._capacity, orphan)

    def _reserve_motion(self, nbytes: int, orphan: bool = True) -> None:
        """The same for the motion buffer (binds it; rebind the vertex buffer after)."""
        GL.glBindBuffer(GL.GL_ARRAY_BUFFER, self._mvbo)
        self._mcapacity = self._reserve_buffer(nbytes, self._mcapacity, orphan)

    def _live(self) -> None:
        if self._closed:
            raise RenderError("renderer is closed")

    # -- frame --------------------------------------------------------------------------

    def render(self, drawlists: Sequence[Any], camera: Camera,
               clear: Color | None = (0.0, 0.0, 0.0, 1.0), *,
               viewport: tuple[int, int] | None = None, copy_upload: bool = False,
               strict: bool = False, alpha: float = 1.0) -> FrameStats:
        """Draw ``drawlists`` (host first, then children) through ``camera``; returns the stats.

        ``viewport`` defaults to the window's drawable size, else the camera's.
        ``copy_upload`` stages each list through a numpy copy first (for the
        benchmark's comparison only). ``strict`` raises on an invalid list
        instead of skipping it. ``alpha`` in [0, 1] is how far the frame lies
        between the previous tick and the current one (render interpolation,
        see the module doc); 1 draws the current tick exactly.
        """
        self._live()
        if self.window is not None:
            self.window.make_current()
        if viewport is None:
            viewport = self.window.drawable_size if self.window is not None else camera.viewport
        vw, vh = int(viewport[0]), int(viewport[1])
        self._viewport = (vw, vh)
        cam = Camera(camera.center, camera.zoom, (vw, vh))
        stats = FrameStats()

        # 1. validate every list (copies of headers and batch tables only)
        self.immediate.finish()
        sources: list[Any] = [self.immediate, *drawlists]
        plan: list[tuple[np.ndarray, Any, np.ndarray]] = []
        for i, src in enumerate(sources):
            try:
                region = resolve_region(src)
                hdr = read_header(region)
                batches = read_batches(region, hdr)
            except (DrawListError, TypeError, ValueError) as exc:
                msg = f"draw list {i - 1 if i else 'immediate'}: {exc}"
                if strict:
                    raise RenderError(f"renderer: {msg}") from exc
                stats.errors.append(msg)
                stats.lists_skipped += 1
                continue
            plan.append((region, hdr, batches))
        screen_region = self.screen.buffer
        screen_hdr = self.screen.finish()
        screen_batches = read_batches(screen_region, screen_hdr)

        # 2. upload: one glBufferSubData per list, straight from its memory
        total = sum(h.vertex_count for _, h, _ in plan) + screen_hdr.vertex_count
        lag = 1.0 - min(max(float(alpha), 0.0), 1.0)
        moving = [lag > 0.0 and h.has_motion and h.vertex_count > 0 for _, h, _ in plan]
        GL.glBindVertexArray(self._vao)
        if any(moving):  # motion streams first: the vertex buffer stays bound below
            self._reserve_motion(total * MOTION_SIZE)
            base = 0
            for (region, hdr, _), mv in zip(plan, moving):
                if mv:
                    self._upload(region, hdr.motion_offset, hdr.vertex_count * MOTION_SIZE,
                                 base * MOTION_SIZE, copy_upload)
                    stats.bytes_uploaded += hdr.vertex_count * MOTION_SIZE
                    stats.moving_lists += 1
                base += hdr.vertex_count
        GL.glBindBuffer(GL.GL_ARRAY_BUFFER, self._vbo)
        self._reserve(total * VERTEX_SIZE)
        draws: list[tuple[int, int, int, int, int]] = []  # layer, list, batch, first, count
        base = 0
        for li, (region, hdr, batches) in enumerate(plan):
            if hdr.vertex_count:
                self._upload(region, hdr.vertex_offset, hdr.vertex_count * VERTEX_SIZE,
                             base * VERTEX_SIZE, copy_upload)
                stats.bytes_uploaded += hdr.vertex_count * VERTEX_SIZE
            for bi, b in enumerate(batches.tolist()):
                if b[4]:
                    draws.append((b[0], li, bi, base + b[3], b[4]))
            base += hdr.vertex_count
        screen_base = base
        if screen_hdr.vertex_count:
            self._upload(screen_region, screen_hdr.vertex_offset, screen_hdr.vertex_count * VERTEX_SIZE,
                         screen_base * VERTEX_SIZE, copy_upload)
            stats.bytes_uploaded += screen_hdr.vertex_count * VERTEX_SIZE
        stats.lists = len(plan) - 1
        stats.vertices = total

        # 3. draw in layer order; merge runs adjacent in the buffer
        GL.glViewport(0, 0, vw, vh)
        if clear is not None:
            GL.glClearColor(*clear)
            GL.glClear(GL.GL_COLOR_BUFFER_BIT)
        GL.glDisable(GL.GL_DEPTH_TEST)
        GL.glDisable(GL.GL_CULL_FACE)
        GL.glEnable(GL.GL_BLEND)
        GL.glBlendFunc(GL.GL_SRC_ALPHA, GL.GL_ONE_MINUS_SRC_ALPHA)
        GL.glUseProgram(self._program)
        GL.glUniform4f(self._u_transform, *cam.transform())
        GL.glUniform1f(self._u_lag, lag)
        GL.glVertexAttrib2f(2, 0.0, 0.0)  # the motion of lists without a stream
        draws.sort()
        stats.batches = len(draws) + len(screen_batches)
        stats.draw_calls = self._draw_runs([(d[3], d[4], moving[d[1]]) for d in draws])
        if len(screen_batches):
            GL.glUniform4f(self._u_transform, *Camera.pixels(vw, vh).transform())
            GL.glUniform1f(self._u_lag, 0.0)
            order = np.argsort(screen_batches["layer"], kind="stable")
            runs = [(screen_base + int(screen_batches["first"][k]), int(screen_batches["count"][k]),
                     False) for k in order]
            stats.draw_calls += self._draw_runs(runs)
        GL.glUseProgram(0)
        GL.glBindVertexArray(0)
        self.immediate.clear()
        self.screen.clear()
        self.stats = stats
        return stats

    @staticmethod
    def _upload(region: np.ndarray, offset: int, nbytes: int, dst: int, copy: bool) -> None:
        """``nbytes`` at ``offset`` of ``region`` into the bound buffer at byte ``dst``."""
        if copy:
            staged = np.array(region[offset : offset + nbytes])  # the copy the direct path avoids
            GL.glBufferSubData(GL.GL_ARRAY_BUFFER, dst, nbytes, ctypes.c_void_p(staged.ctypes.data))
        else:
            GL.glBufferSubData(GL.GL_ARRAY_BUFFER, dst, nbytes,
                               ctypes.c_void_p(region.ctypes.data + offset))

    @staticmethod
    def _draw_runs(runs: list[tuple[int, int, bool]]) -> int:
        """Draw ``(first, count, moving)`` runs, merging neighbours; the motion array is on for moving ones."""
        calls = 0
        start = cnt = -1
        state = run_moving = False  # attribute 2's array is disabled on entry
        for first, count, moving in runs:
            if cnt >= 0 and first == start + cnt and moving == run_moving:
                cnt += count
                continue
            if cnt > 0:
                if run_moving != state:
                    state = run_moving
                    (GL.glEnableVertexAttribArray if state else GL.glDisableVertexAttribArray)(2)
                GL.glDrawArrays(GL.GL_TRIANGLES, start, cnt)
                calls += 1
            start, cnt, run_moving = first, count, moving
        if cnt > 0:
            if run_moving != state:
                state = run_moving
                (GL.glEnableVertexAttribArray if state else GL.glDisableVertexAttribArray)(2)
            GL.glDrawArrays(GL.GL_TRIANGLES, start, cnt)
            calls += 1
        if state:
            GL.glDisableVertexAttribArray(2)
        return calls

    def upload_only(self, drawlists: Sequence[Any], *, copy: bool = False, motion: bool = False) -> int:
        """Upload ``drawlists`` into the vertex buffer without drawing (benchmarks); returns bytes.

        Unlike :meth:`render` it keeps the buffer's storage (no orphaning), so
        only the copy itself is measured. ``motion`` uploads the motion streams too.
        """
        self._live()
        regions = [resolve_region(s) for s in drawlists]
        headers = [read_header(r) for r in regions]
        total = sum(h.vertex_count for h in headers)
        moved = 0
        if motion:
            self._reserve_motion(total * MOTION_SIZE, orphan=False)
            base = 0
            for r, h in zip(regions, headers):
                if h.vertex_count and h.has_motion:
                    self._upload(r, h.motion_offset, h.vertex_count * MOTION_SIZE, base * MOTION_SIZE, copy)
                    moved += h.vertex_count * MOTION_SIZE
                base += h.vertex_count
        GL.glBindBuffer(GL.GL_ARRAY_BUFFER, self._vbo)
        self._reserve(total * VERTEX_SIZE, orphan=False)
        base = 0
        for r, h in zip(regions, headers):
            if h.vertex_count:
                self._upload(r, h.vertex_offset, h.vertex_count * VERTEX_SIZE, base * VERTEX_SIZE, copy)
            base += h.vertex_count
        GL.glFinish()
        return total * VERTEX_SIZE + moved

    # -- read back ----------------------------------------------------------------------

    def read_pixels(self) -> np.ndarray:
        """The last rendered frame as ``(h, w, 4)`` uint8 RGBA, top row first (call before swap)."""
        self._live()
        w, h = self._viewport
        if w <= 0 or h <= 0:
            raise RenderError("renderer: nothing rendered yet; call render() before read_pixels()")
        GL.glPixelStorei(GL.GL_PACK_ALIGNMENT, 1)
        GL.glReadBuffer(GL.GL_BACK)
        raw = GL.glReadPixels(0, 0, w, h, GL.GL_RGBA, GL.GL_UNSIGNED_BYTE)
        img = np.frombuffer(raw, dtype=np.uint8).reshape(h, w, 4)
        return np.ascontiguousarray(img[::-1])

    def save_png(self, path: str | Path) -> Path:
        """Write the last rendered frame to ``path`` as a PNG (creating its folder)."""
        from PIL import Image

        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(self.read_pixels(), "RGBA").save(out)
        return out

    # -- lifetime -------------------------------------------------------------------------

    def close(self) -> None:
        """Delete the GL objects (the context must still be current). Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        try:
            if self.window is not None and not self.window.closed:
                self.window.make_current()
            GL.glDeleteBuffers(2, [self._vbo, self._mvbo])
            GL.glDeleteVertexArrays(1, [self._vao])
            GL.glDeleteProgram(self._program)
        except Exception:  # the context may already be gone; its objects went with it
            pass

    def __enter__(self) -> Renderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{self._capacity} B vbo"
        return f"<Renderer {self.gl_version!r} {state}>"


def render_image(drawlists: Sequence[Any], camera: Camera, size: tuple[int, int] = (256, 256),
                 clear: Color = (0.0, 0.0, 0.0, 1.0), png: str | Path | None = None) -> np.ndarray:
    """Render ``drawlists`` once in a fresh hidden window of ``size``; the ``(h, w, 4)`` RGBA image.

    For screenshots and golden images of a tick with no window open (headless
    when there is no screen). Writes a PNG too when ``png`` is given.
    """
    from gpi.runtime.window import Window

    w, h = int(size[0]), int(size[1])
    with Window(w, h, "gpi render", hidden=True, resizable=False) as win, Renderer(win) as renderer:
        renderer.render(drawlists, Camera(camera.center, camera.zoom, (w, h)), clear,
                        viewport=(w, h), strict=True)
        if png is not None:
            renderer.save_png(png)
        return renderer.read_pixels()
