# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Draw-list kernels: component columns in, triangle vertices out.

Private: use :mod:`gpi.cython_ext.draw`, which validates the inputs,
allocates the scratch arrays and turns the return codes into errors. The
numpy reference of every kernel lives in that module, with the same rules.

Every kernel takes read-only (``const``) strided memoryviews, so the columns
of a world mapped read-only in a child, the fields of a structured component
and ``np.broadcast_to`` views are all accepted without a copy. It runs without
the GIL in two passes:

1. cull each entity against the view rectangle ``(x0, y0, x1, y1)`` and count
   the survivors per layer (layers are int32 but must lie in
   [-32768, 32767]; the count array has one slot per layer);
2. turn the counts into start offsets (a counting sort: stable, ascending by
   layer, submission order inside a layer) and write each survivor's vertices
   straight into ``out``, a writable byte view of the draw-list's vertex
   region.

Rotations use ``gpi_sincosf_n`` (below), a vectorised float sine/cosine about 1e-7 from
the exact values: the numpy reference uses numpy's ``cos``/``sin`` and the two
agree within float tolerance, not bit for bit.

Vertices are 12 bytes: float32 x, float32 y, uint8 r, g, b, a. Every shape is
a list of triangles (no index buffer). With ``has_motion`` a kernel also writes
each survivor's ``motion`` row (float32 dx, dy: its displacement during the
last tick) to every one of its vertices in ``mout``, the motion stream, at the
same vertex index (so the same culling and layer order); without it ``motion``
and ``mout`` are not touched. Each kernel returns ``(rc, lo, hi)``: ``rc`` is the number of shapes written
(>= 0), -1 if ``out`` is too small (nothing written; ``counts`` still holds the
per-layer counts so the caller can say how much is needed) or -2 if a layer is
out of range; ``counts[lo + 32768 : hi + 32769]`` holds the shapes per layer
(slots outside that range are stale). ``counts`` and ``starts`` are scratch
arrays of 65536 slots owned by the caller, so a call allocates nothing.
"""

from libc.math cimport sqrtf
from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t
from libc.string cimport memcpy

cdef extern from *:
    """
    #include <math.h>
    #include <string.h>
    /* Sine and cosine of n float angles: Cephes-style reduction to [-pi/4, pi/4] (pi/4 split
       in three parts) and minimax polynomials, about 1e-7 absolute error for |a| <= 8192 (libm
       beyond). Branch-free, so the compiler vectorises the loop: several times faster than
       sinf + cosf per angle, which matters at a million rotated quads. */
    static void gpi_sincosf_n(const float *restrict a, float *restrict s_out,
                              float *restrict c_out, int n) {
        int i;
        for (i = 0; i < n; i++) {
            float ai = a[i];
            float x = fabsf(ai);
            int j = (int)(x * 1.27323954473516f);
            j = (j + 1) & ~1;
            float y = (float)j;
            x = ((x - y * 0.78515625f) - y * 2.4187564849853515625e-4f) - y * 3.77489497744594108e-8f;
            float z = x * x;
            float sp = ((-1.9515295891e-4f * z + 8.3321608736e-3f) * z - 1.6666654611e-1f) * z * x + x;
            float cp = ((2.443315711809948e-5f * z - 1.388731625493765e-3f) * z
                        + 4.166664568298827e-2f) * z * z - 0.5f * z + 1.0f;
            int q = (j >> 1) & 3;          /* quadrant of |a| */
            float s = (q & 1) ? cp : sp;
            float c = (q & 1) ? sp : cp;
            s = (q & 2) ? -s : s;
            c = ((q + 1) & 2) ? -c : c;
            s_out[i] = ai < 0 ? -s : s;
            c_out[i] = c;
        }
        for (i = 0; i < n; i++) {
            if (!(fabsf(a[i]) <= 8192.0f)) { s_out[i] = sinf(a[i]); c_out[i] = cosf(a[i]); }
        }
    }
    """
    void gpi_sincosf_n(const float* a, float* s, float* c, int n) noexcept nogil

cdef enum:
    CHUNK = 256  # angles per vectorised sine/cosine call
    LAYER_BIAS = 32768
    LAYER_SLOTS = 65536
    VERTEX_SIZE = 12

cdef struct Vertex:
    float x
    float y
    uint32_t rgba

cdef struct Motion:
    float dx
    float dy


cdef inline void _put_motion(Motion* m, Py_ssize_t k, float dx, float dy) noexcept nogil:
    """The same motion for the ``k`` vertices of one shape."""
    cdef Py_ssize_t j
    for j in range(k):
        m[j].dx = dx
        m[j].dy = dy


cdef int64_t _motion_capacity(bint has_motion, const float[:, :] motion, uint8_t[::1] mout,
                              Py_ssize_t n, Py_ssize_t vps, int64_t capacity) except -2:
    """Shapes that fit in both outputs; checks the motion column's shape."""
    if not has_motion:
        return capacity
    if motion.shape[0] != n or motion.shape[1] < 2:
        raise ValueError("motion must be [n, 2] like the position column")
    if vps <= 0:
        return 0
    cdef int64_t mcap = mout.shape[0] // (vps * 8)
    return mcap if mcap < capacity else capacity


