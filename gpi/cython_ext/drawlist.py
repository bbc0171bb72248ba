"""Draw lists: the byte format, the kernels that fill them, and the builder plugins use.

A draw list is one flat, writable byte region (typically a :class:`gpi.shm.Segment`
that a child process writes and the host reads). The child turns its entities'
component columns into triangles with the Cython kernels of
:mod:`gpi.cython_ext._draw`; the host's renderer uploads the vertex bytes
straight from that memory to the GPU. Nothing is serialised and nothing is
copied on the way.

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
:class:`DrawList` turns the stream on at its first draw that passes
``motion`` (the vertex capacity then shrinks from ``size / 12`` to about
``size / 20``); ``DrawList(..., motion=True)`` lays it out from the start and
``motion=False`` never does (``motion`` arguments are then ignored).

Every shape is plain triangles (no index buffer): a quad or a line is 6
vertices (two triangles), a circle of ``N`` segments is ``3N`` vertices (a fan
written out as triangles). Batches are sorted by layer at :meth:`DrawList.finish`,
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

The compiled kernels are chosen once at import; if they were not built, the
numpy reference implementations below take their place (same bytes, slower).
``BACKEND`` says which is in use. With a rotation the two may differ in the
last bits of a vertex (the kernel's float sine/cosine against numpy's
``cos``/``sin``: about 1e-7 of the quad's size); everything else is the same
byte for byte.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gpi.errors import GpiError

try:  # the compiled kernels; the numpy references below stand in when missing
    from gpi.cython_ext import _draw as _kernels  # type: ignore[attr-defined]

    BACKEND = "cython"
except ImportError:  # pragma: no cover - exercised only on a build without extensions
    _kernels = None  # type: ignore[assignment]
    BACKEND = "numpy"

__all__ = [
    "BACKEND",
    "BATCH_DTYPE",
    "DEFAULT_BATCH_CAPACITY",
    "DEFAULT_CIRCLE_SEGMENTS",
    "FONT_CELL",
    "HEADER_DTYPE",
    "HEADER_SIZE",
    "KIND_CIRCLE",
    "KIND_LINE",
    "KIND_QUAD",
    "LAYER_MAX",
    "LAYER_MIN",
    "MAGIC",
    "MOTION_SIZE",
    "VERSION",
    "VERTEX_DTYPE",
    "VERTEX_SIZE",
    "DrawList",
    "DrawListError",
    "DrawListFormatError",
    "DrawListFullError",
    "Header",
    "KernelResult",
    "build_circles",
    "build_lines",
    "build_quads",
    "circles_reference",
    "layout_for",
    "lines_reference",
    "motion_view",
    "quads_reference",
    "read_batches",
    "read_header",
    "required_bytes",
    "text_quads",
    "unit_circle",
    "vertex_view",
]

MAGIC = b"GPDL"
VERSION = 1
HEADER_SIZE = 64
BATCH_ROW = 16
VERTEX_SIZE = 12
MOTION_SIZE = 8  # float32 dx, dy per vertex
LAYER_MIN, LAYER_MAX = -32768, 32767
_LAYER_SLOTS = 65536  # one counting-sort slot per int16 layer value
KIND_QUAD, KIND_CIRCLE, KIND_LINE = 1, 2, 3
# Vertex indices reach OpenGL as GLint: a list holds at most 2**31 - 1 vertices.
MAX_VERTICES = (1 << 31) - 1
# 1024 batches = 16 KiB of table: enough for many layers times many calls per frame.
DEFAULT_BATCH_CAPACITY = 1024
# 24 segments: a circle 100 px across deviates from round by < 1 px.
DEFAULT_CIRCLE_SEGMENTS = 24

VERTEX_DTYPE = np.dtype([("pos", "<f4", (2,)), ("color", "u1", (4,))])
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
assert VERTEX_DTYPE.itemsize == VERTEX_SIZE and BATCH_DTYPE.itemsize == BATCH_ROW
assert HEADER_DTYPE.itemsize == HEADER_SIZE

_INF = np.float32(np.inf)
# The same bytes as one HEADER_DTYPE record / one BATCH_DTYPE row (reserved and flags zero),
# written with struct: a finish() that publishes a few batches costs microseconds.
_HEADER_STRUCT = struct.Struct("<4sHHIIIIII4fI12x")
_BATCH_STRUCT = struct.Struct("<iHHII")
assert _HEADER_STRUCT.size == HEADER_SIZE and _BATCH_STRUCT.size == BATCH_ROW
View = tuple[float, float, float, float]


# -- errors ---------------------------------------------------------------------------


class DrawListError(GpiError, ValueError):
    """A draw call got bad input (shapes, dtypes, layers out of range)."""


class DrawListFullError(DrawListError, BufferError):
    """The draw-list region has no room for the vertices or batches asked for."""


class DrawListFormatError(DrawListError):
    """A draw-list region does not hold a valid draw list (bad magic, version or counts)."""


# -- layout ---------------------------------------------------------------------------


def _align64(n: int) -> int:
    return (n + 63) & ~63


def _motion_layout(nbytes: int, vertex_offset: int) -> tuple[int, int]:
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
        return offset, _motion_layout(nbytes, offset)[0]
    return offset, min(MAX_VERTICES, max(0, (int(nbytes) - offset) // VERTEX_SIZE))


def required_bytes(vertices: int, batch_capacity: int = DEFAULT_BATCH_CAPACITY,
                   motion: bool = False) -> int:
    """Bytes a region needs to hold ``vertices`` vertices (and their motion) and ``batch_capacity`` batches."""
    end = _align64(HEADER_SIZE + BATCH_ROW * int(batch_capacity)) + VERTEX_SIZE * int(vertices)
    return _align64(end) + MOTION_SIZE * int(vertices) if motion else end


def _as_u8(buffer: Any, *, writable: bool) -> np.ndarray:
    """``buffer`` (Segment, ndarray, bytearray, memoryview, ...) as a flat uint8 array, no copy."""
    if hasattr(buffer, "array_view"):
        arr = buffer.array_view()
    elif isinstance(buffer, np.ndarray):
        if not buffer.flags.c_contiguous:
            raise DrawListError("draw-list buffer must be C-contiguous; pass a contiguous array")
        arr = buffer.reshape(-1).view(np.uint8)
    else:
        arr = np.frombuffer(memoryview(buffer).cast("B"), dtype=np.uint8)
    if writable and not arr.flags.writeable:
        raise DrawListError(
            "draw-list buffer is read-only; a DrawList needs the writable mapping "
            "(the process that owns the draw-list segment writes it)"
        )
    return arr


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
    arr = _as_u8(buffer, writable=False)
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
    arr = _as_u8(buffer, writable=False)
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
    arr = _as_u8(buffer, writable=False)
    hdr = header if header is not None else read_header(arr)
    start = hdr.vertex_offset
    return arr[start : start + hdr.vertex_count * VERTEX_SIZE].view(VERTEX_DTYPE)


def motion_view(buffer: Any, header: Header | None = None) -> np.ndarray | None:
    """The written vertices' motion as a float32 ``[vertex_count, 2]`` view (no copy); None without."""
    arr = _as_u8(buffer, writable=False)
    hdr = header if header is not None else read_header(arr)
    if not hdr.motion_offset:
        return None
    start = hdr.motion_offset
    return arr[start : start + hdr.vertex_count * MOTION_SIZE].view("<f4").reshape(-1, 2)


