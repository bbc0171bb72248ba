"""A plugin's linear memory as the host sees it: bounds-checked reads, writes and per-call scratch.

Every host function reads its arguments (C strings, ``u32`` arrays, float and
colour arrays) out of the module's linear memory and writes results back in;
query columns are copied into, and output buffers handed out of, a per-call
scratch area at the top of linear memory, grown within the ``memory_mb`` cap.
:class:`LinearMemory` is that one concept, a mixin of
:class:`gpi.plugins.wasm.loader.WasmPlugin`, which sets the attributes it declares.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import wasmtime

from gpi.plugins.wasm.errors import WasmCallError

__all__ = ["PAGE", "LinearMemory"]

#: A wasm page: linear memory grows by whole pages.
PAGE = 65536


class LinearMemory:
    """Reads, writes and scratch allocation in one module's linear memory."""

    store: wasmtime.Store
    memory: wasmtime.Memory
    memory_mb: int
    scratch_base: int  # where this call's scratch starts (above the module's own pages)
    scratch_end: int  # the top of linear memory the scratch area may use
    cursor: int  # the next free scratch byte

    def read_bytes(self, ptr: int, n: int, store: Any = None) -> bytes:
        s = self.store if store is None else store
        if ptr < 0 or ptr + n > self.memory.data_len(s):
            raise WasmCallError(f"address {ptr}+{n} is outside linear memory")
        return bytes(self.memory.read(s, ptr, ptr + n))

    def write_bytes(self, ptr: int, data: bytes, store: Any = None) -> None:
        self.memory.write(self.store if store is None else store, data, ptr)

    def view(self, store: Any) -> np.ndarray:
        n = self.memory.data_len(store)
        base = self.memory.data_ptr(store)
        return np.ctypeslib.as_array(base, shape=(n,))

    def cstr(self, store: Any, ptr: int, what: str) -> str:
        if not ptr:
            return ""
        mem = self.view(store)
        if ptr >= len(mem):
            raise WasmCallError(f"{what}: address {ptr} is outside linear memory")
        end = np.flatnonzero(mem[ptr:ptr + 65536] == 0)
        if not len(end):
            raise WasmCallError(f"{what}: string is not NUL-terminated within 64 KiB")
        return bytes(mem[ptr:ptr + int(end[0])]).decode("utf-8")

    def u32s(self, store: Any, ptr: int, n: int) -> list[int]:
        if n == 0:
            return []
        return [int(v) for v in np.frombuffer(self.read_bytes(ptr, 4 * n, store), "<u4")]

    def cstr_list(self, store: Any, ptr: int, what: str) -> list[str]:
        out: list[str] = []
        if not ptr:
            return out
        i = 0
        while True:
            (p,) = self.u32s(store, ptr + 4 * i, 1)
            if p == 0:
                return out
            if i >= 4096:
                raise WasmCallError(f"{what}: list is not NULL-terminated (over 4096 entries)")
            out.append(self.cstr(store, p, what))
            i += 1

    def alloc(self, store: Any, nbytes: int) -> int:
        """``nbytes`` of per-call scratch (16-aligned) at the top of linear memory; grows it within the cap."""
        start = (self.cursor + 15) & ~15
        end = start + nbytes
        if end > self.scratch_end:
            size = self.memory.data_len(store)
            if size != self.scratch_end:  # the module grew memory itself: scratch moves above its pages
                self.scratch_base = self.scratch_end = size
                start = size
                end = start + nbytes
            pages = (end - self.scratch_end + PAGE - 1) // PAGE
            try:
                self.memory.grow(store, pages)
            except wasmtime.WasmtimeError:
                raise MemoryError(f"linear memory cap of {self.memory_mb} MiB ([sandbox] memory_mb) reached: "
                                  f"{nbytes} bytes of query data or output do not fit") from None
            self.scratch_end = self.memory.data_len(store)
        self.cursor = end
        return start

    def copy_in(self, caller: Any, arr: np.ndarray) -> int:
        src = np.ascontiguousarray(arr).reshape(-1).view(np.uint8)
        ptr = self.alloc(caller, max(src.nbytes, 1))
        self.view(caller)[ptr:ptr + src.nbytes] = src
        return ptr

    def copy_out(self, caller: Any, text: str, out: int, cap: int) -> int:
        data = text.encode("utf-8")
        if out and cap > len(data):
            self.write_bytes(out, data + b"\0", caller)
        return len(data)

    def floats(self, caller: Any, ptr: int, count: int, width: int) -> np.ndarray:
        if count == 0:
            return np.empty((0, width) if width > 1 else 0, np.float32)
        a = np.frombuffer(self.read_bytes(ptr, 4 * count * width, caller), "<f4")
        return a.reshape(count, width) if width > 1 else a

    def rgba(self, caller: Any, ptr: int, count: int) -> np.ndarray:
        a = np.frombuffer(self.read_bytes(ptr, 4 * count, caller), np.uint8).reshape(count, 4)
        return a[0] if count == 1 else a
