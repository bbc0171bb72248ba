"""The draw-list byte format: layout, header and batch table, and the checked readers.

A draw list is one flat, writable byte region (typically a :class:`gpi.shm.Segment`
that a child process writes and the host reads). The child turns its entities'
component columns into triangles with the kernels of :mod:`gpi.cython_ext.draw`
(through :class:`gpi.draw.DrawList`); the host's renderer uploads the vertex
bytes straight from that memory to the GPU. Nothing is serialised and nothing
is copied on the way.

Byte layout (all little-endian; offsets from the start of the region)::

    offset  size  field
    0       4     magic            b"GPDL"
    4       2     version          uint16, currently 1
    6       2     vertex_size      uint16, 12
    8       4     vertex_offset    uint32, byte offset of vertex 0 (a multiple of 64)
    12      4     vertex_capacity  uint32, vertices that fit in the region
    16      4     vertex_count     uint32, vertices written by the last finish()
    20      4     batch_capacity   uint32, rows in the batch table
    24      4     batch_count      uint32, rows used by the last finish()
    28      4     sequence         uint32, bumped by every finish() (wraps)
    32      16    view             float32[4] x0, y0, x1, y1 used for culling
                                   (+inf/-inf when there was none)
    48      4     motion_offset    uint32, byte offset of the motion stream, 0 = none
    52      12    reserved         zero
    64      16*B  batch table, B = batch_capacity rows of
                    int32  layer   (in [-32768, 32767])
                    uint16 kind    1 quad, 2 circle, 3 line (informational)
                    uint16 flags   0
                    uint32 first   first vertex of the batch
                    uint32 count   vertices in the batch (a multiple of 3)
    vertex_offset   vertex_capacity * 12 bytes of vertices
                    float32 x, float32 y (world units), uint8 r, g, b, a
    motion_offset   (only when motion_offset != 0) vertex_capacity * 8 bytes of motion
                    float32 dx, float32 dy (world units) per vertex, same index

Motion (render interpolation): a list may carry, per vertex, how far that
vertex moved during the last simulation tick. The host renders each frame
``alpha`` of the way between two ticks (see :mod:`gpi.runtime.loop`) by
drawing ``pos - motion * (1 - alpha)``: at ``alpha = 1`` that is the tick's
own state. A plugin passes ``motion=Velocity * dt`` to a column draw (the
movement integrator's ``Position += Velocity * dt`` is exactly that
displacement); immediate shapes and text, and column draws without
``motion``, get zero motion. The stream starts at ``align64(vertex_offset +
vertex_capacity * 12)``; a list that never had motion has ``motion_offset`` 0
and is byte for byte the version-1 list of before (same capacity, same
header), and readers that ignore ``motion_offset`` (it used to be reserved)
still read every list correctly, only without interpolation. By default a
:class:`~gpi.draw.DrawList` turns the stream on at its first draw that passes
``motion`` (the vertex capacity then shrinks from ``size / 12`` to about
``size / 20``); ``DrawList(..., motion=True)`` lays it out from the start and
``motion=False`` never does (``motion`` arguments are then ignored).

Every shape is plain triangles (no index buffer): a quad or a line is 6
vertices (two triangles), a circle of ``N`` segments is ``3N`` vertices (a fan
written out as triangles). Batches are sorted by layer at :meth:`~gpi.draw.DrawList.finish`,
stably, so shapes in one layer draw in submission order; within one kernel call
the entities of one layer keep their row order. The renderer draws the batches
of all draw lists together: by layer, then by draw-list order (host first, then
each child in schedule order), then by batch order.

Culling: each kernel drops entities whose bounds miss the view rectangle
``(x0, y0, x1, y1)`` (world units): a quad's bounds are the square around its
bounding circle (radius ``|size|/2``), a circle's the square around it, a
line's its end points' box grown by half the width. Culling is conservative: a
shape that survives may still be off screen, a culled one never is on screen.

Invariants a reader may rely on after validation (:func:`read_header`):
``vertex_offset + vertex_capacity * 12 <= len(region)``,
``vertex_count <= vertex_capacity``, ``batch_count <= batch_capacity``,
``motion_offset`` is 0 or a multiple of 4 at or after the end of the vertices
with ``motion_offset + vertex_capacity * 8 <= len(region)``, and, for each
batch checked by :func:`read_batches`, ``first + count <= vertex_count``.
A reader in another process must read the header once and use only those
values: the writer may change the bytes at any time, and the checks keep even a
hostile writer from making the reader touch memory outside the region.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

from gpi.cython_ext.draw import (
    MOTION_SIZE,
    VERTEX_DTYPE,
    VERTEX_SIZE,
    DrawListError,
    View,
    as_u8,
)

__all__ = [
    "BATCH_DTYPE",
    "BATCH_ROW",
    "BATCH_STRUCT",
    "DEFAULT_BATCH_CAPACITY",
    "HEADER_DTYPE",
    "HEADER_SIZE",
    "HEADER_STRUCT",
    "KIND_CIRCLE",
    "KIND_LINE",
    "KIND_QUAD",
    "MAGIC",
    "MAX_VERTICES",
    "VERSION",
    "DrawListFormatError",
    "Header",
    "layout_for",
    "motion_layout",
    "motion_view",
    "read_batches",
    "read_header",
    "required_bytes",
    "vertex_view",
]

MAGIC = b"GPDL"
VERSION = 1
HEADER_SIZE = 64
BATCH_ROW = 16
KIND_QUAD, KIND_CIRCLE, KIND_LINE = 1, 2, 3
# Vertex indices reach OpenGL as GLint: a list holds at most 2**31 - 1 vertices.
MAX_VERTICES = (1 << 31) - 1
# 1024 batches = 16 KiB of table: enough for many layers times many calls per frame.
DEFAULT_BATCH_CAPACITY = 1024

BATCH_DTYPE = np.dtype(
    [("layer", "<i4"), ("kind", "<u2"), ("flags", "<u2"), ("first", "<u4"), ("count", "<u4")]
)
HEADER_DTYPE = np.dtype(
    [
        ("magic", "S4"),
        ("version", "<u2"),
        ("vertex_size", "<u2"),
        ("vertex_offset", "<u4"),
        ("vertex_capacity", "<u4"),
        ("vertex_count", "<u4"),
        ("batch_capacity", "<u4"),
        ("batch_count", "<u4"),
        ("sequence", "<u4"),
        ("view", "<f4", (4,)),
        ("motion_offset", "<u4"),
        ("reserved", "V12"),
    ]
)
assert BATCH_DTYPE.itemsize == BATCH_ROW and HEADER_DTYPE.itemsize == HEADER_SIZE
assert VERTEX_DTYPE.itemsize == VERTEX_SIZE

# The same bytes as one HEADER_DTYPE record / one BATCH_DTYPE row (reserved and flags zero),
# written with struct: a finish() that publishes a few batches costs microseconds.
HEADER_STRUCT = struct.Struct("<4sHHIIIIII4fI12x")
BATCH_STRUCT = struct.Struct("<iHHII")
assert HEADER_STRUCT.size == HEADER_SIZE and BATCH_STRUCT.size == BATCH_ROW


class DrawListFormatError(DrawListError):
    """A draw-list region does not hold a valid draw list (bad magic, version or counts)."""


# -- layout ---------------------------------------------------------------------------


def _align64(n: int) -> int:
    return (n + 63) & ~63


def motion_layout(nbytes: int, vertex_offset: int) -> tuple[int, int]:
    """``(vertex_capacity, motion_offset)`` when the region also holds a motion stream."""
    cap = min(MAX_VERTICES, max(0, (int(nbytes) - vertex_offset) // (VERTEX_SIZE + MOTION_SIZE)))
    while cap > 0 and _align64(vertex_offset + cap * VERTEX_SIZE) + cap * MOTION_SIZE > nbytes:
        cap -= 1  # the 64-byte alignment of the stream costs at most a few vertices
    return cap, _align64(vertex_offset + cap * VERTEX_SIZE)


def layout_for(nbytes: int, batch_capacity: int = DEFAULT_BATCH_CAPACITY,
               motion: bool = False) -> tuple[int, int]:
    """``(vertex_offset, vertex_capacity)`` for a region of ``nbytes`` with ``batch_capacity`` rows."""
    offset = _align64(HEADER_SIZE + BATCH_ROW * int(batch_capacity))
    if motion:
        return offset, motion_layout(nbytes, offset)[0]
    return offset, min(MAX_VERTICES, max(0, (int(nbytes) - offset) // VERTEX_SIZE))


def required_bytes(vertices: int, batch_capacity: int = DEFAULT_BATCH_CAPACITY,
                   motion: bool = False) -> int:
    """Bytes a region needs to hold ``vertices`` vertices (and their motion) and ``batch_capacity`` batches."""
    end = _align64(HEADER_SIZE + BATCH_ROW * int(batch_capacity)) + VERTEX_SIZE * int(vertices)
    return _align64(end) + MOTION_SIZE * int(vertices) if motion else end



@dataclass(frozen=True)
class Header:
    """A validated copy of a draw list's header."""

    vertex_offset: int
    vertex_capacity: int
    vertex_count: int
    batch_capacity: int
    batch_count: int
    sequence: int
    view: View
    nbytes: int
    motion_offset: int = 0

    @property
    def has_motion(self) -> bool:
        """Whether the list carries a per-vertex motion stream."""
        return self.motion_offset != 0