# -- input normalisation ----------------------------------------------------------------


def _floats(x: Any, n: int, width: int, name: str) -> np.ndarray:
    """``x`` as float32 ``[n]`` (width 0) or ``[n, width]``, broadcasting scalars without a copy."""
    a = np.asarray(x)
    if a.dtype != np.float32:
        if a.dtype.kind not in "fiub":
            raise DrawListError(f"{name}: expected numbers, got dtype {a.dtype}")
        a = a.astype(np.float32)
    shape = (n,) if width == 0 else (n, width)
    try:
        return np.broadcast_to(a, shape)
    except ValueError:
        raise DrawListError(
            f"{name}: shape {a.shape} does not fit {shape} (one value per entity, or one for all)"
        ) from None


def _colors(x: Any, n: int, name: str = "color") -> np.ndarray:
    a = np.asarray(x)
    if a.dtype != np.uint8:
        if a.dtype.kind not in "iu":
            raise DrawListError(f"{name}: expected uint8 RGBA in 0..255, got dtype {a.dtype}")
        if a.size and (a.min() < 0 or a.max() > 255):
            raise DrawListError(f"{name}: RGBA values must be in 0..255")
        a = a.astype(np.uint8)
    if a.shape[-1:] == (3,):
        raise DrawListError(f"{name}: expected RGBA (4 values), got RGB; append an alpha of 255")
    try:
        return np.broadcast_to(a, (n, 4))
    except ValueError:
        raise DrawListError(f"{name}: shape {a.shape} does not fit ({n}, 4)") from None


