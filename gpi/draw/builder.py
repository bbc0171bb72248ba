"""The draw-list builder: :class:`DrawList`, what plugins and the host draw with.

A :class:`DrawList` owns one writable region in the format of
:mod:`gpi.draw.format`. Column draws (:meth:`DrawList.draw_quads`, ...) run a
kernel of :mod:`gpi.cython_ext.draw` straight into the free vertices;
immediate shapes (:meth:`DrawList.rect`, :meth:`DrawList.circle`,
:meth:`DrawList.line`, :meth:`DrawList.text`) are queued and written by one
kernel call at the next column draw or :meth:`DrawList.finish`, which
publishes the batch table (sorted by layer, stably) and the header.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from gpi.cython_ext.draw import (
    DEFAULT_CIRCLE_SEGMENTS,
    LAYER_MAX,
    LAYER_MIN,
    MOTION_SIZE,
    VERTEX_SIZE,
    DrawListError,
    DrawListFullError,
    KernelResult,
    Scratch,
    View,
    as_u8,
    build_circles,
    build_lines,
    build_quads,
    unit_circle,
    view_bounds,
)
from gpi.draw.font import text_quads
from gpi.draw.format import (
    BATCH_ROW,
    BATCH_STRUCT,
    DEFAULT_BATCH_CAPACITY,
    HEADER_SIZE,
    HEADER_STRUCT,
    KIND_CIRCLE,
    KIND_LINE,
    KIND_QUAD,
    MAGIC,
    VERSION,
    Header,
    layout_for,
    motion_layout,
    required_bytes,
)

__all__ = ["DrawList"]


class DrawList:
    """Builds one draw list in a writable region: kernel draws for columns, immediate shapes, text.

    Call :meth:`clear` at the start of a frame, draw, then :meth:`finish` to
    publish the batch table and header. Immediate shapes (:meth:`rect`,
    :meth:`circle`, :meth:`line`, :meth:`text`) are queued and written by one
    kernel call when the next column draw or :meth:`finish` comes, keeping
    submission order.

    ``motion``: None (default) lays out a list without a motion stream and
    adds one at the first column draw that passes ``motion`` (shrinking the
    vertex capacity; it stays on from then); True lays it out at once; False
    never adds one and ignores ``motion`` arguments.
    """

    def __init__(self, buffer: Any, *, batch_capacity: int = DEFAULT_BATCH_CAPACITY,
                 circle_segments: int = DEFAULT_CIRCLE_SEGMENTS, motion: bool | None = None) -> None:
        """Take over ``buffer`` (a Segment, uint8 array, bytearray...) and write an empty draw list."""
        self._buf = as_u8(buffer, writable=True)
        if self._buf.ctypes.data % 4:
            raise DrawListError("draw-list buffer must be 4-byte aligned")
        if batch_capacity < 1:
            raise DrawListError(f"batch_capacity must be positive, got {batch_capacity}")
        self._voff, self._vcap = layout_for(self._buf.size, batch_capacity)
        if self._voff > self._buf.size:
            raise DrawListFullError(
                f"draw-list region of {self._buf.size} bytes cannot even hold the header and "
                f"{batch_capacity} batch rows ({self._voff} bytes); use required_bytes()"
            )
        self._bcap = int(batch_capacity)
        self._vbytes = self._buf[self._voff : self._voff + self._vcap * VERTEX_SIZE]
        self._motion_mode = motion
        self._moff = 0
        self._mbytes: np.ndarray | None = None
        self._unit = unit_circle(circle_segments)
        self._scratch = Scratch()
        self._batches: list[list[int]] = []  # [layer, kind, first, count]
        self._n = 0
        self._pending_kind = 0
        self._pending: list[tuple[np.ndarray, ...]] = []
        self._sequence = 0
        self.view: View | None = None
        if motion:
            self._enable_motion()
        self.finish()

    @classmethod
    def allocate(cls, vertex_capacity: int, *, batch_capacity: int = DEFAULT_BATCH_CAPACITY,
                 circle_segments: int = DEFAULT_CIRCLE_SEGMENTS, motion: bool | None = None) -> DrawList:
        """A draw list over a new private numpy buffer holding ``vertex_capacity`` vertices.

        With ``motion=True`` the buffer also holds their motion stream (see the class doc).
        """
        buf = np.zeros(required_bytes(vertex_capacity, batch_capacity, motion=bool(motion)),
                       dtype=np.uint8)
        return cls(buf, batch_capacity=batch_capacity, circle_segments=circle_segments, motion=motion)

    def _enable_motion(self) -> None:
        """Lay out the motion stream after the vertices; what is drawn so far gets zero motion."""
        cap, moff = motion_layout(self._buf.size, self._voff)
        if self._n > cap:
            raise DrawListFullError(
                f"draw list: {self._n} vertices drawn this frame leave no room for a motion stream "
                f"(capacity with motion: {cap}); draw with motion first or use a larger region"
            )
        self._vcap, self._moff = cap, moff
        self._vbytes = self._buf[self._voff : self._voff + cap * VERTEX_SIZE]
        self._mbytes = self._buf[moff : moff + cap * MOTION_SIZE]
        self._mbytes[: self._n * MOTION_SIZE] = 0

    # -- state ----------------------------------------------------------------------

    @property
    def buffer(self) -> np.ndarray:
        """The whole region as a flat uint8 array."""
        return self._buf

    @property
    def vertex_count(self) -> int:
        """Vertices written since :meth:`clear` (immediate shapes count once flushed)."""
        return self._n

    @property
    def vertex_capacity(self) -> int:
        """Vertices the region can hold."""
        return self._vcap

    @property
    def motion_offset(self) -> int:
        """Byte offset of the motion stream in the region (0: the list has none)."""
        return self._moff

    @property
    def batches(self) -> list[tuple[int, int, int, int]]:
        """``(layer, kind, first, count)`` per batch, in submission order (flushes pending shapes)."""
        self._flush()
        return [(b[0], b[1], b[2], b[3]) for b in self._batches]

    def set_view(self, view: View | None) -> None:
        """Cull against ``(x0, y0, x1, y1)`` in world units from now on (None: no culling)."""
        self._flush()
        if view is not None and len(view) != 4:
            raise DrawListError(f"view must be (x0, y0, x1, y1), got {view!r}")
        self.view = None if view is None else (
            float(view[0]), float(view[1]), float(view[2]), float(view[3]))

    def clear(self) -> None:
        """Forget everything drawn (the header keeps the last published frame until finish())."""
        self._batches.clear()
        self._pending.clear()
        self._pending_kind = 0
        self._n = 0

    def finish(self) -> Header:
        """Flush queued shapes, write the batch table (sorted by layer, stable) and the header."""
        self._flush()
        ordered = sorted(self._batches, key=lambda b: b[0]) if len(self._batches) > 1 else self._batches
        buf = memoryview(self._buf)  # type: ignore[arg-type]  # numpy arrays are buffers
        pack_row = BATCH_STRUCT.pack_into
        for i, (layer, kind, first, count) in enumerate(ordered):  # rows of BATCH_DTYPE
            pack_row(buf, HEADER_SIZE + i * BATCH_ROW, layer, kind, 0, first, count)
        self._sequence = (self._sequence + 1) & 0xFFFFFFFF
        x0, y0, x1, y1 = view_bounds(self.view)
        HEADER_STRUCT.pack_into(buf, 0, MAGIC, VERSION, VERTEX_SIZE, self._voff, self._vcap, self._n,
                                 self._bcap, len(ordered), self._sequence, x0, y0, x1, y1, self._moff)
        return Header(self._voff, self._vcap, self._n, self._bcap, len(ordered), self._sequence,
                      (float(x0), float(y0), float(x1), float(y1)), self._buf.size, self._moff)

    # -- column draws (kernels) -------------------------------------------------------

    def _free_bytes(self) -> np.ndarray:
        return self._vbytes[self._n * VERTEX_SIZE :]

    def _free_motion(self, motion: Any) -> tuple[Any, np.ndarray | None]:
        """``(motion to pass, motion output)`` for the next kernel call (turns the stream on)."""
        if motion is not None and self._moff == 0:
            if self._motion_mode is False:
                return None, None
            self._enable_motion()
        if self._mbytes is None:
            return None, None
        return motion, self._mbytes[self._n * MOTION_SIZE :]

    def _commit(self, kind: int, res: KernelResult) -> int:
        first = self._n
        grow = 0  # vertices appended to the last batch (same layer and kind, contiguous)
        new: list[list[int]] = []
        last = self._batches[-1] if self._batches else None
        for layer, cnt in zip(res.layers.tolist(), res.counts.tolist()):
            nv = cnt * res.vertices_per_shape
            if first == self._n and last is not None and last[0] == layer and last[1] == kind \
                    and last[2] + last[3] == first:
                grow = nv
            else:
                new.append([layer, kind, first, nv])
            first += nv
        if len(self._batches) + len(new) > self._bcap:
            raise DrawListFullError(
                f"draw list: {len(self._batches) + len(new)} batches exceed the batch capacity "
                f"{self._bcap}; use fewer layers per frame or a larger batch_capacity"
            )
        if last is not None:
            last[3] += grow
        self._batches.extend(new)
        self._n = first
        return res.shapes

    def draw_quads(self, pos: Any, size: Any, color: Any, layer: Any = 0,
                   rotation: Any = None, motion: Any = None) -> int:
        """Quads centred on ``pos`` [n, 2] of ``size`` [n, 2], rotated by ``rotation`` radians; returns shapes kept.

        ``motion`` [n, 2] (or one row for all): how far each entity moved during
        the last tick, e.g. ``Velocity * dt``; the renderer interpolates with it.
        """
        self._flush()
        m, mo = self._free_motion(motion)
        res = build_quads(self._free_bytes(), pos, size, color, layer, rotation, self.view,
                          self._scratch, m, mo)
        return self._commit(KIND_QUAD, res)

    def draw_circles(self, pos: Any, radius: Any, color: Any, layer: Any = 0,
                     motion: Any = None) -> int:
        """Circles centred on ``pos`` [n, 2] of ``radius`` [n]; ``motion`` as in draw_quads; returns shapes kept."""
        self._flush()
        m, mo = self._free_motion(motion)
        res = build_circles(self._free_bytes(), pos, radius, color, layer, self.view,
                            scratch=self._scratch, unit=self._unit, motion=m, motion_out=mo)
        return self._commit(KIND_CIRCLE, res)

    def draw_lines(self, pos: Any, end: Any, width: Any, color: Any, layer: Any = 0,
                   motion: Any = None) -> int:
        """Segments from ``pos`` [n, 2] to ``pos + end`` of ``width`` [n]; ``motion`` as in draw_quads."""
        self._flush()
        m, mo = self._free_motion(motion)
        res = build_lines(self._free_bytes(), pos, end, width, color, layer, self.view,
                          self._scratch, m, mo)
        return self._commit(KIND_LINE, res)

    def draw_quad_components(self, pos: Any, quad: Any, motion: Any = None) -> int:
        """Draw entities from their Position column and ``Quad`` column (see gpi.ecs.render_components)."""
        q = np.asarray(quad)
        return self.draw_quads(pos, q["size"], q["color"], q["layer"], q["rotation"], motion)

    def draw_circle_components(self, pos: Any, circle: Any, motion: Any = None) -> int:
        """Draw entities from their Position column and ``Circle`` column."""
        c = np.asarray(circle)
        return self.draw_circles(pos, c["radius"], c["color"], c["layer"], motion)

    def draw_line_components(self, pos: Any, line: Any, motion: Any = None) -> int:
        """Draw entities from their Position column and ``Line`` column."""
        ln = np.asarray(line)
        return self.draw_lines(pos, ln["end"], ln["width"], ln["color"], ln["layer"], motion)

    # -- immediate shapes ---------------------------------------------------------------

    def _queue(self, kind: int, *cols: np.ndarray) -> None:
        if self._pending_kind != kind:
            self._flush()
            self._pending_kind = kind
        self._pending.append(cols)

    def _flush(self) -> None:
        if not self._pending:
            return
        kind, pending = self._pending_kind, self._pending
        self._pending, self._pending_kind = [], 0
        cols = [np.concatenate(parts) for parts in zip(*pending)]
        _, mo = self._free_motion(None)  # immediate shapes do not move: zero motion
        if kind == KIND_QUAD:
            pos, size, rot, color, layer = cols
            res = build_quads(self._free_bytes(), pos, size, color, layer,
                              rot if np.any(rot) else None, self.view, self._scratch, motion_out=mo)
        elif kind == KIND_CIRCLE:
            pos, radius, color, layer = cols
            res = build_circles(self._free_bytes(), pos, radius, color, layer, self.view,
                                scratch=self._scratch, unit=self._unit, motion_out=mo)
        else:
            pos, end, width, color, layer = cols
            res = build_lines(self._free_bytes(), pos, end, width, color, layer, self.view,
                              self._scratch, motion_out=mo)
        self._commit(kind, res)

    @staticmethod
    def _rgba(color: Sequence[int]) -> np.ndarray:
        c = np.asarray(color, dtype=np.int64).reshape(-1)
        if c.size == 3:
            c = np.append(c, 255)
        if c.size != 4 or c.min() < 0 or c.max() > 255:
            raise DrawListError(f"color {color!r}: expected (r, g, b[, a]) in 0..255")
        return c.astype(np.uint8).reshape(1, 4)

    @staticmethod
    def _layer(layer: int) -> np.ndarray:
        if not LAYER_MIN <= int(layer) <= LAYER_MAX:
            raise DrawListError(f"layer {layer}: must lie in [{LAYER_MIN}, {LAYER_MAX}]")
        return np.array([int(layer)], dtype=np.int32)

    def rect(self, x: float, y: float, w: float, h: float, color: Sequence[int],
             layer: int = 0, rotation: float = 0.0) -> None:
        """A ``w`` x ``h`` rectangle with its lower-left corner at (x, y), rotated about its centre."""
        self._queue(KIND_QUAD, np.array([[x + w / 2, y + h / 2]], np.float32),
                    np.array([[w, h]], np.float32), np.array([rotation], np.float32),
                    self._rgba(color), self._layer(layer))

    def circle(self, x: float, y: float, radius: float, color: Sequence[int], layer: int = 0) -> None:
        """A filled circle centred on (x, y)."""
        self._queue(KIND_CIRCLE, np.array([[x, y]], np.float32),
                    np.array([radius], np.float32), self._rgba(color), self._layer(layer))

    def line(self, x0: float, y0: float, x1: float, y1: float, color: Sequence[int],
             width: float = 1.0, layer: int = 0) -> None:
        """A segment from (x0, y0) to (x1, y1), ``width`` world units thick."""
        self._queue(KIND_LINE, np.array([[x0, y0]], np.float32),
                    np.array([[x1 - x0, y1 - y0]], np.float32), np.array([width], np.float32),
                    self._rgba(color), self._layer(layer))

    def text(self, x: float, y: float, text: str, color: Sequence[int], scale: float = 1.0,
             layer: int = 0) -> None:
        """``text`` in the built-in 6x11 pixel font, top-left at (x, y), ``scale`` units per font pixel."""
        centres, sizes = text_quads(x, y, text, scale)
        k = centres.shape[0]
        if k == 0:
            return
        self._queue(KIND_QUAD, centres, sizes, np.zeros(k, np.float32),
                    np.repeat(self._rgba(color), k, axis=0), np.repeat(self._layer(layer), k))

    def __repr__(self) -> str:
        motion = ", motion" if self._moff else ""
        return (f"<DrawList {self._n}/{self._vcap} vertices{motion}, {len(self._batches)}/{self._bcap} "
                f"batches, seq {self._sequence}>")