cdef inline uint32_t _rgba(const uint8_t[:, :] color, Py_ssize_t i) noexcept nogil:
    cdef uint8_t c[4]
    cdef uint32_t v
    c[0] = color[i, 0]
    c[1] = color[i, 1]
    c[2] = color[i, 2]
    c[3] = color[i, 3]
    memcpy(&v, c, 4)
    return v


cdef inline void _put(Vertex* v, float x, float y, uint32_t rgba) noexcept nogil:
    v.x = x
    v.y = y
    v.rgba = rgba


cdef int _layer_range(const int32_t[:] layer, int32_t* lo, int32_t* hi) noexcept nogil:
    """Min and max of ``layer`` (0, -1 when empty); -2 if any is outside [-32768, 32767]."""
    cdef Py_ssize_t i, n = layer.shape[0]
    cdef int32_t l, a = 0, b = -1
    if n > 0:
        a = layer[0]
        b = a
        for i in range(1, n):
            l = layer[i]
            if l < a:
                a = l
            elif l > b:
                b = l
    lo[0] = a
    hi[0] = b
    if n > 0 and (a < -LAYER_BIAS or b >= LAYER_BIAS):
        return -2
    return 0


cdef int _starts(int32_t[::1] counts, int64_t[::1] starts, int32_t lo, int32_t hi,
                 int64_t capacity) noexcept nogil:
    """Exclusive prefix sum of ``counts[lo..hi]`` into ``starts``; -1 if the total exceeds ``capacity``."""
    cdef int64_t total = 0
    cdef Py_ssize_t k
    for k in range(lo + LAYER_BIAS, hi + LAYER_BIAS + 1):
        starts[k] = total
        total += counts[k]
    if total > capacity:
        return -1
    return 0


cdef int _prologue(const int32_t[:] layer, int32_t[::1] counts, int32_t* lo, int32_t* hi) noexcept nogil:
    cdef Py_ssize_t k
    cdef int rc = _layer_range(layer, lo, hi)
    if rc == 0:
        for k in range(lo[0] + LAYER_BIAS, hi[0] + LAYER_BIAS + 1):
            counts[k] = 0
    return rc


cdef _check(const float[:, :] pos, const uint8_t[:, :] color, const int32_t[:] layer,
            int32_t[::1] counts, int64_t[::1] starts):
    cdef Py_ssize_t n = pos.shape[0]
    if pos.shape[1] < 2 or color.shape[1] < 4:
        raise ValueError("positions must be [n, 2] and colors [n, 4]")
    if layer.shape[0] != n or color.shape[0] != n:
        raise ValueError("every column must have as many rows as the position column")
    if counts.shape[0] != LAYER_SLOTS or starts.shape[0] != LAYER_SLOTS:
        raise ValueError("counts and starts must have 65536 slots")