def _layers(x: Any, n: int) -> np.ndarray:
    a = np.asarray(x)
    if a.dtype != np.int32:
        if a.dtype.kind not in "iu":
            raise DrawListError(f"layer: expected integers, got dtype {a.dtype}")
        if a.size and (a.min() < LAYER_MIN or a.max() > LAYER_MAX):
            raise DrawListError(f"layer: values must lie in [{LAYER_MIN}, {LAYER_MAX}]")
        a = a.astype(np.int32)
    try:
        return np.broadcast_to(a, (n,))
    except ValueError:
        raise DrawListError(f"layer: shape {a.shape} does not fit ({n},)") from None


def _positions(pos: Any) -> np.ndarray:
    a = np.asarray(pos)
    if a.ndim != 2 or a.shape[1] != 2:
        raise DrawListError(f"positions: expected an [n, 2] array, got shape {a.shape}")
    return _floats(a, a.shape[0], 2, "positions")


def _view(view: View | None) -> tuple[np.float32, np.float32, np.float32, np.float32]:
    if view is None:
        return (-_INF, -_INF, _INF, _INF)
    x0, y0, x1, y1 = (np.float32(v) for v in view)
    return (x0, y0, x1, y1)


def unit_circle(segments: int) -> np.ndarray:
    """float32 ``[segments + 1, 2]`` points on the unit circle; the last equals the first."""
    if segments < 3:
        raise DrawListError(f"circles need at least 3 segments, got {segments}")
    t = np.arange(segments + 1, dtype=np.float64) * (2.0 * np.pi / segments)
    unit = np.stack([np.cos(t), np.sin(t)], axis=1).astype(np.float32)
    unit[-1] = unit[0]
    return unit


# -- kernel wrappers --------------------------------------------------------------------


@dataclass(frozen=True)
class KernelResult:
    """What a kernel wrote: shapes in total, and the layers (ascending) with shapes per layer."""

    shapes: int
    layers: np.ndarray  # int32, ascending
    counts: np.ndarray  # int64, shapes per layer
    vertices_per_shape: int

    @property
    def vertices(self) -> int:
        """Vertices written."""
        return self.shapes * self.vertices_per_shape


class _Scratch:
    """The counting-sort arrays a kernel call needs (kept so a call allocates nothing)."""

    def __init__(self) -> None:
        self.counts = np.zeros(_LAYER_SLOTS, dtype=np.int32)
        self.starts = np.zeros(_LAYER_SLOTS, dtype=np.int64)


def _finish_kernel(rc: int, lo: int, hi: int, scratch: _Scratch, vps: int, out: np.ndarray,
                   what: str) -> KernelResult:
    if rc == -2:
        raise DrawListError(f"{what}: layer values must lie in [{LAYER_MIN}, {LAYER_MAX}]")
    window = scratch.counts[lo + 32768 : hi + 32769]
    nz = np.flatnonzero(window)
    counts = window[nz].astype(np.int64)
    if rc == -1:
        need = int(counts.sum()) * vps
        raise DrawListFullError(
            f"{what}: {need} vertices do not fit in the {out.size // VERTEX_SIZE} left in the "
            "draw list; allocate a larger draw-list region or draw fewer shapes"
        )
    return KernelResult(int(rc), (nz + lo).astype(np.int32), counts, vps)


