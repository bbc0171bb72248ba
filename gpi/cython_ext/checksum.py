"""Checksums of byte buffers: the Cython kernel, with a numpy reference of the same signature.

:func:`checksum_bytes` hashes any contiguous buffer (bytes, memoryview, numpy
array of any dtype: its raw bytes). The compiled kernel
(:mod:`gpi.cython_ext._checksum`) is chosen once at import; if it was not
built, the numpy reference :func:`checksum_bytes_reference` takes its place
(same results, slower). ``BACKEND`` says which one is in use.

Algorithm (see ``_checksum.pyx``): words are the input read as little-endian
uint64 (the tail zero-padded); ``acc = Σ mix(w[i] + (i+1)·K_INDEX) mod 2⁶⁴``;
result ``mix(acc ^ mix(seed ^ K_SEED) ^ len·K_LEN)`` with ``mix`` the
splitmix64 finaliser.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["BACKEND", "checksum_bytes", "checksum_bytes_reference", "as_bytes_view"]

_MASK = (1 << 64) - 1
K_INDEX = np.uint64(0x9E3779B97F4A7C15)
K_SEED = 0xD6E8FEB86659FD93
K_LEN = 0xC2B2AE3D27D4EB4F


def as_bytes_view(data: Any) -> np.ndarray:
    """``data`` as a flat contiguous uint8 array (no copy when already contiguous)."""
    if isinstance(data, np.ndarray):
        arr = np.ascontiguousarray(data)
        return arr.reshape(-1).view(np.uint8)
    return np.frombuffer(memoryview(data).cast("B"), dtype=np.uint8)


def _mix_int(z: int) -> int:
    z &= _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def _mix_array(z: np.ndarray) -> np.ndarray:
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def checksum_bytes_reference(data: Any, seed: int = 0) -> int:
    """The numpy reference implementation (same results as the kernel)."""
    buf = as_bytes_view(data)
    n = int(buf.shape[0])
    nw = n // 8
    acc = 0
    if nw:
        words = buf[: nw * 8].view("<u8").astype(np.uint64, copy=False)
        idx = np.arange(1, nw + 1, dtype=np.uint64) * K_INDEX
        acc = int(_mix_array(words + idx).sum(dtype=np.uint64))
    tail = n - nw * 8
    if tail:
        w = int.from_bytes(bytes(buf[nw * 8 :]), "little")
        acc = (acc + _mix_int(w + (nw + 1) * int(K_INDEX))) & _MASK
    return _mix_int(acc ^ _mix_int((seed & _MASK) ^ K_SEED) ^ ((n * K_LEN) & _MASK))


_kernel: Callable[..., int] | None = None
BACKEND = "numpy"
try:
    import importlib

    _kernel = importlib.import_module("gpi.cython_ext._checksum").checksum
    BACKEND = "cython"
except ImportError:  # not built: `python setup.py build_ext --inplace`
    pass


def checksum_bytes(data: Any, seed: int = 0) -> int:
    """64-bit checksum of the raw bytes of ``data``, chained from ``seed``."""
    buf = as_bytes_view(data)
    if _kernel is None:
        return checksum_bytes_reference(buf, seed)
    return int(_kernel(buf, seed & _MASK))
