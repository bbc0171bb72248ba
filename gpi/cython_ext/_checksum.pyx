# cython: boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Checksum kernel: an 8-lane multiply-accumulate hash (format ``lanes64 v2``).

The input is read as little-endian uint64 words in *stripes* of 8 words (64
bytes); 16 stripes make a *block* (1024 bytes). Eight independent 64-bit
accumulators ``acc[0..8)`` start at ``INIT``. For stripe ``s`` of a block
(``0 <= s < 16``) and lane ``l``::

    d       = w[l] ^ KEY[s + l]
    acc[l] += w[l ^ 1] + (d & 0xFFFFFFFF) * (d >> 32)        (mod 2**64)

After each full block every lane is scrambled::

    acc[l] = (acc[l] ^ (acc[l] >> 47) ^ SCRAMBLE[l]) * 0x9E3779B1

The bytes after the last full block are taken as whole stripes (stripe index
0, 1, ...) and, if a partial stripe remains, as one more stripe zero-padded to
64 bytes (no scramble after these). The result::

    h = mix(seed ^ K_SEED) ^ (len * K_LEN)
    for l in 0..7:  h = mix(h ^ acc[l])

with ``mix`` the splitmix64 finaliser. ``KEY`` (24 words), ``INIT`` and
``SCRAMBLE`` (8 words each) are the splitmix64 sequence from the fixed state
``K_CONST_STATE``: no random seed, so results are the same in every process.

The lanes are independent, so one stripe is one 512-bit vector (or two 256-bit,
or four 128-bit) and each multiply is a 32x32->64-bit vector multiply: the full
blocks run in a hand-vectorised C loop (SSE2, AVX2 or AVX-512F, picked at run
time on x86-64; :func:`simd_levels`), everything else in the Cython code below,
which is also the portable path. All paths give the same bits. The key window
that slides by one word per stripe makes the sum positional within a block and
the scramble makes it positional across blocks; the swapped-word term keeps
the bits a zero product would lose; the length term separates inputs that
differ only by trailing zero bytes. Not cryptographic: it detects divergence,
it does not resist an adversary. :mod:`gpi.cython_ext.checksum` has a numpy
reference that computes the same values.