def _out_bytes(out: Any) -> np.ndarray:
    arr = _as_u8(out, writable=True)
    if arr.ctypes.data % 4:
        raise DrawListError("vertex output must be 4-byte aligned")
    return arr


# Stand-ins passed to a kernel for "no motion" (never read or written then).
_NO_MOTION = np.zeros((1, 2), np.float32)
_NO_MOTION_OUT = np.zeros(MOTION_SIZE, np.uint8)
_NO_MOTION.flags.writeable = False


def _motion_args(motion: Any, motion_out: Any, n: int, out: np.ndarray
                 ) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Normalised ``(motion [n, 2] float32, motion output bytes)`` for a kernel call."""
    if motion_out is None:
        if motion is not None:
            raise DrawListError("motion: a motion column needs a motion output (motion_out)")
        return None, None
    mo = _as_u8(motion_out, writable=True)
    if mo.ctypes.data % 4:
        raise DrawListError("motion output must be 4-byte aligned")
    if mo.size // MOTION_SIZE < out.size // VERTEX_SIZE:
        raise DrawListError(
            f"motion output of {mo.size} bytes is smaller than the {out.size // VERTEX_SIZE} "
            f"vertices of the vertex output need ({MOTION_SIZE} bytes each)")
    m = None if motion is None else _floats(motion, n, 2, "motion")
    return m, mo


def _motion_done(res: KernelResult, m: np.ndarray | None, mo: np.ndarray | None) -> KernelResult:
    """Zero the motion of what a call without a motion column wrote into a list with a stream."""
    if mo is not None and m is None:
        mo[: res.vertices * MOTION_SIZE] = 0
    return res


def build_quads(out: Any, pos: Any, size: Any, color: Any, layer: Any = 0,
                rotation: Any = None, view: View | None = None,
                scratch: _Scratch | None = None, motion: Any = None,
                motion_out: Any = None) -> KernelResult:
    """Write rotated quads centred on ``pos`` into the vertex bytes ``out`` (Cython kernel).

    With ``motion_out`` (the motion bytes matching ``out``, vertex for vertex)
    each vertex also gets its entity's ``motion`` row (zeros without ``motion``).
    """
    p = _positions(pos)
    n = p.shape[0]
    s, c, ly = _floats(size, n, 2, "size"), _colors(color, n), _layers(layer, n)
    rot = None if rotation is None else _floats(rotation, n, 0, "rotation")
    o = _out_bytes(out)
    m, mo = _motion_args(motion, motion_out, n, o)
    sc = scratch or _Scratch()
    if _kernels is None:
        return _motion_done(_reference_into(o, mo, quads_reference(p, s, c, ly, rot, view, m), 6,
                                            "quads"), m, mo)
    rc, lo, hi = _kernels.quads(p, s, rot if rot is not None else np.zeros(1, np.float32),
                                rot is not None, c, ly, *_view(view), o, sc.counts, sc.starts,
                                _NO_MOTION if m is None else m, m is not None,
                                _NO_MOTION_OUT if mo is None else mo)
    return _motion_done(_finish_kernel(rc, lo, hi, sc, 6, o, "quads"), m, mo)


def build_circles(out: Any, pos: Any, radius: Any, color: Any, layer: Any = 0,
                  view: View | None = None, segments: int = DEFAULT_CIRCLE_SEGMENTS,
                  scratch: _Scratch | None = None, unit: np.ndarray | None = None,
                  motion: Any = None, motion_out: Any = None) -> KernelResult:
    """Write circles of ``segments`` triangles into the vertex bytes ``out`` (Cython kernel)."""
    p = _positions(pos)
    n = p.shape[0]
    r, c, ly = _floats(radius, n, 0, "radius"), _colors(color, n), _layers(layer, n)
    u = unit if unit is not None else unit_circle(segments)
    o = _out_bytes(out)
    m, mo = _motion_args(motion, motion_out, n, o)
    sc = scratch or _Scratch()
    vps = 3 * (u.shape[0] - 1)
    if _kernels is None:
        return _motion_done(_reference_into(o, mo, circles_reference(p, r, c, ly, view, unit=u,
                                                                     motion=m), vps, "circles"),
                            m, mo)
    rc, lo, hi = _kernels.circles(p, r, c, ly, u, *_view(view), o, sc.counts, sc.starts,
                                  _NO_MOTION if m is None else m, m is not None,
                                  _NO_MOTION_OUT if mo is None else mo)
    return _motion_done(_finish_kernel(rc, lo, hi, sc, vps, o, "circles"), m, mo)


def build_lines(out: Any, pos: Any, end: Any, width: Any, color: Any, layer: Any = 0,
                view: View | None = None, scratch: _Scratch | None = None,
                motion: Any = None, motion_out: Any = None) -> KernelResult:
    """Write segments ``pos -> pos + end`` of ``width`` into the vertex bytes ``out`` (Cython kernel)."""
    p = _positions(pos)
    n = p.shape[0]
    e, w = _floats(end, n, 2, "end"), _floats(width, n, 0, "width")
    c, ly = _colors(color, n), _layers(layer, n)
    o = _out_bytes(out)
    m, mo = _motion_args(motion, motion_out, n, o)
    sc = scratch or _Scratch()
    if _kernels is None:
        return _motion_done(_reference_into(o, mo, lines_reference(p, e, w, c, ly, view, m), 6,
                                            "lines"), m, mo)
    rc, lo, hi = _kernels.lines(p, e, w, c, ly, *_view(view), o, sc.counts, sc.starts,
                                _NO_MOTION if m is None else m, m is not None,
                                _NO_MOTION_OUT if mo is None else mo)
    return _motion_done(_finish_kernel(rc, lo, hi, sc, 6, o, "lines"), m, mo)


def _reference_into(out: np.ndarray, motion_out: np.ndarray | None, ref: tuple[np.ndarray, ...],
                    vps: int, what: str) -> KernelResult:
    verts, layers, counts = ref[:3]
    if verts.nbytes > out.size:
        raise DrawListFullError(
            f"{what}: {verts.size} vertices do not fit in the {out.size // VERTEX_SIZE} left"
        )
    out[: verts.nbytes] = verts.view(np.uint8)
    if motion_out is not None and len(ref) > 3:
        motion_out[: ref[3].nbytes] = ref[3].reshape(-1).view(np.uint8)
    return KernelResult(int(counts.sum()), layers, counts, vps)


# -- numpy references -------------------------------------------------------------------


def _order(visible: np.ndarray, layer: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices of visible rows sorted stably by layer; the layers present and rows per layer."""
    idx = np.flatnonzero(visible)
    lay = layer[idx]
    if lay.size and (lay.min() < LAYER_MIN or lay.max() > LAYER_MAX):
        raise DrawListError(f"layer values must lie in [{LAYER_MIN}, {LAYER_MAX}]")
    if lay.size and lay.min() != lay.max():
        o = np.argsort(lay, kind="stable")
        idx, lay = idx[o], lay[o]
    layers, counts = np.unique(lay, return_counts=True)
    return idx, layers.astype(np.int32), counts.astype(np.int64)


