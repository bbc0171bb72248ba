"""Checksums of byte buffers: the Cython kernel, with a numpy reference of the same results.

:func:`checksum_bytes` hashes any contiguous buffer (bytes, memoryview, numpy
array of any dtype: its raw bytes). :func:`checksum_buffers` hashes a list of
buffers (a prefix of each, chained: each result seeds the next) in one kernel
call. The compiled kernel (:mod:`gpi.cython_ext._checksum`) is chosen once at
import (:mod:`gpi.cython_ext.backend`); when it is not built, the host is
big-endian or ``GPI_PURE_PYTHON=1``, the numpy reference
(:func:`checksum_bytes_reference`, :func:`checksum_buffers_reference`) takes
its place: same results, slower. ``BACKEND`` says which one is in use.

Algorithm (format ``lanes64 v2``, see ``_checksum.pyx`` for the details):
the input as little-endian uint64 words, 8 per 64-byte *stripe*, 16 stripes
per 1024-byte *block*, tail zero-padded to a whole stripe. Eight lane
accumulators start at ``INIT``; stripe ``s`` of a block adds to lane ``l``::

    d = w[l] ^ KEY[s + l];  acc[l] += w[l ^ 1] + lo32(d) * hi32(d)   (mod 2**64)

and every full block ends with ``acc = (acc ^ acc >> 47 ^ SCRAMBLE) * 0x9E3779B1``.
Result: ``h = mix(seed ^ K_SEED) ^ len * K_LEN``, then ``h = mix(h ^ acc[l])``
for each lane in order (``mix`` = the splitmix64 finaliser). ``KEY``, ``INIT``
and ``SCRAMBLE`` are fixed (the splitmix64 sequence from ``K_CONST_STATE``).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import numpy as np

from gpi.cython_ext.backend import load_kernel

__all__ = [
    "BACKEND",
    "KERNEL",
    "as_bytes_view",
    "checksum_buffers",
    "checksum_buffers_kernel",
    "checksum_buffers_reference",
    "checksum_bytes",
    "checksum_bytes_reference",
]

_MASK = (1 << 64) - 1
_M32 = np.uint64(0xFFFFFFFF)
K_SEED = 0xD6E8FEB86659FD93
K_LEN = 0xC2B2AE3D27D4EB4F
K_GAMMA = 0x9E3779B97F4A7C15
K_CONST_STATE = 0x67706932636B7332  # "gpi2cks2"
PRIME32 = np.uint64(0x9E3779B1)
STRIPE = 64
BLOCK = 1024
_SWAP = np.array([1, 0, 3, 2, 5, 4, 7, 6])


def _mix_int(z: int) -> int:
    z &= _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def _constants() -> tuple[list[int], list[int], list[int]]:
    state = K_CONST_STATE
    seq = []
    for _ in range(24 + 8 + 8):
        state = (state + K_GAMMA) & _MASK
        seq.append(_mix_int(state))
    return seq[:24], seq[24:32], seq[32:]


_KEY_LIST, _INIT_LIST, _SCRAMBLE_LIST = _constants()
KEY = np.array(_KEY_LIST, dtype=np.uint64)
INIT = np.array(_INIT_LIST, dtype=np.uint64)
SCRAMBLE = np.array(_SCRAMBLE_LIST, dtype=np.uint64)
# KEY window of stripe s (0..15) of a block: KEY[s .. s+8)
_KEY_WINDOWS = KEY[np.arange(16)[:, None] + np.arange(8)[None, :]]


def as_bytes_view(data: Any) -> np.ndarray:
    """``data`` as a flat contiguous uint8 array (no copy when already contiguous)."""
    if isinstance(data, np.ndarray):
        arr = np.ascontiguousarray(data)
        return arr.reshape(-1).view(np.uint8)
    return np.frombuffer(memoryview(data).cast("B"), dtype=np.uint8)


def _lanes_reference(buf: np.ndarray) -> list[int]:
    """The eight lane accumulators after hashing ``buf`` (uint8, contiguous)."""
    n = int(buf.shape[0])
    nstripes = -(-n // STRIPE)
    padded = np.zeros(nstripes * STRIPE, dtype=np.uint8)
    padded[:n] = buf
    w = padded.view("<u8").astype(np.uint64, copy=False).reshape(nstripes, 8)
    keys = _KEY_WINDOWS[np.arange(nstripes) % 16]
    d = w ^ keys
    add = w[:, _SWAP] + (d & _M32) * (d >> np.uint64(32))
    nblocks = n // BLOCK
    per_block = add[: nblocks * 16].reshape(nblocks, 16, 8).sum(axis=1, dtype=np.uint64)
    acc = INIT.copy()
    for b in range(nblocks):  # the scramble makes blocks sequential
        acc = acc + per_block[b]
        acc = (acc ^ (acc >> np.uint64(47)) ^ SCRAMBLE) * PRIME32
    acc = acc + add[nblocks * 16 :].sum(axis=0, dtype=np.uint64)
    return [int(x) for x in acc]


def checksum_bytes_reference(data: Any, seed: int = 0) -> int:
    """The numpy reference implementation (same results as the kernel)."""
    buf = as_bytes_view(data)
    n = int(buf.shape[0])
    h = _mix_int((seed & _MASK) ^ K_SEED) ^ ((n * K_LEN) & _MASK)
    for a in _lanes_reference(buf):
        h = _mix_int(h ^ a)
    return h


def checksum_buffers_reference(buffers: Sequence[Any], lengths: Sequence[int], seed: int = 0,
                               tail: Any = None) -> int:
    """Reference of :func:`checksum_buffers`: the first ``lengths[i]`` bytes of each buffer, chained."""
    if len(buffers) != len(lengths):
        raise ValueError(f"checksum_buffers: {len(buffers)} buffers but {len(lengths)} lengths")
    if tail is not None:
        last = _contiguous_bytes(tail, len(buffers))
        buffers, lengths = [*buffers, last], [*lengths, int(last.shape[0])]
    h = seed & _MASK
    for i, (b, n) in enumerate(zip(buffers, lengths)):
        view = _contiguous_bytes(b, i)
        if not 0 <= n <= view.shape[0]:
            raise ValueError(f"checksum_buffers: length {n} of buffer {i} is outside its {view.shape[0]} bytes")
        h = checksum_bytes_reference(view[:n], h)
    return h


def _contiguous_bytes(b: Any, i: int) -> np.ndarray:
    if isinstance(b, weakref.ref):
        b = b()
        if b is None:
            raise ReferenceError(f"checksum_buffers: buffer {i} is a weak reference to an object "
                                 "that no longer exists")
    if isinstance(b, np.ndarray):
        if not b.flags.c_contiguous:
            raise ValueError(f"checksum_buffers: buffer {i} is not C-contiguous")
        return b.reshape(-1).view(np.uint8)
    return np.frombuffer(memoryview(b).cast("B"), dtype=np.uint8)


# The compiled extension in use (None: the numpy reference runs); for kernel-level knobs (SIMD level, prefetch).
KERNEL: ModuleType | None = load_kernel("_checksum")
BACKEND = "numpy" if KERNEL is None else "cython"


def checksum_bytes(data: Any, seed: int = 0) -> int:
    """64-bit checksum of the raw bytes of ``data``, chained from ``seed``."""
    if KERNEL is None:
        return checksum_bytes_reference(data, seed)
    if type(data) is bytes:
        return int(KERNEL.checksum(data, seed & _MASK))
    return int(KERNEL.checksum(as_bytes_view(data), seed & _MASK))


def checksum_buffers(buffers: list[Any], lengths: list[int], seed: int = 0, tail: Any = None) -> int:
    """Checksum of the first ``lengths[i]`` bytes of each buffer, chained (one kernel call).

    Equal to ``h = seed; for b, n in zip(buffers, lengths): h = checksum_bytes(b[:n], h)``
    over the raw bytes. Buffers must be C-contiguous (a numpy array's whole
    memory, a bytes object, ...); no copies are made, so a prefix of a large
    preallocated array costs only its ``n`` bytes. A buffer may be a
    ``weakref.ref`` to one: it is dereferenced, and :class:`ReferenceError`
    is raised if its object no longer exists. ``tail``, if given, is one
    more buffer hashed whole after the others.
    """
    if KERNEL is None:
        return checksum_buffers_reference(buffers, lengths, seed, tail)
    return int(KERNEL.checksum_buffers(buffers, lengths, seed & _MASK, tail))


def checksum_buffers_kernel() -> Callable[..., int]:
    """The backend's own ``checksum_buffers(buffers, lengths, seed, tail)``, without this wrapper.

    For hot callers (the world checksum) that pass a well-formed, masked seed:
    the compiled kernel when it is in use, else :func:`checksum_buffers_reference`.
    """
    if KERNEL is None:
        return checksum_buffers_reference
    return KERNEL.checksum_buffers  # type: ignore[no-any-return]
