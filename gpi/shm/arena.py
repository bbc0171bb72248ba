"""Output arenas: big array payloads travel by reference, not through the ring.

An :class:`Arena` is a bump allocator over a region of a shared
:class:`~gpi.shm.segment.Segment` that the child maps read-write. The child
calls :meth:`Arena.reset` at the start of each request, then
:meth:`Arena.write` for each large array; what goes into the message is a small
reference map::

    {"off": int, "nbytes": int, "dtype": str | list, "shape": [int, ...]}

(``dtype`` is ``numpy.dtype.str``, or the ``descr`` list for structured
dtypes). The host calls :meth:`Arena.view` on the reference and gets a numpy
view of the shared bytes, read-only unless asked otherwise: zero copy. The
view stays valid until the child's next reset, so the host copies out what it
keeps. Every reference is bounds-checked against the arena before a view is
made, since it comes from an untrusted process.

Allocations are 64-byte aligned (cache lines, SIMD loads).

Streamed arrays (:meth:`Arena.stream_array` + :meth:`Arena.fill`) add a
``"progress"`` field: the arena offset of a 16-byte progress cell whose u64
says how many bytes are already written (release-stored after each chunk; a
reader that sleeps on the cell's futex word is woken). The writer can send the
reference *before* filling, and the reader's :meth:`Arena.copy_out` copies
each chunk as soon as it lands, so writing and copying out overlap on two
cores instead of running back to back.
"""

from __future__ import annotations

import functools
import math
import time
from typing import Any

import numpy as np

from gpi.cython_ext import ring_ops
from gpi.shm.errors import ArenaError, ChannelTimeout, PeerDiedError
from gpi.shm.segment import Segment

__all__ = ["ARENA_ALIGN", "STREAM_CHUNK", "Arena", "dtype_from_wire", "dtype_to_wire"]

ARENA_ALIGN = 64
# Small enough that the reader starts early, big enough that the per-chunk call overhead vanishes.
STREAM_CHUNK = 1 << 20
_WAIT_SLICE_NS = 250_000_000  # back to Python this often while waiting, for signals
_SPIN_NS = 20_000  # how long copy_out spins on a progress cell before it sleeps


def dtype_to_wire(dt: np.dtype) -> Any:
    """A msgpack-able description of ``dt``."""
    if dt.hasobject:
        raise ArenaError(f"dtype {dt} holds Python objects and cannot live in shared memory")
    if dt.fields is None and dt.subdtype is None:
        return dt.str
    return [list(x) if isinstance(x, tuple) else x for x in np.lib.format.dtype_to_descr(dt)]


@functools.lru_cache(maxsize=256)
def _str_dtype(desc: str) -> np.dtype:
    """``np.dtype(desc)``, remembered: the same few strings ("<f4", "<u8") come with every message."""
    return np.dtype(desc)


def dtype_from_wire(desc: Any) -> np.dtype:
    """The dtype :func:`dtype_to_wire` described; ArenaError if it is not a valid plain dtype."""
    try:
        if isinstance(desc, str):
            dt = _str_dtype(str(desc))
        elif isinstance(desc, list):
            dt = np.lib.format.descr_to_dtype([_tuplify(x) for x in desc])
        else:
            raise TypeError(f"expected a string or list, got {type(desc).__name__}")
    except (TypeError, ValueError, KeyError, IndexError) as exc:
        raise ArenaError(f"arena reference has an invalid dtype {desc!r}: {exc}") from exc
    if dt.hasobject:
        raise ArenaError(f"arena reference dtype {desc!r} holds Python objects")
    return dt


def _tuplify(x: Any) -> Any:
    if isinstance(x, list):
        return tuple(_tuplify(y) for y in x)
    return x