def _fill(xs: np.ndarray, ys: np.ndarray, color: np.ndarray) -> np.ndarray:
    """Vertices from per-shape x/y arrays ``[m, k]`` and colors ``[m, 4]``, flattened to ``[m*k]``."""
    m, k = xs.shape
    out = np.empty((m, k), dtype=VERTEX_DTYPE)
    out["pos"][..., 0] = xs
    out["pos"][..., 1] = ys
    out["color"] = color[:, None, :]
    return out.reshape(-1)


def _with_motion(ref: tuple[np.ndarray, np.ndarray, np.ndarray], motion: Any, n: int,
                 idx: np.ndarray, vps: int) -> tuple[np.ndarray, ...]:
    """``ref`` plus, when ``motion`` is given, the float32 ``[vertices, 2]`` motion stream."""
    if motion is None:
        return ref
    m = _floats(motion, n, 2, "motion")[idx]
    return (*ref, np.repeat(m, vps, axis=0))


def quads_reference(pos: Any, size: Any, color: Any, layer: Any = 0, rotation: Any = None,
                    view: View | None = None, motion: Any = None) -> tuple[np.ndarray, ...]:
    """numpy reference of the quad kernel: ``(vertices, layers, shapes_per_layer[, motion])``."""
    p = _positions(pos)
    n = p.shape[0]
    s, c, ly = _floats(size, n, 2, "size"), _colors(color, n), _layers(layer, n)
    x0, y0, x1, y1 = _view(view)
    half = np.float32(0.5)
    hx, hy = s[:, 0] * half, s[:, 1] * half
    r = np.sqrt(hx * hx + hy * hy)
    px, py = p[:, 0], p[:, 1]
    visible = ~((px + r < x0) | (px - r > x1) | (py + r < y0) | (py - r > y1))
    idx, layers, counts = _order(visible, ly)
    px, py, hx, hy = px[idx], py[idx], hx[idx], hy[idx]
    if rotation is None:
        xs = np.stack([px - hx, px + hx, px + hx, px - hx, px + hx, px - hx], axis=1)
        ys = np.stack([py - hy, py - hy, py + hy, py - hy, py + hy, py + hy], axis=1)
    else:
        rot = _floats(rotation, n, 0, "rotation")[idx]
        cs, sn = np.cos(rot), np.sin(rot)
        a, b, d, e = hx * cs, hy * sn, hx * sn, hy * cs
        x_0, x_1, x_2, x_3 = px + (-a + b), px + (a + b), px + (a - b), px + (-a - b)
        y_0, y_1, y_2, y_3 = py + (-d - e), py + (d - e), py + (d + e), py + (-d + e)
        xs = np.stack([x_0, x_1, x_2, x_0, x_2, x_3], axis=1)
        ys = np.stack([y_0, y_1, y_2, y_0, y_2, y_3], axis=1)
    return _with_motion((_fill(xs, ys, c[idx]), layers, counts), motion, n, idx, 6)