def read_header(buffer: Any) -> Header:
    """Read and validate the header of the draw list in ``buffer`` (a copy: safe against later writes)."""
    arr = as_u8(buffer, writable=False)
    if arr.size < HEADER_SIZE:
        raise DrawListFormatError(
            f"draw list: region of {arr.size} bytes is smaller than the {HEADER_SIZE}-byte header"
        )
    h = arr[:HEADER_SIZE].copy().view(HEADER_DTYPE)[0]
    if bytes(h["magic"]) != MAGIC:
        raise DrawListFormatError(
            f"draw list: bad magic {bytes(h['magic'])!r} (expected {MAGIC!r}); "
            "the region was never initialised by DrawList or was overwritten"
        )
    if int(h["version"]) != VERSION or int(h["vertex_size"]) != VERTEX_SIZE:
        raise DrawListFormatError(
            f"draw list: version {int(h['version'])} / vertex size {int(h['vertex_size'])} "
            f"unsupported (this build reads version {VERSION}, {VERTEX_SIZE}-byte vertices)"
        )
    voff, vcap, vcount = int(h["vertex_offset"]), int(h["vertex_capacity"]), int(h["vertex_count"])
    bcap, bcount = int(h["batch_capacity"]), int(h["batch_count"])
    problems = []
    if voff < HEADER_SIZE + BATCH_ROW * bcap or voff % 4:
        problems.append(f"vertex_offset {voff} overlaps the batch table or is misaligned")
    if voff + vcap * VERTEX_SIZE > arr.size:
        problems.append(f"{vcap} vertices at offset {voff} exceed the {arr.size}-byte region")
    if vcount > vcap:
        problems.append(f"vertex_count {vcount} > vertex_capacity {vcap}")
    if bcount > bcap:
        problems.append(f"batch_count {bcount} > batch_capacity {bcap}")
    moff = int(h["motion_offset"])
    if moff and (moff < voff + vcap * VERTEX_SIZE or moff % 4
                 or moff + vcap * MOTION_SIZE > arr.size):
        problems.append(
            f"motion_offset {moff} overlaps the vertices, is misaligned or its {vcap} motion "
            f"rows exceed the {arr.size}-byte region")
    if problems:
        raise DrawListFormatError("draw list: corrupt header: " + "; ".join(problems))
    v = h["view"]
    return Header(voff, vcap, vcount, bcap, bcount, int(h["sequence"]),
                  (float(v[0]), float(v[1]), float(v[2]), float(v[3])), int(arr.size), moff)


