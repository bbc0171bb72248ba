# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Draw-list kernels: component columns in, triangle vertices out.

Private: use :mod:`gpi.cython_ext.drawlist`, which validates the inputs,
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

Rotations use ``gpi_sincosf`` (below), a float sine/cosine about 1e-7 from
the exact values: the numpy reference uses numpy's ``cos``/``sin`` and the two
agree within float tolerance, not bit for bit. Quads and lines of large calls
of one layer are written with non-temporal stores (``stream``), which saves
the read-for-ownership of every output line.

Vertices are 12 bytes: float32 x, float32 y, uint8 r, g, b, a. Every shape is
a list of triangles (no index buffer). Each kernel returns ``(rc, lo, hi)``: ``rc`` is the number of shapes written
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
    /* sin and cos of one float angle: Cephes-style reduction to [-pi/4, pi/4] (pi/4 split in
       three parts) and minimax polynomials; about 1e-7 absolute error for |a| <= 8192, libm
       beyond. Several times faster than sinf + cosf, which matters at a million quads. */
    static inline void gpi_sincosf(float a, float *s_out, float *c_out) {
        float x = a < 0 ? -a : a;
        if (!(x <= 8192.0f)) { *s_out = sinf(a); *c_out = cosf(a); return; }
        int j = (int)(x * 1.27323954473516f);
        j = (j + 1) & ~1;
        float y = (float)j;
        x = ((x - y * 0.78515625f) - y * 2.4187564849853515625e-4f) - y * 3.77489497744594108e-8f;
        float z = x * x;
        float sp = ((-1.9515295891e-4f * z + 8.3321608736e-3f) * z - 1.6666654611e-1f) * z * x + x;
        float cp = ((2.443315711809948e-5f * z - 1.388731625493765e-3f) * z
                    + 4.166664568298827e-2f) * z * z - 0.5f * z + 1.0f;
        /* quadrant q of |a|: sin/cos swap for odd q; sign flips without branches (random angles
           would mispredict a switch on every quad) */
        unsigned q = (unsigned)(j >> 1) & 3u;
        unsigned swap = 0u - (q & 1u);
        unsigned sb, cb, r_s, r_c, in_sign;
        memcpy(&sb, &sp, 4); memcpy(&cb, &cp, 4); memcpy(&in_sign, &a, 4);
        r_s = (sb & ~swap) | (cb & swap);
        r_c = (cb & ~swap) | (sb & swap);
        r_s ^= ((q & 2u) << 30) ^ (in_sign & 0x80000000u);
        r_c ^= ((q + 1u) & 2u) << 30;
        memcpy(s_out, &r_s, 4);
        memcpy(c_out, &r_c, 4);
    }
    /* Write combiner for big outputs: vertices are staged in a small cache-resident buffer
       while their destinations are consecutive, then streamed out with 16-byte non-temporal
       stores, which skip the read-for-ownership of every destination line (about a third of
       the memory traffic of a kernel that writes 72 MB). Small outputs use plain stores. */
    #include <stdint.h>
    #if defined(__SSE2__)
    #include <emmintrin.h>
    #endif
    typedef struct { char *dst; size_t len; int stream; char buf[4608] __attribute__((aligned(64))); } gpi_wc;
    static inline void gpi_wc_flush(gpi_wc *w) {
        char *d = w->dst; const char *s = w->buf; size_t n = w->len;
        w->len = 0;
        if (!n) return;
    #if defined(__SSE2__)
        if (w->stream) {
            size_t head = (16 - ((uintptr_t)d & 15)) & 15;
            if (head > n) head = n;
            memcpy(d, s, head); d += head; s += head; n -= head;
            while (n >= 16) {
                _mm_stream_si128((__m128i *)d, _mm_loadu_si128((const __m128i *)s));
                d += 16; s += 16; n -= 16;
            }
        }
    #endif
        memcpy(d, s, n);
    }
    /* Where to write the ``len`` bytes meant for ``dst``: ``dst`` itself, or the staging buffer.
       (Writing straight into the stage, not into a temporary copied later, avoids a
       store-forwarding stall on every shape.) */
    static inline void *gpi_wc_reserve(gpi_wc *w, void *dst, size_t len) {
        void *p;
        if (!w->stream) return dst;
        if (w->len && ((char *)dst != w->dst + w->len || w->len + len > sizeof w->buf)) gpi_wc_flush(w);
        if (!w->len) w->dst = (char *)dst;
        p = w->buf + w->len;
        w->len += len;
        return p;
    }
    static inline void gpi_wc_end(gpi_wc *w) {
        gpi_wc_flush(w);
    #if defined(__SSE2__)
        if (w->stream) _mm_sfence();
    #endif
    }
    """
    void gpi_sincosf(float a, float* s, float* c) noexcept nogil
    ctypedef struct gpi_wc:
        int stream
        size_t len
    void* gpi_wc_reserve(gpi_wc* w, void* dst, size_t n) noexcept nogil
    void gpi_wc_end(gpi_wc* w) noexcept nogil

cdef enum:
    LAYER_BIAS = 32768
    LAYER_SLOTS = 65536
    VERTEX_SIZE = 12

cdef struct Vertex:
    float x
    float y
    uint32_t rgba


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
          uint8_t[::1] out, int32_t[::1] counts, int64_t[::1] starts, bint stream=False):
    """Rotated quads centred on ``pos``: 6 vertices each; culled by their bounding circle.

    ``stream`` writes with non-temporal stores (for outputs much larger than the cache).
    """
    cdef gpi_wc wc
    wc.stream = 0
    wc.len = 0
    cdef Py_ssize_t n = pos.shape[0], i
    cdef float px, py, hx, hy, r, c, s, a, b, d, e
    cdef int32_t l
    cdef int64_t slot, total = 0
    cdef int64_t capacity = out.shape[0] // (6 * VERTEX_SIZE)
    cdef uint32_t rgba
    cdef Vertex* base = <Vertex*>&out[0] if out.shape[0] > 0 else NULL
    cdef Vertex* v
    cdef int32_t lo = 0, hi = -1
    cdef int rc = 0
    _check(pos, color, layer, counts, starts)
    if size.shape[0] != n or size.shape[1] < 2 or (has_rot and rot.shape[0] != n):
        raise ValueError("sizes must be [n, 2] and rotations [n]")
    with nogil:
        rc = _prologue(layer, counts, &lo, &hi)
        # one layer: destinations are consecutive, so the write combiner can stream whole lines;
        # several layers interleave destinations and would flush partial lines on every quad
        wc.stream = stream and lo == hi
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
            for i in range(n):
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
                v = <Vertex*>gpi_wc_reserve(&wc, base + slot * 6, 72)
                if has_rot:
                    gpi_sincosf(rot[i], &s, &c)
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
        gpi_wc_end(&wc)
    return (rc if rc < 0 else total), lo, hi


def circles(const float[:, :] pos, const float[:] radius, const uint8_t[:, :] color,
            const int32_t[:] layer, const float[:, ::1] unit,
            float x0, float y0, float x1, float y1,
            uint8_t[::1] out, int32_t[::1] counts, int64_t[::1] starts):
    """Circles as ``N = unit.shape[0] - 1`` triangles (centre, p[k], p[k+1]): 3N vertices each."""
    cdef Py_ssize_t n = pos.shape[0], i, k
    cdef Py_ssize_t segs = unit.shape[0] - 1
    cdef float px, py, r, ax, ay, bx, by
    cdef int32_t l
    cdef int64_t slot, total = 0
    cdef int64_t capacity = out.shape[0] // (3 * segs * VERTEX_SIZE) if segs > 0 else 0
    cdef uint32_t rgba
    cdef Vertex* base = <Vertex*>&out[0] if out.shape[0] > 0 else NULL
    cdef Vertex* v
    cdef int32_t lo = 0, hi = -1
    cdef int rc = 0
    _check(pos, color, layer, counts, starts)
    if radius.shape[0] != n or unit.shape[1] != 2:
        raise ValueError("radii must be [n] and the unit table [segments + 1, 2]")
    if segs < 3:
        raise ValueError("a circle needs at least 3 segments")
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
          uint8_t[::1] out, int32_t[::1] counts, int64_t[::1] starts, bint stream=False):
    """Segments from ``pos`` to ``pos + end`` as quads of ``width``: 6 vertices each."""
    cdef gpi_wc wc
    wc.stream = 0
    wc.len = 0
    cdef Py_ssize_t n = pos.shape[0], i
    cdef float px, py, qx, qy, dx, dy, hw, ln, nx, ny, lo_x, hi_x, lo_y, hi_y
    cdef int pass_
    cdef int32_t l
    cdef int64_t slot, total = 0
    cdef int64_t capacity = out.shape[0] // (6 * VERTEX_SIZE)
    cdef uint32_t rgba
    cdef Vertex* base = <Vertex*>&out[0] if out.shape[0] > 0 else NULL
    cdef Vertex* v
    cdef int32_t lo = 0, hi = -1
    cdef int rc = 0
    _check(pos, color, layer, counts, starts)
    if end.shape[0] != n or end.shape[1] < 2 or width.shape[0] != n:
        raise ValueError("line ends must be [n, 2] and widths [n]")
    with nogil:
        rc = _prologue(layer, counts, &lo, &hi)
        wc.stream = stream and lo == hi
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
                v = <Vertex*>gpi_wc_reserve(&wc, base + slot * 6, 72)
                # a = p + n, b = q + n, c = q - n, d = p - n; triangles a b c, a c d
                _put(v + 0, px + nx, py + ny, rgba)
                _put(v + 1, qx + nx, qy + ny, rgba)
                _put(v + 2, qx - nx, qy - ny, rgba)
                _put(v + 3, px + nx, py + ny, rgba)
                _put(v + 4, qx - nx, qy - ny, rgba)
                _put(v + 5, px - nx, py - ny, rgba)
        gpi_wc_end(&wc)
    return (rc if rc < 0 else total), lo, hi