def quads(const float[:, :] pos, const float[:, :] size, const float[:] rot, bint has_rot,
          const uint8_t[:, :] color, const int32_t[:] layer,
          float x0, float y0, float x1, float y1,
          uint8_t[::1] out, int32_t[::1] counts, int64_t[::1] starts,
          const float[:, :] motion, bint has_motion, uint8_t[::1] mout):
    """Rotated quads centred on ``pos``: 6 vertices each; culled by their bounding circle."""
    cdef Py_ssize_t n = pos.shape[0], i, i0, k, m
    cdef float ang[CHUNK]
    cdef float sn[CHUNK]
    cdef float cs[CHUNK]
    cdef float px, py, hx, hy, r, c, s, a, b, d, e
    cdef int32_t l
    cdef int64_t slot, total = 0
    cdef int64_t capacity = out.shape[0] // (6 * VERTEX_SIZE)
    cdef uint32_t rgba
    cdef Vertex* base = <Vertex*>&out[0] if out.shape[0] > 0 else NULL
    cdef Motion* mbase = <Motion*>&mout[0] if has_motion and mout.shape[0] > 0 else NULL
    cdef Vertex* v
    cdef int32_t lo = 0, hi = -1
    cdef int rc = 0
    _check(pos, color, layer, counts, starts)
    if size.shape[0] != n or size.shape[1] < 2 or (has_rot and rot.shape[0] != n):
        raise ValueError("sizes must be [n, 2] and rotations [n]")
    capacity = _motion_capacity(has_motion, motion, mout, n, 6, capacity)
    with nogil:
        rc = _prologue(layer, counts, &lo, &hi)
        for i in range(n):
            if rc != 0:
                break
            l = layer[i]
            px = pos[i, 0]
            py = pos[i, 1]
            hx = size[i, 0] * 0.5
            hy = size[i, 1] * 0.5
            r = sqrtf(hx * hx + hy * hy)
            if px + r < x0 or px - r > x1 or py + r < y0 or py - r > y1:
                continue
            counts[l + LAYER_BIAS] += 1
        if rc == 0:
            rc = _starts(counts, starts, lo, hi, capacity)
        if rc == 0:
            i0 = 0
            while i0 < n:
                m = n - i0 if n - i0 < CHUNK else CHUNK
                if has_rot:
                    for k in range(m):
                        ang[k] = rot[i0 + k]
                    gpi_sincosf_n(ang, sn, cs, <int>m)
                for k in range(m):
                    i = i0 + k
                    px = pos[i, 0]
                    py = pos[i, 1]
                    hx = size[i, 0] * 0.5
                    hy = size[i, 1] * 0.5
                    r = sqrtf(hx * hx + hy * hy)
                    if px + r < x0 or px - r > x1 or py + r < y0 or py - r > y1:
                        continue
                    l = layer[i] + LAYER_BIAS
                    slot = starts[l]
                    starts[l] = slot + 1
                    total += 1
                    rgba = _rgba(color, i)
                    v = base + slot * 6
                    if has_motion:
                        _put_motion(mbase + slot * 6, 6, motion[i, 0], motion[i, 1])
                    if has_rot:
                        s = sn[k]
                        c = cs[k]
                        a = hx * c
                        b = hy * s
                        d = hx * s
                        e = hy * c
                        # corners (-h,-h) (h,-h) (h,h) (-h,h) rotated; triangles 0 1 2, 0 2 3
                        _put(v + 0, px + (-a + b), py + (-d - e), rgba)
                        _put(v + 1, px + (a + b), py + (d - e), rgba)
                        _put(v + 2, px + (a - b), py + (d + e), rgba)
                        _put(v + 3, px + (-a + b), py + (-d - e), rgba)
                        _put(v + 4, px + (a - b), py + (d + e), rgba)
                        _put(v + 5, px + (-a - b), py + (-d + e), rgba)
                    else:
                        _put(v + 0, px - hx, py - hy, rgba)
                        _put(v + 1, px + hx, py - hy, rgba)
                        _put(v + 2, px + hx, py + hy, rgba)
                        _put(v + 3, px - hx, py - hy, rgba)
                        _put(v + 4, px + hx, py + hy, rgba)
                        _put(v + 5, px - hx, py + hy, rgba)
                i0 += m
    return (rc if rc < 0 else total), lo, hi


def circles(const float[:, :] pos, const float[:] radius, const uint8_t[:, :] color,
            const int32_t[:] layer, const float[:, ::1] unit,
            float x0, float y0, float x1, float y1,
            uint8_t[::1] out, int32_t[::1] counts, int64_t[::1] starts,
            const float[:, :] motion, bint has_motion, uint8_t[::1] mout):
    """Circles as ``N = unit.shape[0] - 1`` triangles (centre, p[k], p[k+1]): 3N vertices each."""
    cdef Py_ssize_t n = pos.shape[0], i, k
    cdef Py_ssize_t segs = unit.shape[0] - 1
    cdef float px, py, r, ax, ay, bx, by
    cdef int32_t l
    cdef int64_t slot, total = 0
    cdef int64_t capacity = out.shape[0] // (3 * segs * VERTEX_SIZE) if segs > 0 else 0
    cdef uint32_t rgba
    cdef Vertex* base = <Vertex*>&out[0] if out.shape[0] > 0 else NULL
    cdef Motion* mbase = <Motion*>&mout[0] if has_motion and mout.shape[0] > 0 else NULL
    cdef Vertex* v
    cdef int32_t lo = 0, hi = -1
    cdef int rc = 0
    _check(pos, color, layer, counts, starts)
    if radius.shape[0] != n or unit.shape[1] != 2:
        raise ValueError("radii must be [n] and the unit table [segments + 1, 2]")
    if segs < 3:
        raise ValueError("a circle needs at least 3 segments")
    capacity = _motion_capacity(has_motion, motion, mout, n, 3 * segs, capacity)
    with nogil:
        rc = _prologue(layer, counts, &lo, &hi)
        for i in range(n):
            if rc != 0:
                break
            l = layer[i]
            px = pos[i, 0]
            py = pos[i, 1]
            r = radius[i]
            if px + r < x0 or px - r > x1 or py + r < y0 or py - r > y1:
                continue
            counts[l + LAYER_BIAS] += 1
        if rc == 0:
            rc = _starts(counts, starts, lo, hi, capacity)
        if rc == 0:
            for i in range(n):
                px = pos[i, 0]
                py = pos[i, 1]
                r = radius[i]
                if px + r < x0 or px - r > x1 or py + r < y0 or py - r > y1:
                    continue
                l = layer[i] + LAYER_BIAS
                slot = starts[l]
                starts[l] = slot + 1
                total += 1
                rgba = _rgba(color, i)
                v = base + slot * 3 * segs
                if has_motion:
                    _put_motion(mbase + slot * 3 * segs, 3 * segs, motion[i, 0], motion[i, 1])
                ax = px + r * unit[0, 0]
                ay = py + r * unit[0, 1]
                for k in range(segs):
                    bx = px + r * unit[k + 1, 0]
                    by = py + r * unit[k + 1, 1]
                    _put(v, px, py, rgba)
                    _put(v + 1, ax, ay, rgba)
                    _put(v + 2, bx, by, rgba)
                    v += 3
                    ax = bx
                    ay = by
    return (rc if rc < 0 else total), lo, hi