def circles_reference(pos: Any, radius: Any, color: Any, layer: Any = 0,
                      view: View | None = None, segments: int = DEFAULT_CIRCLE_SEGMENTS,
                      unit: np.ndarray | None = None, motion: Any = None) -> tuple[np.ndarray, ...]:
    """numpy reference of the circle kernel: ``(vertices, layers, shapes_per_layer[, motion])``."""
    p = _positions(pos)
    n = p.shape[0]
    r, c, ly = _floats(radius, n, 0, "radius"), _colors(color, n), _layers(layer, n)
    u = unit if unit is not None else unit_circle(segments)
    x0, y0, x1, y1 = _view(view)
    px, py = p[:, 0], p[:, 1]
    visible = ~((px + r < x0) | (px - r > x1) | (py + r < y0) | (py - r > y1))
    idx, layers, counts = _order(visible, ly)
    px, py, r = px[idx, None], py[idx, None], r[idx, None]
    ring_x = px + r * u[None, :, 0]
    ring_y = py + r * u[None, :, 1]
    segs = u.shape[0] - 1
    m = idx.size
    xs = np.stack([np.broadcast_to(px, (m, segs)), ring_x[:, :-1], ring_x[:, 1:]], axis=2)
    ys = np.stack([np.broadcast_to(py, (m, segs)), ring_y[:, :-1], ring_y[:, 1:]], axis=2)
    ref = (_fill(xs.reshape(m, 3 * segs), ys.reshape(m, 3 * segs), c[idx]), layers, counts)
    return _with_motion(ref, motion, n, idx, 3 * segs)


