# cython: boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Checksum kernel: a 64-bit positional multiply-mix hash over 8-byte words.

For the words ``w[0..n)`` of the input (little-endian; a short tail is
zero-padded into one more word)::

    acc = sum(mix(w[i] + (i + 1) * K_INDEX)) mod 2**64
    h   = mix(acc ^ mix(seed ^ K_SEED) ^ (len * K_LEN))

where ``mix`` is the splitmix64 finaliser. Each word is mixed on its own, so
the sum vectorises (the numpy reference in :mod:`gpi.cython_ext.checksum`
computes the same value); the index term makes the hash positional and the
length term separates inputs that differ only by trailing zero bytes.
Not cryptographic: it detects divergence, it does not resist an adversary.
"""

from libc.stdint cimport uint8_t, uint64_t
from libc.string cimport memcpy

cdef uint64_t K_INDEX = 0x9E3779B97F4A7C15ULL
cdef uint64_t K_SEED = 0xD6E8FEB86659FD93ULL
cdef uint64_t K_LEN = 0xC2B2AE3D27D4EB4FULL


cdef inline uint64_t _mix(uint64_t z) noexcept nogil:
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL
    return z ^ (z >> 31)


def checksum(const uint8_t[::1] data not None, uint64_t seed=0):
    """Hash the bytes of ``data`` (a contiguous uint8 buffer) with ``seed``; returns an int."""
    cdef Py_ssize_t n = data.shape[0]
    cdef Py_ssize_t nw = n // 8
    cdef Py_ssize_t tail = n - nw * 8
    cdef Py_ssize_t i
    cdef uint64_t acc = 0
    cdef uint64_t w = 0
    cdef const uint8_t* p
    if n > 0:
        p = &data[0]
        with nogil:
            for i in range(nw):
                memcpy(&w, p + i * 8, 8)
                acc += _mix(w + <uint64_t>(i + 1) * K_INDEX)
            if tail:
                w = 0
                memcpy(&w, p + nw * 8, tail)
                acc += _mix(w + <uint64_t>(nw + 1) * K_INDEX)
    return _mix(acc ^ _mix(seed ^ K_SEED) ^ (<uint64_t>n * K_LEN))