class Arena:
    """A bump allocator over ``segment[offset:offset+size]``, reset per request."""

    def __init__(self, segment: Segment, offset: int = 0, size: int | None = None) -> None:
        """Use ``size`` bytes of ``segment`` from ``offset`` (default: the rest of it)."""
        if size is None:
            size = segment.size - offset
        if offset < 0 or size <= 0 or offset + size > segment.size:
            raise ArenaError(
                f"arena of {size} bytes at offset {offset} does not fit in segment "
                f"{segment.name!r} of {segment.size} bytes"
            )
        self.segment = segment
        self.offset = int(offset)
        self.size = int(size)
        self.used = 0

    @property
    def remaining(self) -> int:
        """Bytes still free before the next reset."""
        return self.size - self.used

    def reset(self) -> None:
        """Forget every allocation (views the peer still holds will see new data)."""
        self.used = 0

    def alloc(self, nbytes: int, align: int = ARENA_ALIGN) -> int:
        """Reserve ``nbytes`` and return their offset within the arena."""
        if nbytes < 0:
            raise ArenaError(f"cannot allocate a negative size ({nbytes})")
        off = (self.used + align - 1) & ~(align - 1)
        if off + nbytes > self.size:
            raise ArenaError(
                f"arena of segment {self.segment.name!r} is full: {nbytes} bytes requested, "
                f"{self.size - min(off, self.size)} free of {self.size}; raise arena_size "
                "or send less per request"
            )
        self.used = off + nbytes
        return off

    def array(self, dtype: Any, shape: tuple[int, ...] | int) -> tuple[np.ndarray, dict[str, Any]]:
        """Allocate a writable array in the arena; returns (array, reference) so it can be filled in place."""
        dt = np.dtype(dtype)
        shp = (int(shape),) if isinstance(shape, int) else tuple(int(s) for s in shape)
        nbytes = dt.itemsize * math.prod(shp)
        off = self.alloc(nbytes)
        ref = {"off": off, "nbytes": nbytes, "dtype": dtype_to_wire(dt), "shape": list(shp)}
        arr = self.segment.ndarray(dt, shp, self.offset + off)
        return arr, ref

    def write(self, array: Any) -> dict[str, Any]:
        """Copy ``array`` into the arena and return its reference map."""
        src = np.asarray(array)
        dst, ref = self.array(src.dtype, src.shape)
        if src.size:
            np.copyto(dst, src, casting="no")
        return ref

    def view(self, ref: Any, *, writable: bool = False) -> np.ndarray:
        """A zero-copy numpy view of a reference; bounds and shape are checked first."""
        if not isinstance(ref, dict):
            raise ArenaError(f"arena reference must be a map, got {type(ref).__name__}")
        try:
            off, nbytes, shape = ref["off"], ref["nbytes"], ref["shape"]
            desc = ref["dtype"]
        except KeyError as exc:
            raise ArenaError(f"arena reference {ref!r} lacks field {exc}") from exc
        if type(off) is not int or type(nbytes) is not int:
            raise ArenaError(f"arena reference off/nbytes must be integers: {ref!r}")
        if not isinstance(shape, list | tuple):
            raise ArenaError(f"arena reference shape must be non-negative integers: {shape!r}")
        count = 1
        for n in shape:
            if type(n) is not int or n < 0:
                raise ArenaError(f"arena reference shape must be non-negative integers: {shape!r}")
            count *= n
        dt = dtype_from_wire(desc)
        expect = dt.itemsize * count
        if expect != nbytes:
            raise ArenaError(
                f"arena reference says {nbytes} bytes but {shape} x {dt} is {expect} bytes"
            )
        if off < 0 or nbytes < 0 or off + nbytes > self.size:
            raise ArenaError(
                f"arena reference [{off}, {off + nbytes}) is outside the arena of {self.size} "
                f"bytes in segment {self.segment.name!r}"
            )
        # In bounds of the arena, hence of the segment (checked at construction): map it directly.
        arr = np.ndarray(tuple(shape), dtype=dt, buffer=self.segment._mapping(), offset=self.offset + off)
        if not writable:
            arr.flags.writeable = False
        return arr

    # -- streamed arrays ------------------------------------------------------------

    def stream_array(
        self, dtype: Any, shape: tuple[int, ...] | int
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Allocate an array whose reference carries a progress word (0 until :meth:`fill`)."""
        prog = self.alloc(ring_ops.PROGRESS_CELL, align=16)
        self.segment.array_view()[
            self.offset + prog : self.offset + prog + ring_ops.PROGRESS_CELL
        ] = 0
        arr, ref = self.array(dtype, shape)
        ref["progress"] = prog
        return arr, ref

    def fill(self, ref: dict[str, Any], src: Any, chunk: int = STREAM_CHUNK) -> None:
        """Copy ``src`` into a streamed allocation chunk by chunk, publishing progress after each."""
        dst = self.view(ref, writable=True)
        prog = self._progress_offset(ref)
        arr = np.ascontiguousarray(src, dtype=dst.dtype)
        if arr.shape != dst.shape:
            raise ArenaError(
                f"cannot fill an arena array of shape {dst.shape} from shape {arr.shape}"
            )
        d = dst.reshape(-1).view(np.uint8)
        s = arr.reshape(-1).view(np.uint8)
        buf, word, n = self.segment.array_view(), self.offset + prog, d.size
        for lo in range(0, n, chunk):
            hi = min(lo + chunk, n)
            np.copyto(d[lo:hi], s[lo:hi])
            ring_ops.store_u64(buf, word, hi)

    def copy_out(
        self,
        ref: Any,
        out: np.ndarray | None = None,
        *,
        timeout: float | None = None,
        pidfd: int = -1,
        ppid: int = 0,
    ) -> np.ndarray:
        """Copy a referenced array out of the arena (into ``out`` if given), following progress if streamed.

        For a streamed reference each chunk is copied as soon as the writer
        publishes it; waiting raises ChannelTimeout after ``timeout`` seconds
        and PeerDiedError if ``pidfd`` becomes readable or the parent changes
        from ``ppid``.
        """
        view = self.view(ref)
        if out is None:
            out = np.empty(view.shape, view.dtype)
        elif out.shape != view.shape or out.dtype != view.dtype or not out.flags.c_contiguous:
            raise ArenaError(
                f"copy_out target must be a C-contiguous {view.dtype} array of shape {view.shape}, "
                f"got {out.dtype} {out.shape}"
            )
        if "progress" not in ref:
            np.copyto(out, view)
            return out
        word = self.offset + self._progress_offset(ref)
        buf = self.segment.array_view()
        s = view.reshape(-1).view(np.uint8)
        d = out.reshape(-1).view(np.uint8)
        n, done = s.size, 0
        deadline = None if timeout is None else time.monotonic() + timeout
        while done < n:
            left = _WAIT_SLICE_NS
            if deadline is not None:
                left = min(left, max(0, int((deadline - time.monotonic()) * 1e9)))
            rc, seen = ring_ops.wait_u64(buf, word, done + 1, left, _SPIN_NS, pidfd, ppid)
            if rc == ring_ops.PEER_DIED:
                raise PeerDiedError(
                    f"arena of segment {self.segment.name!r}: the writer died after {done} of {n} bytes"
                )
            if rc == ring_ops.TIMEOUT:
                if deadline is not None and time.monotonic() >= deadline:
                    raise ChannelTimeout(
                        f"arena of segment {self.segment.name!r}: only {done} of {n} bytes arrived "
                        f"within {timeout} s"
                    )
                continue
            hi = min(int(seen), n)
            np.copyto(d[done:hi], s[done:hi])
            done = hi
        return out

    def _progress_offset(self, ref: dict[str, Any]) -> int:
        prog = ref.get("progress")
        if (
            type(prog) is not int
            or prog < 0
            or prog % 8
            or prog + ring_ops.PROGRESS_CELL > self.size
        ):
            raise ArenaError(f"arena reference has an invalid progress offset {prog!r}")
        return prog

    def __repr__(self) -> str:
        return f"<Arena {self.segment.name!r} used={self.used}/{self.size}>"