def lines(const float[:, :] pos, const float[:, :] end, const float[:] width,
          const uint8_t[:, :] color, const int32_t[:] layer,
          float x0, float y0, float x1, float y1,
          uint8_t[::1] out, int32_t[::1] counts, int64_t[::1] starts,
          const float[:, :] motion, bint has_motion, uint8_t[::1] mout):
    """Segments from ``pos`` to ``pos + end`` as quads of ``width``: 6 vertices each."""
    cdef Py_ssize_t n = pos.shape[0], i
    cdef float px, py, qx, qy, dx, dy, hw, ln, nx, ny, lo_x, hi_x, lo_y, hi_y
    cdef int pass_
    cdef int32_t l
    cdef int64_t slot, total = 0
    cdef int64_t capacity = out.shape[0] // (6 * VERTEX_SIZE)
    cdef uint32_t rgba
    cdef Vertex* base = <Vertex*>&out[0] if out.shape[0] > 0 else NULL
    cdef Motion* mbase = <Motion*>&mout[0] if has_motion and mout.shape[0] > 0 else NULL
    cdef Vertex* v
    cdef int32_t lo = 0, hi = -1
    cdef int rc = 0
    _check(pos, color, layer, counts, starts)
    if end.shape[0] != n or end.shape[1] < 2 or width.shape[0] != n:
        raise ValueError("line ends must be [n, 2] and widths [n]")
    capacity = _motion_capacity(has_motion, motion, mout, n, 6, capacity)
    with nogil:
        rc = _prologue(layer, counts, &lo, &hi)
        for pass_ in range(2):
            if pass_ == 1:
                if rc == 0:
                    rc = _starts(counts, starts, lo, hi, capacity)
                if rc != 0:
                    break
            for i in range(n):
                if rc != 0:
                    break
                l = layer[i]
                px = pos[i, 0]
                py = pos[i, 1]
                dx = end[i, 0]
                dy = end[i, 1]
                qx = px + dx
                qy = py + dy
                hw = width[i] * 0.5
                if px < qx:
                    lo_x = px
                    hi_x = qx
                else:
                    lo_x = qx
                    hi_x = px
                if py < qy:
                    lo_y = py
                    hi_y = qy
                else:
                    lo_y = qy
                    hi_y = py
                if hi_x + hw < x0 or lo_x - hw > x1 or hi_y + hw < y0 or lo_y - hw > y1:
                    continue
                if pass_ == 0:
                    counts[l + LAYER_BIAS] += 1
                    continue
                l = l + LAYER_BIAS
                slot = starts[l]
                starts[l] = slot + 1
                total += 1
                ln = sqrtf(dx * dx + dy * dy)
                if ln > 0:
                    nx = (-dy / ln) * hw
                    ny = (dx / ln) * hw
                else:
                    nx = 0
                    ny = hw
                rgba = _rgba(color, i)
                v = base + slot * 6
                if has_motion:
                    _put_motion(mbase + slot * 6, 6, motion[i, 0], motion[i, 1])
                # a = p + n, b = q + n, c = q - n, d = p - n; triangles a b c, a c d
                _put(v + 0, px + nx, py + ny, rgba)
                _put(v + 1, qx + nx, qy + ny, rgba)
                _put(v + 2, qx - nx, qy - ny, rgba)
                _put(v + 3, px + nx, py + ny, rgba)
                _put(v + 4, qx - nx, qy - ny, rgba)
                _put(v + 5, px - nx, py - ny, rgba)
    return (rc if rc < 0 else total), lo, hi