:func:`checksum_buffers` hashes a list of buffers (a prefix of each) in one
call, each chained from the previous result (exactly like calling
:func:`checksum` once per buffer with ``seed`` = the previous value).
"""

from libc.stdint cimport uint8_t, uint32_t, uint64_t
from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.weakref cimport PyWeakref_CheckRef, PyWeakref_GetObject
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset

# The full blocks, vectorised by hand for x86-64 (SSE2 is part of the base
# ISA; AVX2 / AVX-512F are used when the CPU has them, checked at run time): the same
# arithmetic as the scalar ``_stripes``/``_scramble`` below, so every path
# gives the same bits (tests run each one against the numpy reference).
cdef extern from *:
    """
    #if defined(__GNUC__)
    /* Ask for the cache lines of n bytes at p (a hint: never faults, changes no result). */
    static inline void gpi_ck_prefetch(const uint8_t *p, Py_ssize_t n) {
        for (Py_ssize_t i = 0; i < n; i += 64) __builtin_prefetch(p + i, 0, 3);
    }
    #else
    static inline void gpi_ck_prefetch(const uint8_t *p, Py_ssize_t n) { (void)p; (void)n; }
    #endif
    #if defined(__GNUC__) && defined(__x86_64__)
    #include <immintrin.h>
    static int gpi_ck_cpu_level(void) {
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx512f")) return 3;
        return __builtin_cpu_supports("avx2") ? 2 : 1;
    }
    static void gpi_ck_blocks_sse2(uint64_t *acc, const uint8_t *p, Py_ssize_t nblocks,
                                   const uint64_t *key, const uint64_t *scr, Py_ssize_t pf) {
        __m128i a[4];
        const __m128i prime = _mm_set1_epi64x(0x9E3779B1);
        for (int j = 0; j < 4; j++) a[j] = _mm_loadu_si128((const __m128i *)(acc + 2 * j));
        for (Py_ssize_t b = 0; b < nblocks; b++, p += 1024) {
            if (pf > 0 && b + pf < nblocks) gpi_ck_prefetch(p + 1024 * pf, 1024);
            for (int s = 0; s < 16; s++) {
                for (int j = 0; j < 4; j++) {
                    __m128i w = _mm_loadu_si128((const __m128i *)(p + 64 * s + 16 * j));
                    __m128i d = _mm_xor_si128(w, _mm_loadu_si128((const __m128i *)(key + s + 2 * j)));
                    __m128i prod = _mm_mul_epu32(d, _mm_srli_epi64(d, 32));
                    __m128i swap = _mm_shuffle_epi32(w, _MM_SHUFFLE(1, 0, 3, 2));
                    a[j] = _mm_add_epi64(a[j], _mm_add_epi64(prod, swap));
                }
            }
            for (int j = 0; j < 4; j++) {
                __m128i x = _mm_xor_si128(a[j], _mm_srli_epi64(a[j], 47));
                x = _mm_xor_si128(x, _mm_loadu_si128((const __m128i *)(scr + 2 * j)));
                __m128i lo = _mm_mul_epu32(x, prime);
                __m128i hi = _mm_mul_epu32(_mm_srli_epi64(x, 32), prime);
                a[j] = _mm_add_epi64(lo, _mm_slli_epi64(hi, 32));
            }
        }
        for (int j = 0; j < 4; j++) _mm_storeu_si128((__m128i *)(acc + 2 * j), a[j]);
    }
    __attribute__((target("avx2")))
    static void gpi_ck_blocks_avx2(uint64_t *acc, const uint8_t *p, Py_ssize_t nblocks,
                                   const uint64_t *key, const uint64_t *scr, Py_ssize_t pf) {
        const __m256i prime = _mm256_set1_epi64x(0x9E3779B1);
        __m256i a0 = _mm256_loadu_si256((const __m256i *)acc);
        __m256i a1 = _mm256_loadu_si256((const __m256i *)(acc + 4));
        const __m256i s0 = _mm256_loadu_si256((const __m256i *)scr);
        const __m256i s1 = _mm256_loadu_si256((const __m256i *)(scr + 4));
        for (Py_ssize_t b = 0; b < nblocks; b++, p += 1024) {
            if (pf > 0 && b + pf < nblocks) gpi_ck_prefetch(p + 1024 * pf, 1024);
            for (int s = 0; s < 16; s++) {
                __m256i w0 = _mm256_loadu_si256((const __m256i *)(p + 64 * s));
                __m256i w1 = _mm256_loadu_si256((const __m256i *)(p + 64 * s + 32));
                __m256i d0 = _mm256_xor_si256(w0, _mm256_loadu_si256((const __m256i *)(key + s)));
                __m256i d1 = _mm256_xor_si256(w1, _mm256_loadu_si256((const __m256i *)(key + s + 4)));
                __m256i p0 = _mm256_mul_epu32(d0, _mm256_srli_epi64(d0, 32));
                __m256i p1 = _mm256_mul_epu32(d1, _mm256_srli_epi64(d1, 32));
                a0 = _mm256_add_epi64(a0, _mm256_add_epi64(p0, _mm256_shuffle_epi32(w0, _MM_SHUFFLE(1, 0, 3, 2))));
                a1 = _mm256_add_epi64(a1, _mm256_add_epi64(p1, _mm256_shuffle_epi32(w1, _MM_SHUFFLE(1, 0, 3, 2))));
            }
            __m256i x0 = _mm256_xor_si256(_mm256_xor_si256(a0, _mm256_srli_epi64(a0, 47)), s0);
            __m256i x1 = _mm256_xor_si256(_mm256_xor_si256(a1, _mm256_srli_epi64(a1, 47)), s1);
            a0 = _mm256_add_epi64(_mm256_mul_epu32(x0, prime),
                                  _mm256_slli_epi64(_mm256_mul_epu32(_mm256_srli_epi64(x0, 32), prime), 32));
            a1 = _mm256_add_epi64(_mm256_mul_epu32(x1, prime),
                                  _mm256_slli_epi64(_mm256_mul_epu32(_mm256_srli_epi64(x1, 32), prime), 32));
        }
        _mm256_storeu_si256((__m256i *)acc, a0);
        _mm256_storeu_si256((__m256i *)(acc + 4), a1);
    }
    __attribute__((target("avx512f")))
    static void gpi_ck_blocks_avx512(uint64_t *acc, const uint8_t *p, Py_ssize_t nblocks,
                                     const uint64_t *key, const uint64_t *scr, Py_ssize_t pf) {
        const __m512i prime = _mm512_set1_epi64(0x9E3779B1);
        const __m512i sv = _mm512_loadu_si512((const void *)scr);
        __m512i a = _mm512_loadu_si512((const void *)acc);
        for (Py_ssize_t b = 0; b < nblocks; b++, p += 1024) {
            if (pf > 0 && b + pf < nblocks) gpi_ck_prefetch(p + 1024 * pf, 1024);
            for (int s = 0; s < 16; s++) {
                __m512i w = _mm512_loadu_si512((const void *)(p + 64 * s));
                __m512i d = _mm512_xor_si512(w, _mm512_loadu_si512((const void *)(key + s)));
                __m512i prod = _mm512_mul_epu32(d, _mm512_srli_epi64(d, 32));
                a = _mm512_add_epi64(a, _mm512_add_epi64(prod, _mm512_shuffle_epi32(w, (_MM_PERM_ENUM)_MM_SHUFFLE(1, 0, 3, 2))));
            }
            __m512i x = _mm512_xor_si512(_mm512_xor_si512(a, _mm512_srli_epi64(a, 47)), sv);
            a = _mm512_add_epi64(_mm512_mul_epu32(x, prime),
                                 _mm512_slli_epi64(_mm512_mul_epu32(_mm512_srli_epi64(x, 32), prime), 32));
        }
        _mm512_storeu_si512((void *)acc, a);
    }
    #else
    static int gpi_ck_cpu_level(void) { return 0; }
    static void gpi_ck_blocks_sse2(uint64_t *acc, const uint8_t *p, Py_ssize_t nblocks,
                                   const uint64_t *key, const uint64_t *scr, Py_ssize_t pf) {}
    static void gpi_ck_blocks_avx2(uint64_t *acc, const uint8_t *p, Py_ssize_t nblocks,
                                   const uint64_t *key, const uint64_t *scr, Py_ssize_t pf) {}
    static void gpi_ck_blocks_avx512(uint64_t *acc, const uint8_t *p, Py_ssize_t nblocks,
                                     const uint64_t *key, const uint64_t *scr, Py_ssize_t pf) {}
    #endif
    """
    int gpi_ck_cpu_level() nogil
    void gpi_ck_prefetch(const uint8_t* p, Py_ssize_t n) nogil
    void gpi_ck_blocks_sse2(uint64_t* acc, const uint8_t* p, Py_ssize_t nblocks,
                            const uint64_t* key, const uint64_t* scr, Py_ssize_t pf) nogil
    void gpi_ck_blocks_avx2(uint64_t* acc, const uint8_t* p, Py_ssize_t nblocks,
                            const uint64_t* key, const uint64_t* scr, Py_ssize_t pf) nogil
    void gpi_ck_blocks_avx512(uint64_t* acc, const uint8_t* p, Py_ssize_t nblocks,
                              const uint64_t* key, const uint64_t* scr, Py_ssize_t pf) nogil

cdef uint64_t K_SEED = 0xD6E8FEB86659FD93ULL
cdef uint64_t K_LEN = 0xC2B2AE3D27D4EB4FULL
cdef uint64_t K_GAMMA = 0x9E3779B97F4A7C15ULL
cdef uint64_t K_CONST_STATE = 0x67706932636B7332ULL  # "gpi2cks2"
cdef uint64_t PRIME32 = 0x9E3779B1ULL

cdef uint64_t KEY[24]
cdef uint64_t INIT[8]
cdef uint64_t SCRAMBLE[8]
cdef uint8_t _EMPTY = 0


cdef inline uint64_t _mix(uint64_t z) noexcept nogil:
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL
    return z ^ (z >> 31)


cdef void _init_constants() noexcept:
    cdef uint64_t state = K_CONST_STATE
    cdef int i
    for i in range(24):
        state += K_GAMMA
        KEY[i] = _mix(state)
    for i in range(8):
        state += K_GAMMA
        INIT[i] = _mix(state)
    for i in range(8):
        state += K_GAMMA
        SCRAMBLE[i] = _mix(state)


_init_constants()

cdef int _cpu_level = gpi_ck_cpu_level()
cdef int _level = _cpu_level
# Software prefetch distance in 1024-byte blocks (0: off). Data written by a
# tick is often out of L1/L2 when the checksum runs right after it; asking for
# block b + distance while hashing block b (and for the start of the next buffer
# while hashing this one) overlaps those misses with the arithmetic.
cdef Py_ssize_t _prefetch = 2


def simd_levels():
    """The block paths this CPU can run: 0 scalar, 1 SSE2, 2 AVX2, 3 AVX-512F (x86-64 only)."""
    return list(range(_cpu_level + 1))


def simd_level():
    """The block path in use (see :func:`simd_levels`)."""
    return _level


def set_simd_level(int level):
    """Use block path ``level`` (for tests and benchmarks); returns the previous one."""
    global _level
    if level < 0 or level > _cpu_level:
        raise ValueError(f"SIMD level {level} is not available here; this CPU has {simd_levels()}")
    old = _level
    _level = level
    return old


def prefetch_distance():
    """The software prefetch distance in 1024-byte blocks (0: off)."""
    return _prefetch


def set_prefetch_distance(Py_ssize_t blocks):
    """Prefetch ``blocks`` blocks ahead (0 turns it off; for benchmarks); returns the previous distance."""
    global _prefetch
    if blocks < 0 or blocks > 64:
        raise ValueError(f"prefetch distance {blocks} is outside 0..64 blocks")
    old = _prefetch
    _prefetch = blocks
    return old


def constants():
    """``(KEY, INIT, SCRAMBLE)`` as lists of ints (for the reference implementation's tests)."""
    return [KEY[i] for i in range(24)], [INIT[i] for i in range(8)], [SCRAMBLE[i] for i in range(8)]


cdef inline void _stripes(uint64_t* acc, const uint8_t* p, Py_ssize_t count,
                          const uint64_t* key) noexcept nogil:
    """Accumulate ``count`` stripes at ``p``; stripe ``s`` uses ``key[s .. s+8)``."""
    cdef uint64_t w[8]
    cdef uint64_t d
    cdef Py_ssize_t s
    cdef int l
    for s in range(count):
        memcpy(w, p + s * 64, 64)  # unaligned little-endian load (the wrapper refuses big-endian hosts)
        for l in range(8):
            d = w[l] ^ key[s + l]
            acc[l] += w[l ^ 1] + <uint64_t><uint32_t>d * <uint64_t><uint32_t>(d >> 32)


cdef inline void _scramble(uint64_t* acc) noexcept nogil:
    cdef int l
    for l in range(8):
        acc[l] = (acc[l] ^ (acc[l] >> 47) ^ SCRAMBLE[l]) * PRIME32


cdef uint64_t _hash(const uint8_t* p, Py_ssize_t n, uint64_t seed) noexcept nogil:
    """The hash of ``n`` bytes at ``p`` (see the module doc)."""
    cdef uint64_t acc[8]
    cdef uint64_t pad[8]
    cdef Py_ssize_t nblocks = n >> 10
    cdef Py_ssize_t b, rest, full
    cdef Py_ssize_t pf = _prefetch
    cdef uint64_t h
    cdef int l
    for l in range(8):
        acc[l] = INIT[l]
    if _level >= 3:
        gpi_ck_blocks_avx512(acc, p, nblocks, KEY, SCRAMBLE, pf)
    elif _level == 2:
        gpi_ck_blocks_avx2(acc, p, nblocks, KEY, SCRAMBLE, pf)
    elif _level == 1:
        gpi_ck_blocks_sse2(acc, p, nblocks, KEY, SCRAMBLE, pf)
    else:
        for b in range(nblocks):
            if pf > 0 and b + pf < nblocks:
                gpi_ck_prefetch(p + ((b + pf) << 10), 1024)
            _stripes(acc, p + (b << 10), 16, KEY)
            _scramble(acc)
    p += nblocks << 10
    rest = n - (nblocks << 10)
    full = rest >> 6
    _stripes(acc, p, full, KEY)
    rest -= full << 6
    if rest:
        memset(pad, 0, 64)
        memcpy(pad, p + (full << 6), rest)
        _stripes(acc, <const uint8_t*>pad, 1, KEY + full)
    h = _mix(seed ^ K_SEED) ^ (<uint64_t>n * K_LEN)
    for l in range(8):
        h = _mix(h ^ acc[l])
    return h


def checksum(const uint8_t[::1] data not None, uint64_t seed=0):
    """Hash the bytes of ``data`` (a contiguous uint8 buffer) with ``seed``; returns an int."""
    cdef Py_ssize_t n = data.shape[0]
    cdef const uint8_t* p = &_EMPTY
    cdef uint64_t h
    if n > 0:
        p = &data[0]
    with nogil:
        h = _hash(p, n, seed)
    return h


def checksum_buffers(list buffers not None, list lengths not None, uint64_t seed=0, tail=None):
    """Chain the hash over the first ``lengths[i]`` bytes of each of ``buffers``; returns an int.

    Exactly ``checksum(buffers[-1][:lengths[-1]], ... checksum(buffers[0][:lengths[0]], seed))``,
    in one call: every buffer (contiguous, any object with the buffer
    protocol) is held for the whole call, then hashed without the GIL. A
    buffer may also be a ``weakref.ref`` to one: it is dereferenced, and
    :class:`ReferenceError` is raised if its object no longer exists (so a
    caller can keep weak references to arrays and learn when one went away).
    ``tail``, if given, is one more buffer hashed whole after the others
    (the same as appending it and its length to the lists).
    """
    cdef Py_ssize_t m = len(buffers)
    cdef Py_ssize_t k
    cdef Py_ssize_t i
    cdef Py_ssize_t got = 0
    cdef Py_ssize_t head
    cdef Py_ssize_t* sizes
    cdef Py_buffer* views
    cdef uint64_t h = seed
    cdef object obj
    if len(lengths) != m:
        raise ValueError(f"checksum_buffers: {m} buffers but {len(lengths)} lengths")
    k = m  # buffers in the lists; m counts the tail too
    if tail is not None:
        m += 1
    views = <Py_buffer*>malloc((m + 1) * sizeof(Py_buffer))
    sizes = <Py_ssize_t*>malloc((m + 1) * sizeof(Py_ssize_t))
    if views == NULL or sizes == NULL:
        free(views)
        free(sizes)
        raise MemoryError()
    try:
        for i in range(m):
            if i < k:
                sizes[i] = lengths[i]
                obj = buffers[i]
            else:
                sizes[i] = -1  # the tail: all of it
                obj = tail
            if PyWeakref_CheckRef(obj):
                obj = <object>PyWeakref_GetObject(obj)
                if obj is None:
                    raise ReferenceError(f"checksum_buffers: buffer {i} is a weak reference to an object "
                                         "that no longer exists")
            PyObject_GetBuffer(obj, &views[i], PyBUF_SIMPLE)
            got += 1
            if i >= k:
                sizes[i] = views[i].len
            if sizes[i] < 0 or sizes[i] > views[i].len:
                raise ValueError(f"checksum_buffers: length {sizes[i]} of buffer {i} is outside "
                                 f"its {views[i].len} bytes")
        with nogil:
            head = _prefetch << 10
            if m > 0 and head > 0:
                gpi_ck_prefetch(<const uint8_t*>views[0].buf, sizes[0] if sizes[0] < head else head)
            for i in range(m):
                if head > 0 and i + 1 < m:  # the start of the next buffer, while this one is hashed
                    gpi_ck_prefetch(<const uint8_t*>views[i + 1].buf, sizes[i + 1] if sizes[i + 1] < head else head)
                if sizes[i]:
                    h = _hash(<const uint8_t*>views[i].buf, sizes[i], h)
                else:
                    h = _hash(&_EMPTY, 0, h)
    finally:
        for i in range(got):
            PyBuffer_Release(&views[i])
        free(views)
        free(sizes)
    return h
