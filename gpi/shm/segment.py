"""Memfd-backed shared-memory segments.

A :class:`Segment` is an anonymous memory file (``memfd_create``) mapped into
this process. The owner maps it read-write; :meth:`Segment.seal` then forbids
any *new* writable mapping (``F_SEAL_FUTURE_WRITE``) and any change of size, so
a peer that receives the fd (see :mod:`gpi.shm.fdpass`) can only map it
read-only: a write from the peer is refused by the kernel, not by convention.

Memfds have no name in any filesystem: they vanish when the last fd and the
last mapping are gone, so a crash never leaves anything in ``/dev/shm``.

Invariants: ``size`` is fixed for the life of a segment (growth allocates a new
segment and copies, see :meth:`Segment.grown`); ``close()`` is safe to call
twice and after a failed ``__init__``.
"""

from __future__ import annotations

import fcntl
import math
import mmap
import os
from typing import Any

import numpy as np

from gpi.shm.errors import SegmentClosedError, SegmentError

__all__ = ["PAGE_SIZE", "Segment", "align_up"]

PAGE_SIZE = mmap.PAGESIZE
# Not exported by Python's fcntl module; value from <linux/fcntl.h>.
F_SEAL_FUTURE_WRITE = 0x10


def align_up(n: int, alignment: int = 64) -> int:
    """Round ``n`` up to a multiple of ``alignment`` (a power of two)."""
    return (n + alignment - 1) & ~(alignment - 1)


class Segment:
    """One shared-memory segment: an fd, its size and this process's mapping."""

    # Class-level defaults so that close() works even if __init__ failed early.
    _fd: int = -1
    _mmap: mmap.mmap | None = None
    _array: np.ndarray | None = None
    size: int = 0
    name: str = ""
    readonly: bool = False
    sealed: bool = False

    def __init__(self, fd: int, size: int, *, readonly: bool, name: str = "") -> None:
        """Map ``fd`` (whose ownership passes to the segment). Prefer :meth:`create`/:meth:`attach`."""
        self._fd = fd
        self.size = int(size)
        self.name = name
        self.readonly = readonly
        try:
            if self.size <= 0:
                raise SegmentError(f"segment {name!r}: size must be positive, got {size}")
            prot = mmap.PROT_READ if readonly else mmap.PROT_READ | mmap.PROT_WRITE
            self._mmap = mmap.mmap(fd, self.size, flags=mmap.MAP_SHARED, prot=prot)
            self._array = np.frombuffer(self._mmap, dtype=np.uint8)
        except OSError as exc:
            self.close()
            mode = "read-only" if readonly else "read-write"
            raise SegmentError(f"segment {name!r}: cannot map {self.size} bytes {mode}: {exc}") from exc
        except BaseException:
            self.close()
            raise

    # -- construction ---------------------------------------------------------------

    @classmethod
    def create(cls, size: int, name: str = "gpi") -> Segment:
        """A new zero-filled segment of ``size`` bytes (rounded up to a page), mapped read-write."""
        size = align_up(max(int(size), 1), PAGE_SIZE)
        try:
            fd = os.memfd_create(name, os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        except OSError as exc:
            raise SegmentError(f"memfd_create({name!r}) failed: {exc}") from exc
        try:
            os.ftruncate(fd, size)
        except OSError as exc:
            os.close(fd)
            raise SegmentError(f"segment {name!r}: cannot size to {size} bytes: {exc}") from exc
        return cls(fd, size, readonly=False, name=name)

    @classmethod
    def attach(cls, fd: int, size: int | None = None, *, readonly: bool = True, name: str = "") -> Segment:
        """Map a segment received from another process; the segment takes ownership of ``fd``."""
        if size is None:
            size = os.fstat(fd).st_size
        return cls(fd, size, readonly=readonly, name=name)

    def seal(self, *, allow_peer_writes: bool = False) -> None:
        """Forbid resizing and, unless ``allow_peer_writes``, any new writable mapping.

        Our own writable mapping keeps working. Segments a child must write
        (its output arena, its response ring) pass ``allow_peer_writes=True``.
        """
        seals = fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW
        if not allow_peer_writes:
            seals |= F_SEAL_FUTURE_WRITE
        try:
            fcntl.fcntl(self.fd, fcntl.F_ADD_SEALS, seals)
        except OSError as exc:
            raise SegmentError(f"segment {self.name!r}: cannot add seals: {exc}") from exc
        self.sealed = True

    def grown(self, new_size: int) -> Segment:
        """A new, larger segment holding a copy of this one's bytes (this one stays open)."""
        if new_size < self.size:
            raise SegmentError(f"segment {self.name!r}: cannot grow {self.size} to smaller {new_size}")
        bigger = Segment.create(new_size, self.name)
        bigger.array_view()[: self.size] = self.array_view()
        return bigger

    # -- access -----------------------------------------------------------------------

    @property
    def fd(self) -> int:
        """The memfd; raises if the segment is closed."""
        if self._fd < 0:
            raise SegmentClosedError(f"segment {self.name!r} is closed")
        return self._fd

    @property
    def closed(self) -> bool:
        return self._mmap is None

    @property
    def buf(self) -> memoryview:
        """The whole mapping as a memoryview (read-only when mapped read-only)."""
        return memoryview(self._mapping())

    @property
    def address(self) -> int:
        """Base address of this process's mapping, for kernels and GL uploads."""
        return int(self.array_view().ctypes.data)

    def array_view(self) -> np.ndarray:
        """The whole mapping as a flat ``uint8`` array (read-only if mapped read-only)."""
        if self._array is None:
            raise SegmentClosedError(f"segment {self.name!r} is closed")
        return self._array

    def ndarray(self, dtype: Any, shape: tuple[int, ...] | int, offset: int = 0) -> np.ndarray:
        """A numpy view of ``shape``/``dtype`` at byte ``offset``; read-only if the mapping is."""
        dt = dtype if isinstance(dtype, np.dtype) else np.dtype(dtype)
        shp = (shape,) if isinstance(shape, int) else tuple(shape)
        nbytes = dt.itemsize * math.prod(int(n) for n in shp)
        if offset < 0 or offset + nbytes > self.size:
            raise SegmentError(
                f"segment {self.name!r}: view of {nbytes} bytes at offset {offset} "
                f"exceeds its size {self.size}"
            )
        return np.ndarray(shp, dtype=dt, buffer=self._mapping(), offset=offset)

    def _mapping(self) -> mmap.mmap:
        if self._mmap is None:
            raise SegmentClosedError(f"segment {self.name!r} is closed")
        return self._mmap

    # -- lifetime ---------------------------------------------------------------------

    def close(self) -> None:
        """Unmap and close the fd. Safe to call twice.

        If numpy views of the mapping are still alive the unmap is left to the
        garbage collector (the views keep the memory valid); the fd is closed
        either way.
        """
        self._array = None
        mm, self._mmap = self._mmap, None
        if mm is not None:
            try:
                mm.close()
            except BufferError:
                pass  # exported views still alive: the mapping dies with them
        fd, self._fd = self._fd, -1
        if fd >= 0:
            try:
                os.close(fd)
            except OSError:
                pass

    def __enter__(self) -> Segment:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else ("ro" if self.readonly else "rw")
        sealed = " sealed" if self.sealed else ""
        return f"<Segment {self.name!r} size={self.size} fd={self._fd} {state}{sealed}>"