def read_batches(buffer: Any, header: Header | None = None) -> np.ndarray:
    """A validated copy of the batch table (``BATCH_DTYPE`` rows) of the draw list in ``buffer``."""
    arr = as_u8(buffer, writable=False)
    hdr = header if header is not None else read_header(arr)
    raw = arr[HEADER_SIZE : HEADER_SIZE + BATCH_ROW * hdr.batch_count].copy()
    batches = raw.view(BATCH_DTYPE)
    ends = batches["first"].astype(np.int64) + batches["count"].astype(np.int64)
    bad = (ends > hdr.vertex_count) | (batches["count"] % 3 != 0)
    if np.any(bad):
        i = int(np.flatnonzero(bad)[0])
        raise DrawListFormatError(
            f"draw list: batch {i} (first {int(batches['first'][i])}, count "
            f"{int(batches['count'][i])}) runs past vertex_count {hdr.vertex_count} "
            "or is not whole triangles"
        )
    return batches


def vertex_view(buffer: Any, header: Header | None = None) -> np.ndarray:
    """The written vertices of the draw list in ``buffer`` as a ``VERTEX_DTYPE`` view (no copy)."""
    arr = as_u8(buffer, writable=False)
    hdr = header if header is not None else read_header(arr)
    start = hdr.vertex_offset
    return arr[start : start + hdr.vertex_count * VERTEX_SIZE].view(VERTEX_DTYPE)


def motion_view(buffer: Any, header: Header | None = None) -> np.ndarray | None:
    """The written vertices' motion as a float32 ``[vertex_count, 2]`` view (no copy); None without."""
    arr = as_u8(buffer, writable=False)
    hdr = header if header is not None else read_header(arr)
    if not hdr.motion_offset:
        return None
    start = hdr.motion_offset
    return arr[start : start + hdr.vertex_count * MOTION_SIZE].view("<f4").reshape(-1, 2)