def lines_reference(pos: Any, end: Any, width: Any, color: Any, layer: Any = 0,
                    view: View | None = None, motion: Any = None) -> tuple[np.ndarray, ...]:
    """numpy reference of the line kernel: ``(vertices, layers, shapes_per_layer[, motion])``."""
    p = _positions(pos)
    n = p.shape[0]
    e, w = _floats(end, n, 2, "end"), _floats(width, n, 0, "width")
    c, ly = _colors(color, n), _layers(layer, n)
    x0, y0, x1, y1 = _view(view)
    px, py, dx, dy = p[:, 0], p[:, 1], e[:, 0], e[:, 1]
    qx, qy = px + dx, py + dy
    hw = w * np.float32(0.5)
    lo_x, hi_x = np.minimum(px, qx), np.maximum(px, qx)
    lo_y, hi_y = np.minimum(py, qy), np.maximum(py, qy)
    visible = ~((hi_x + hw < x0) | (lo_x - hw > x1) | (hi_y + hw < y0) | (lo_y - hw > y1))
    idx, layers, counts = _order(visible, ly)
    px, py, qx, qy, dx, dy, hw = (a[idx] for a in (px, py, qx, qy, dx, dy, hw))
    ln = np.sqrt(dx * dx + dy * dy)
    ok = ln > 0
    safe = np.where(ok, ln, np.float32(1))
    nx = np.where(ok, (-dy / safe) * hw, np.float32(0)).astype(np.float32)
    ny = np.where(ok, (dx / safe) * hw, hw).astype(np.float32)
    ax, ay, bx, by = px + nx, py + ny, qx + nx, qy + ny
    cx, cy, ex, ey = qx - nx, qy - ny, px - nx, py - ny
    xs = np.stack([ax, bx, cx, ax, cx, ex], axis=1)
    ys = np.stack([ay, by, cy, ay, cy, ey], axis=1)
    return _with_motion((_fill(xs, ys, c[idx]), layers, counts), motion, n, idx, 6)


# -- text -------------------------------------------------------------------------------

# Pillow's built-in 6x11 bitmap font (ImageFont.load_default_imagefont), ASCII 32..126:
# 11 rows per glyph, two hex digits per row, bit 5 = leftmost pixel.
FONT_CELL = (6, 11)
_FONT_HEX = (
    "000000000000000000000000000018181818001800000000001414140000000000000014143e14143e141400"
    "00081e323c1e06363c08000000382a3c081e2a0e00000000001c30183e2c3e000000000c0810000000000000"
    "0000040818181818080400000010080c0c0c0c0810000000083c1824000000000000000008083e0808000000"
    "00000000000000000c081000000000003e000000000000000000000000001800000000020204040808101000"
    "00001c36363636361c000000000c3c0c0c0c0c3f000000001c36060c18363e000000001c36061c06361c0000"
    "0000060e16363f0606000000003e303c3606263c000000001c36303c36361c000000003e36060c0c18180000"
    "00001c36361c36361c000000001c36361e06361c000000000000001800001800000000000000180000181020"
    "0000000c1830180c000000000000003c003c00000000000000180c060c180000000000001c260c1800180000"
    "00001c32262a2a27301c000000003c1c143e363700000000003c363c36363c00000000001e363030361c0000"
    "0000003c363636363c00000000003e303c30363e00000000003e303c30303800000000001c36303e361e0000"
    "00000037363e36363700000000003c181818183c00000000001e0c0c2c2c3800000000003634383c363b0000"
    "00000038303030363e00000000002236363e2a2a0000000000373a3a36363200000000001c363636361c0000"
    "0000003c36363c303800000000001c363636361c06000000003c36363c363b00000000001e323c0e263c0000"
    "0000003e1a1818183c000000000037363636361c00000000003736141c1c0800000000002b2a2a3e1c140000"
    "000000331e0c0c1e33000000000033331e0c0c1e00000000003e360c18363e000000001c1818181818181c00"
    "000020201010080804040000001c0c0c0c0c0c0c1c000000081c36000000000000000000000000000000003f"
    "0000180804000000000000000000001c361e363f0000000030303c3636363c0000000000001c3630361c0000"
    "00000e061e3636361f0000000000001c363e301e000000000e183e1818183e0000000000001b3636361e063c"
    "000030303c36363636000000000c003c0c0c0c3f000000000c003c0c0c0c0c0c3800003030363c383c370000"
    "00003c0c0c0c0c0c3f0000000000003c3e2a2a2a0000000000002c363636360000000000001c3636361c0000"
    "000000003c3636363c3038000000001b3636361e060f00000000371d18183c0000000000001e381e073e0000"
    "000018183e18181b0e000000000000363636361f00000000000036361c1c080000000000002b2a3e1e140000"
    "000000003b1e0c1e37000000000000373636141c1830000000003e2c18363e00000000060c0c180c0c0c0600"
    "000000080808080808080000003018180c1818183000000000001a2c0000000000"
)


