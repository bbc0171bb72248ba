"""Calling into a wasm module: one system call's state, fuel budgets, traps as errors.

:class:`Call` is what one system call carries (its context, queries, output
buffers, first error); :class:`ModuleCalls` runs a module's function on a fresh
fuel budget, turns traps into :class:`WasmCallError` / :class:`WasmFuelExhausted`,
resolves C function pointers through the function table, and wraps a wasm
system's ``fn`` as the Python system the scheduler runs (copying its output
buffers out of linear memory once it returns). A mixin of
:class:`gpi.plugins.wasm.loader.WasmPlugin`, which sets the attributes it declares.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import wasmtime

from gpi.plugins.rng import stable_hash
from gpi.plugins.wasm.errors import WasmCallError, WasmFuelExhausted, WasmLoadError
from gpi.plugins.wasm.memory import LinearMemory

__all__ = ["CTX", "DECL", "Call", "ModuleCalls"]

CTX, DECL = 0x6770, 0x6771  # the opaque gpi_ctx* / gpi_decl* tokens a module sees


class Call:
    """One system call: context, queries, scratch buffers, first error."""

    __slots__ = ("buffers", "ctx", "error", "hashes", "queries")

    def __init__(self, ctx: Any, hashes: tuple[int, int]) -> None:
        self.ctx = ctx
        self.hashes = hashes
        self.queries: list[tuple[list[str], list[Any]]] = []
        self.buffers: list[tuple[str, int, np.ndarray]] = []  # handle-1 -> (component, offset, arena array)
        self.error: str | None = None

class ModuleCalls(LinearMemory):
    """Running a module's functions: fuel, traps, the function table, systems."""

    name: str
    fuel: int
    table: wasmtime.Table | None
    current_call: Call | None
    last_error: str
    fuel_used: dict[str, int]

    def func(self, index: int, what: str) -> wasmtime.Func:
        if self.table is None:
            raise WasmLoadError(f"wasm plugin {self.name!r}: {what} is a function pointer but the module does not "
                                "export '__indirect_function_table' (link with -Wl,--export-table)")
        f = self.table.get(self.store, int(index))
        if not isinstance(f, wasmtime.Func):
            raise WasmLoadError(f"wasm plugin {self.name!r}: {what} ({index}) is not a function in the table")
        return f


    def run(self, fn: wasmtime.Func, args: tuple[int, ...], what: str) -> Any:
        """Call into the module on a fresh fuel budget; traps become clear errors."""
        self.store.set_fuel(self.fuel)
        try:
            return fn(self.store, *args)
        except wasmtime.Trap as exc:
            raise self.trap(exc, what) from None
        except wasmtime.WasmtimeError as exc:
            raise WasmCallError(f"wasm plugin {self.name!r} {what}: {exc}") from None

    def trap(self, exc: wasmtime.Trap, what: str) -> WasmCallError:
        code = exc.trap_code
        used = self.fuel - self.store.get_fuel()
        tick = int(self.current_call.ctx.tick) if self.current_call is not None else -1
        if code == wasmtime.TrapCode.OUT_OF_FUEL:
            return WasmFuelExhausted(
                f"wasm plugin {self.name!r} {what} stalled: out of fuel after {used} units "
                f"(budget {self.fuel}, [sandbox] fuel) at tick {tick}", tick=tick, fuel=used)
        hint = ""
        if code == wasmtime.TrapCode.MEMORY_OUT_OF_BOUNDS:
            size_mb = self.memory.data_len(self.store) / (1024 * 1024)
            hint = (f" (linear memory is {size_mb:g} MiB of its cap of {self.memory_mb} MiB, [sandbox] memory_mb; "
                    "a memory.grow past the cap returns -1)")
        lines = [ln.strip() for ln in (exc.message or "").splitlines() if "trap" in ln.lower()]
        msg = lines[-1] if lines else (code.name.lower().replace("_", " ") if code is not None else "trap")
        return WasmCallError(f"wasm plugin {self.name!r} {what} trapped: {msg}{hint}")

    def system_fn(self, name: str, fn: wasmtime.Func, user: int) -> Any:
        hashes = (stable_hash(self.name), stable_hash(name))

        def run(ctx: Any) -> None:
            h = hashes if ctx.plugin == self.name else (stable_hash(ctx.plugin), hashes[1])
            call = self.current_call = Call(ctx, h)
            self.last_error = ""
            self.cursor = self.scratch_base
            try:
                try:
                    rc = self.run(fn, (CTX, user), f"system {name!r}")
                finally:
                    self.fuel_used[name] = self.fuel - self.store.get_fuel()
                if call.error is None and rc == 0:
                    mem = self.view(self.store)
                    for _bname, off, arr in call.buffers:  # the one copy out of linear memory
                        flat = arr.reshape(-1).view(np.uint8)
                        flat[:] = mem[off:off + flat.nbytes]
            finally:
                self.current_call = None
            if call.error is not None:
                raise WasmCallError(f"plugin {self.name!r} system {name!r}: {call.error}")
            if rc != 0:
                raise WasmCallError(f"plugin {self.name!r} system {name!r} returned {rc}")

        run.__name__ = name
        return run
