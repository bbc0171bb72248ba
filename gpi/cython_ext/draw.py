"""Draw kernels: quads, circles and lines written as triangles, with numpy references.

:func:`build_quads`, :func:`build_circles` and :func:`build_lines` turn
component columns (positions ``[n, 2]`` plus sizes, colours, layers, ...)
into vertices in a caller's byte region: ``VERTEX_DTYPE`` rows (float32 x, y
in world units; uint8 r, g, b, a), sorted stably by layer, culled against a
view rectangle, and optionally each vertex's motion (float32 dx, dy) into a
second region. They validate and normalise their inputs (dtypes, broadcast
scalars, layer range, alignment, room) and call the Cython kernels of
``_draw.pyx``; :func:`quads_reference`, :func:`circles_reference` and
:func:`lines_reference` are the numpy implementations of the same results,
which tests compare with the kernels on random scenes.

The compiled kernels are chosen once at import (:mod:`gpi.cython_ext.backend`);
when they are not built or ``GPI_PURE_PYTHON=1``, the references take their
place (same bytes, slower). ``BACKEND`` says which is in use. With a rotation
the two may differ in the last bits of a vertex (the kernel's float
sine/cosine against numpy's ``cos``/``sin``: about 1e-7 of the quad's size);
everything else is the same byte for byte.

The draw-list format around these vertices (header, batch table) and the
builder plugins use live in :mod:`gpi.draw`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from gpi.cython_ext.backend import load_kernel
from gpi.errors import GpiError

__all__ = [
    "BACKEND",
    "DEFAULT_CIRCLE_SEGMENTS",
    "KERNEL",
    "LAYER_MAX",
    "LAYER_MIN",
    "MOTION_SIZE",
    "VERTEX_DTYPE",
    "VERTEX_SIZE",
    "DrawListError",
    "DrawListFullError",
    "KernelResult",
    "Scratch",
    "View",
    "as_u8",
    "build_circles",
    "build_lines",
    "build_quads",
    "circles_reference",
    "lines_reference",
    "quads_reference",
    "unit_circle",
    "view_bounds",
]

# The compiled extension in use (None: the numpy references run).
KERNEL = load_kernel("_draw")
BACKEND = "numpy" if KERNEL is None else "cython"

VERTEX_SIZE = 12
MOTION_SIZE = 8  # float32 dx, dy per vertex
LAYER_MIN, LAYER_MAX = -32768, 32767
_LAYER_SLOTS = 65536  # one counting-sort slot per int16 layer value
# 24 segments: a circle 100 px across deviates from round by < 1 px.
DEFAULT_CIRCLE_SEGMENTS = 24
VERTEX_DTYPE = np.dtype([("pos", "<f4", (2,)), ("color", "u1", (4,))])
assert VERTEX_DTYPE.itemsize == VERTEX_SIZE
_INF = np.float32(np.inf)
View = tuple[float, float, float, float]


class DrawListError(GpiError, ValueError):
    """A draw call got bad input (shapes, dtypes, layers out of range)."""


class DrawListFullError(DrawListError, BufferError):
    """The draw-list region has no room for the vertices or batches asked for."""


def as_u8(buffer: Any, *, writable: bool) -> np.ndarray:
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


def view_bounds(view: View | None) -> tuple[np.float32, np.float32, np.float32, np.float32]:
    """The culling rectangle as float32 ``(x0, y0, x1, y1)``; no view is the whole plane."""
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


class Scratch:
    """The counting-sort arrays a kernel call needs (kept so a call allocates nothing)."""

    def __init__(self) -> None:
        self.counts = np.zeros(_LAYER_SLOTS, dtype=np.int32)
        self.starts = np.zeros(_LAYER_SLOTS, dtype=np.int64)


def _finish_kernel(rc: int, lo: int, hi: int, scratch: Scratch, vps: int, out: np.ndarray,
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
    arr = as_u8(out, writable=True)
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
    mo = as_u8(motion_out, writable=True)
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


def _run(what: str, head: tuple[Any, ...], view: View | None, vps: int, o: np.ndarray,
         m: np.ndarray | None, mo: np.ndarray | None, sc: Scratch,
         reference: Callable[[], tuple[np.ndarray, ...]]) -> KernelResult:
    """Kernel ``what`` (quads, circles, lines) over normalised inputs; ``reference()`` when not compiled."""
    if KERNEL is None:
        return _motion_done(_reference_into(o, mo, reference(), vps, what), m, mo)
    rc, lo, hi = getattr(KERNEL, what)(*head, *view_bounds(view), o, sc.counts, sc.starts,
                                       _NO_MOTION if m is None else m, m is not None,
                                       _NO_MOTION_OUT if mo is None else mo)
    return _motion_done(_finish_kernel(rc, lo, hi, sc, vps, o, what), m, mo)


def build_quads(out: Any, pos: Any, size: Any, color: Any, layer: Any = 0,
                rotation: Any = None, view: View | None = None,
                scratch: Scratch | None = None, motion: Any = None,
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
    head = (p, s, rot if rot is not None else np.zeros(1, np.float32), rot is not None, c, ly)
    return _run("quads", head, view, 6, o, m, mo, scratch or Scratch(),
                lambda: quads_reference(p, s, c, ly, rot, view, m))


def build_circles(out: Any, pos: Any, radius: Any, color: Any, layer: Any = 0,
                  view: View | None = None, segments: int = DEFAULT_CIRCLE_SEGMENTS,
                  scratch: Scratch | None = None, unit: np.ndarray | None = None,
                  motion: Any = None, motion_out: Any = None) -> KernelResult:
    """Write circles of ``segments`` triangles into the vertex bytes ``out`` (Cython kernel)."""
    p = _positions(pos)
    n = p.shape[0]
    r, c, ly = _floats(radius, n, 0, "radius"), _colors(color, n), _layers(layer, n)
    u = unit if unit is not None else unit_circle(segments)
    o = _out_bytes(out)
    m, mo = _motion_args(motion, motion_out, n, o)
    return _run("circles", (p, r, c, ly, u), view, 3 * (u.shape[0] - 1), o, m, mo, scratch or Scratch(),
                lambda: circles_reference(p, r, c, ly, view, unit=u, motion=m))


def build_lines(out: Any, pos: Any, end: Any, width: Any, color: Any, layer: Any = 0,
                view: View | None = None, scratch: Scratch | None = None,
                motion: Any = None, motion_out: Any = None) -> KernelResult:
    """Write segments ``pos -> pos + end`` of ``width`` into the vertex bytes ``out`` (Cython kernel)."""
    p = _positions(pos)
    n = p.shape[0]
    e, w = _floats(end, n, 2, "end"), _floats(width, n, 0, "width")
    c, ly = _colors(color, n), _layers(layer, n)
    o = _out_bytes(out)
    m, mo = _motion_args(motion, motion_out, n, o)
    return _run("lines", (p, e, w, c, ly), view, 6, o, m, mo, scratch or Scratch(),
                lambda: lines_reference(p, e, w, c, ly, view, m))


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
    x0, y0, x1, y1 = view_bounds(view)
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
    x0, y0, x1, y1 = view_bounds(view)
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
    x0, y0, x1, y1 = view_bounds(view)
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