def _glyph_runs() -> dict[int, np.ndarray]:
    """Per character code: float32 ``[k, 3]`` rows ``(x, y, length)`` of lit horizontal runs."""
    w, h = FONT_CELL
    data = bytes.fromhex(_FONT_HEX)
    runs: dict[int, np.ndarray] = {}
    for ci in range(95):
        rows = data[ci * h : (ci + 1) * h]
        out: list[tuple[int, int, int]] = []
        for y, bits in enumerate(rows):
            x = 0
            while x < w:
                if bits & (1 << (w - 1 - x)):
                    start = x
                    while x < w and bits & (1 << (w - 1 - x)):
                        x += 1
                    out.append((start, y, x - start))
                else:
                    x += 1
        runs[32 + ci] = np.array(out, dtype=np.float32).reshape(-1, 3)
    return runs


_GLYPHS = _glyph_runs()


def text_quads(x: float, y: float, text: str, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Centres ``[k, 2]`` and sizes ``[k, 2]`` of the quads that draw ``text`` with top-left at (x, y).

    World y points up: rows go down from ``y``; each font pixel is ``scale``
    world units; ``\n`` starts a new line; characters outside ASCII 32..126 draw as '?'.
    """
    cw, ch = FONT_CELL
    parts_c: list[np.ndarray] = []
    parts_s: list[np.ndarray] = []
    col = row = 0
    for chr_ in text:
        if chr_ == "\n":
            col, row = 0, row + 1
            continue
        runs = _GLYPHS.get(ord(chr_), _GLYPHS[ord("?")])
        if runs.size:
            cx = x + (col * cw + runs[:, 0] + runs[:, 2] * 0.5) * scale
            cy = y - (row * ch + runs[:, 1] + 0.5) * scale
            parts_c.append(np.stack([cx, cy], axis=1))
            parts_s.append(np.stack([runs[:, 2] * scale, np.full(len(runs), scale)], axis=1))
        col += 1
    if not parts_c:
        empty = np.zeros((0, 2), dtype=np.float32)
        return empty, empty
    return (np.concatenate(parts_c).astype(np.float32), np.concatenate(parts_s).astype(np.float32))


# -- the builder ------------------------------------------------------------------------


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
        self._buf = _as_u8(buffer, writable=True)
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
        self._scratch = _Scratch()
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
        cap, moff = _motion_layout(self._buf.size, self._voff)
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
        pack_row = _BATCH_STRUCT.pack_into
        for i, (layer, kind, first, count) in enumerate(ordered):  # rows of BATCH_DTYPE
            pack_row(buf, HEADER_SIZE + i * BATCH_ROW, layer, kind, 0, first, count)
        self._sequence = (self._sequence + 1) & 0xFFFFFFFF
        x0, y0, x1, y1 = _view(self.view)
        _HEADER_STRUCT.pack_into(buf, 0, MAGIC, VERSION, VERTEX_SIZE, self._voff, self._vcap, self._n,
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
