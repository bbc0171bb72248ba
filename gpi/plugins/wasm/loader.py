"""Loading a WebAssembly plugin (a module implementing ``gpi_plugin.h``) with wasmtime.

The contract is the native one (docs/abi.md), compiled to wasm32: the module
exports ``memory``, ``gpi_plugin_entry`` (the address of its ``gpi_plugin``
in linear memory) and its function table (``__indirect_function_table``, so
``init`` and each system's ``fn`` are called by their table index, exactly the
C function pointers). The ``gpi_host`` table becomes **imports by name**:
module ``gpi``, one function per field (``gpi.query``, ``gpi.chunk_column``,
...); C built against the header under ``__wasm__`` fills a static
``gpi_host`` with those imports and exports ``gpi_wasm_host`` (its address),
so the same C source builds natively and for wasm. A hand-written WAT module
calls the imports directly. Importing anything else (WASI included) fails the
load with a message naming the import: nothing is granted by default.

Query chunks: ``chunk_column`` / ``chunk_entities`` copy the column into a
per-call scratch area at the top of the module's linear memory and return
its offset; ``output`` hands out a scratch buffer, which is copied once into
the output arena when the call returns. The host then validates the command
list like any other. Limits: the store caps linear memory at the manifest's
``memory_mb``, and each call runs on a fuel budget: running out is a stall
(:class:`WasmFuelExhausted`), at the same instruction on every run.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import wasmtime

from gpi.ecs.component import Component
from gpi.plugins.errors import CapabilityError, PluginError, PluginLoadError
from gpi.plugins.native import abi
from gpi.plugins.rng import stable_hash
from gpi.plugins.sdk import Plugin

__all__ = ["DEFAULT_FUEL", "WasmCallError", "WasmFuelExhausted", "WasmLoadError", "WasmPlugin", "load_wasm"]

#: Fuel (about one unit per wasm instruction) a system call may burn unless the manifest says ``fuel``.
DEFAULT_FUEL = 2_000_000_000
#: Linear memory cap when the manifest gives no ``memory_mb``.
DEFAULT_MEMORY_MB = 256
_PAGE = 65536
_MASK64 = (1 << 64) - 1

_I32, _I64, _F64 = wasmtime.ValType.i32(), wasmtime.ValType.i64(), wasmtime.ValType.f64()

#: gpi_host fields as wasm32 imports: name -> (params, results). Pointers and 32-bit ints are i32.
HOST_IMPORTS: dict[str, tuple[list[Any], list[Any]]] = {
    "get_feature": ([_I32, _I32], [_I32]),
    "last_error": ([_I32], [_I32]),
    "component": ([_I32, _I32, _I32, _I32, _I32], [_I32]),
    "component_ref": ([_I32, _I32], [_I32]),
    "system": ([_I32, _I32], [_I32]),
    "tick": ([_I32], [_I64]),
    "dt": ([_I32], [_F64]),
    "rng_seed": ([_I32], [_I64]),
    "query": ([_I32] * 6, [_I32]),
    "chunk_rows": ([_I32, _I32, _I32], [_I64]),
    "chunk_column": ([_I32] * 4, [_I32]),
    "chunk_entities": ([_I32] * 3, [_I32]),
    "output": ([_I32, _I32, _I64, _I32], [_I32]),
    "set_column": ([_I32] * 5, [_I32]),
    "spawn": ([_I32, _I64, _I32, _I32, _I32], [_I32]),
    "despawn": ([_I32, _I64, _I32], [_I32]),
    "resource_json": ([_I32, _I32, _I32, _I64], [_I64]),
    "set_resource_json": ([_I32] * 3, [_I32]),
    "events_json": ([_I32, _I32, _I32, _I64], [_I64]),
    "send_event_json": ([_I32] * 3, [_I32]),
    "log": ([_I32] * 3, []),
    "entity_count": ([_I32], [_I64]),
    "is_alive": ([_I32, _I64], [_I32]),
}
_F32 = wasmtime.ValType.f32()
#: Feature functions (gpi_draw_api, gpi_input_api) in wasm32 types; reached through get_feature only.
_FEATURE_IMPORTS: dict[str, tuple[list[Any], list[Any]]] = {
    "quads": ([_I32, _I64, _I32, _I32, _I64, _I32, _I64, _I32, _I32], [_I64]),
    "circles": ([_I32, _I64, _I32, _I32, _I64, _I32, _I64, _I32, _I32], [_I64]),
    "lines": ([_I32, _I64, _I32, _I32, _I32, _I64, _I32, _I64, _I32, _I32], [_I64]),
    "text": ([_I32, _F32, _F32, _I32, _I32, _F32, _I32], [_I32]),
    "state_json": ([_I32, _I32, _I64], [_I64]),
}
_HOST_ORDER = [name for name, _t, _s in abi.HOST_FIELDS]

_CTX, _DECL, _HOST = 0x6770, 0x6771, 0  # the opaque gpi_ctx* / gpi_decl* tokens a module sees


class WasmLoadError(PluginLoadError):
    """A wasm module could not be loaded: malformed, an import not granted, an ABI mismatch, failed init."""


class WasmCallError(PluginError, RuntimeError):
    """A wasm system failed: it trapped, returned non-zero, or a host call it made was refused."""


class WasmFuelExhausted(WasmCallError, TimeoutError):
    """A wasm system ran out of fuel: a stall, stopped at the same instruction on every run."""

    def __init__(self, message: str, *, tick: int, fuel: int) -> None:
        super().__init__(message)
        self.tick = tick
        self.fuel = fuel


def _signed64(v: int) -> int:
    v &= _MASK64
    return v - (1 << 64) if v >= 1 << 63 else v


class _Call:
    """One system call: context, queries, scratch buffers, first error."""

    __slots__ = ("buffers", "ctx", "error", "hashes", "queries")

    def __init__(self, ctx: Any, hashes: tuple[int, int]) -> None:
        self.ctx = ctx
        self.hashes = hashes
        self.queries: list[tuple[list[str], list[Any]]] = []
        self.buffers: list[tuple[str, int, np.ndarray]] = []  # handle-1 -> (component, offset, arena array)
        self.error: str | None = None


class WasmPlugin:
    """One instantiated module: its store (limits, fuel), declarations and the call in progress."""

    def __init__(self, path: Path, name: str, granted: Iterable[str], *, memory_mb: int = DEFAULT_MEMORY_MB,
                 fuel: int = DEFAULT_FUEL) -> None:
        self.path = path
        self.name = name
        self.granted = frozenset(granted)
        self.fuel = int(fuel)
        self.memory_mb = int(memory_mb)
        self.plugin = Plugin(name)
        self.handles: list[str] = []
        self._declared: dict[str, Component] = {}
        self._decl_open = False
        self._call: _Call | None = None
        self._last_error = ""
        self.fuel_used: dict[str, int] = {}  # system -> fuel its last call burnt
        cfg = wasmtime.Config()
        cfg.consume_fuel = True
        cfg.parallel_compilation = False  # no threads: the sandbox refuses them, and none are needed
        cfg.memory_init_cow = False  # no memfd: the sandboxed child may not create one
        # Reserve only the cap (not wasmtime's default 4 GiB + guard): fits a child's address-space limit.
        cfg.memory_reservation = self.memory_mb * 1024 * 1024
        cfg.memory_guard_size = _PAGE
        cfg.memory_reservation_for_growth = 0
        self.engine = wasmtime.Engine(cfg)
        try:
            data = path.read_bytes()
            if path.suffix == ".wat":
                self.module = wasmtime.Module(self.engine, data.decode("utf-8"))
            else:
                self.module = wasmtime.Module(self.engine, data)
        except (wasmtime.WasmtimeError, UnicodeDecodeError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise WasmLoadError(f"wasm plugin {name!r}: {path.name} is not a valid WebAssembly module: "
                                f"{first}") from exc
        self.store = wasmtime.Store(self.engine)
        self.store.set_limits(memory_size=self.memory_mb * 1024 * 1024)
        self.store.set_fuel(self.fuel)
        self.instance = wasmtime.Instance(self.store, self.module, self._imports())
        ex = self.instance.exports(self.store)
        mem = ex.get("memory") if "memory" in [e.name for e in self.module.exports] else None
        if not isinstance(mem, wasmtime.Memory):
            raise WasmLoadError(f"wasm plugin {name!r}: {path.name} does not export its linear memory as 'memory'")
        self.memory: wasmtime.Memory = mem
        table = ex.get("__indirect_function_table") if self._exports("__indirect_function_table") else None
        self.table: wasmtime.Table | None = table if isinstance(table, wasmtime.Table) else None
        self._features: dict[str, int] = {}
        self._feature_tables()
        self._scratch_base = self.memory.data_len(self.store)
        self._scratch_end = self._scratch_base
        self._cursor = self._scratch_base
        self._info()

    # -- loading ----------------------------------------------------------------------

    def _feature_tables(self) -> None:
        """``gpi_draw_api`` / ``gpi_input_api`` (when granted) in a host-owned page of linear memory.

        Their function pointers are table indices of host functions appended to the
        module's function table, so C calls ``draw->quads(...)`` exactly as natively.
        """
        wanted = [(abi.FEATURE_DRAW, "draw", ["quads", "circles", "lines", "text"]),
                  (abi.FEATURE_INPUT, "input", ["state_json"])]
        wanted = [w for w in wanted if w[1] in self.granted]
        if not wanted or self.table is None:
            return
        base = self.memory.data_len(self.store)
        try:
            self.memory.grow(self.store, 1)
        except wasmtime.WasmtimeError:
            raise WasmLoadError(f"wasm plugin {self.name!r}: no room for the feature tables under the "
                                f"{self.memory_mb} MiB cap") from None
        off = base
        for fid, _cap, fields in wanted:  # noqa: B007
            words = [4 + 4 * len(fields)]
            for f in fields:
                params, results = _FEATURE_IMPORTS[f]
                fn = wasmtime.Func(self.store, wasmtime.FuncType(params, results),
                                   self._guard(getattr(self, "_f_" + f), f), access_caller=True)
                try:
                    words.append(int(self.table.grow(self.store, 1, fn)))
                except wasmtime.WasmtimeError:
                    raise WasmLoadError(f"wasm plugin {self.name!r}: capability {_cap!r} needs room in the "
                                        "function table: link with -Wl,--growable-table") from None
            self._write(off, np.array(words, "<u4").tobytes())
            self._features[fid] = off
            off += 4 * len(words)

    def _exports(self, name: str) -> bool:
        return any(e.name == name for e in self.module.exports)

    def _imports(self) -> list[Any]:
        out: list[Any] = []
        allowed = ", ".join(f"gpi.{n}" for n in _HOST_ORDER)
        for imp in self.module.imports:
            full = f"{imp.module}.{imp.name}"
            if imp.module != "gpi" or imp.name not in HOST_IMPORTS:
                what = ("WASI is not granted to wasm plugins" if imp.module.startswith("wasi")
                        else "not a host function of this ABI")
                raise WasmLoadError(f"wasm plugin {self.name!r}: {self.path.name} imports {full!r}, which this "
                                    f"host does not grant ({what}; a module may import only {allowed})")
            params, results = HOST_IMPORTS[imp.name]
            ftype = wasmtime.FuncType(params, results)
            if not isinstance(imp.type, wasmtime.FuncType) or (
                    [str(p) for p in imp.type.params] != [str(p) for p in params]
                    or [str(r) for r in imp.type.results] != [str(r) for r in results]):
                raise WasmLoadError(f"wasm plugin {self.name!r}: import {full!r} has type {imp.type}, "
                                    f"the ABI's is {ftype}")
            out.append(wasmtime.Func(self.store, ftype, self._guard(getattr(self, "_h_" + imp.name), imp.name),
                                     access_caller=True))
        return out

    def _func(self, index: int, what: str) -> wasmtime.Func:
        if self.table is None:
            raise WasmLoadError(f"wasm plugin {self.name!r}: {what} is a function pointer but the module does not "
                                "export '__indirect_function_table' (link with -Wl,--export-table)")
        f = self.table.get(self.store, int(index))
        if not isinstance(f, wasmtime.Func):
            raise WasmLoadError(f"wasm plugin {self.name!r}: {what} ({index}) is not a function in the table")
        return f

    def _info(self) -> None:
        if not self._exports(abi.ENTRY_SYMBOL):
            raise WasmLoadError(f"wasm plugin {self.name!r}: {self.path.name} does not export "
                                f"{abi.ENTRY_SYMBOL!r}; define it with GPI_PLUGIN_DEFINE(init) from gpi_plugin.h")
        init_c = self.instance.exports(self.store).get("_initialize") if self._exports("_initialize") else None
        if isinstance(init_c, wasmtime.Func):  # a reactor's C constructors
            self._run(init_c, (), "_initialize")
        entry = self.instance.exports(self.store)[abi.ENTRY_SYMBOL]
        if not isinstance(entry, wasmtime.Func):
            raise WasmLoadError(f"wasm plugin {self.name!r}: export {abi.ENTRY_SYMBOL!r} is not a function")
        ptr = int(self._run(entry, (), "entry"))
        head = self._bytes(ptr, 12)
        size = int.from_bytes(head[0:4], "little")
        major, minor = int.from_bytes(head[4:6], "little"), int.from_bytes(head[6:8], "little")
        host_v = f"{abi.ABI_MAJOR}.{abi.ABI_MINOR}"
        if major != abi.ABI_MAJOR or minor > abi.ABI_MINOR:
            raise WasmLoadError(f"wasm plugin {self.name!r} ({self.path.name}) was built for GPI ABI "
                                f"{major}.{minor}, this host speaks ABI {host_v}")
        if size < 12:
            raise WasmLoadError(f"wasm plugin {self.name!r}: gpi_plugin.struct_size {size} lacks init")
        self.abi_version = (major, minor)
        init = self._func(int.from_bytes(head[8:12], "little"), "gpi_plugin.init")
        host = 0
        if self._exports("gpi_wasm_host"):  # C: the header's static gpi_host of imports
            hfn = self.instance.exports(self.store)["gpi_wasm_host"]
            if not isinstance(hfn, wasmtime.Func):
                raise WasmLoadError(f"wasm plugin {self.name!r}: export 'gpi_wasm_host' is not a function")
            host = int(self._run(hfn, (), "gpi_wasm_host"))
            self._write(host + 4, np.array([abi.ABI_MAJOR, abi.ABI_MINOR], "<u2").tobytes())
        self._decl_open = True
        try:
            rc = self._run(init, (host, _DECL), "init")
        finally:
            self._decl_open = False
        if self._last_error:
            raise WasmLoadError(f"wasm plugin {self.name!r}: declaration refused: {self._last_error}")
        if rc != 0:
            raise WasmLoadError(f"wasm plugin {self.name!r}: init returned {rc}")

    def _run(self, fn: wasmtime.Func, args: tuple[int, ...], what: str) -> Any:
        """Call into the module on a fresh fuel budget; traps become clear errors."""
        self.store.set_fuel(self.fuel)
        try:
            return fn(self.store, *args)
        except wasmtime.Trap as exc:
            raise self._trap(exc, what) from None
        except wasmtime.WasmtimeError as exc:
            raise WasmCallError(f"wasm plugin {self.name!r} {what}: {exc}") from None

    def _trap(self, exc: wasmtime.Trap, what: str) -> WasmCallError:
        code = exc.trap_code
        used = self.fuel - self.store.get_fuel()
        tick = int(self._call.ctx.tick) if self._call is not None else -1
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

    # -- linear memory ------------------------------------------------------------------

    def _bytes(self, ptr: int, n: int, store: Any = None) -> bytes:
        s = self.store if store is None else store
        if ptr < 0 or ptr + n > self.memory.data_len(s):
            raise WasmCallError(f"address {ptr}+{n} is outside linear memory")
        return bytes(self.memory.read(s, ptr, ptr + n))

    def _write(self, ptr: int, data: bytes, store: Any = None) -> None:
        self.memory.write(self.store if store is None else store, data, ptr)

    def _view(self, store: Any) -> np.ndarray:
        n = self.memory.data_len(store)
        base = self.memory.data_ptr(store)
        return np.ctypeslib.as_array(base, shape=(n,))

    def _cstr(self, store: Any, ptr: int, what: str) -> str:
        if not ptr:
            return ""
        mem = self._view(store)
        if ptr >= len(mem):
            raise WasmCallError(f"{what}: address {ptr} is outside linear memory")
        end = np.flatnonzero(mem[ptr:ptr + 65536] == 0)
        if not len(end):
            raise WasmCallError(f"{what}: string is not NUL-terminated within 64 KiB")
        return bytes(mem[ptr:ptr + int(end[0])]).decode("utf-8")

    def _u32s(self, store: Any, ptr: int, n: int) -> list[int]:
        if n == 0:
            return []
        return [int(v) for v in np.frombuffer(self._bytes(ptr, 4 * n, store), "<u4")]

    def _names(self, store: Any, ptr: int, what: str) -> list[str]:
        out: list[str] = []
        if not ptr:
            return out
        i = 0
        while True:
            (p,) = self._u32s(store, ptr + 4 * i, 1)
            if p == 0:
                return out
            if i >= 4096:
                raise WasmCallError(f"{what}: list is not NULL-terminated (over 4096 entries)")
            out.append(self._cstr(store, p, what))
            i += 1

    def _alloc(self, store: Any, nbytes: int) -> int:
        """``nbytes`` of per-call scratch (16-aligned) at the top of linear memory; grows it within the cap."""
        start = (self._cursor + 15) & ~15
        end = start + nbytes
        if end > self._scratch_end:
            size = self.memory.data_len(store)
            if size != self._scratch_end:  # the module grew memory itself: scratch moves above its pages
                self._scratch_base = self._scratch_end = size
                start = size
                end = start + nbytes
            pages = (end - self._scratch_end + _PAGE - 1) // _PAGE
            try:
                self.memory.grow(store, pages)
            except wasmtime.WasmtimeError:
                raise MemoryError(f"linear memory cap of {self.memory_mb} MiB ([sandbox] memory_mb) reached: "
                                  f"{nbytes} bytes of query data or output do not fit") from None
            self._scratch_end = self.memory.data_len(store)
        self._cursor = end
        return start

    # -- host functions -----------------------------------------------------------------

    def _guard(self, fn: Any, fname: str) -> Any:
        def call(caller: Any, *args: Any) -> Any:
            try:
                return fn(caller, *args)
            except Exception as exc:  # never let a Python exception unwind through wasm
                self._last_error = f"{fname}: {type(exc).__name__}: {exc}"
                if self._call is not None and self._call.error is None:
                    self._call.error = self._last_error
                if fname == "log":
                    return None
                if fname in _POINTER_RETURNS:
                    return 0.0 if fname == "dt" else 0
                return abi.GPI_E_DENIED if isinstance(exc, CapabilityError) else abi.GPI_E_INVALID

        return call

    def _cur(self, ctx: int) -> _Call:
        if self._call is None or ctx != _CTX:
            raise WasmCallError("called with a context that is not the current system call's")
        return self._call

    def _need_decl(self, decl: int) -> None:
        if not self._decl_open or decl != _DECL:
            raise WasmCallError("declarations are only allowed inside init")

    def _cname(self, handle: int) -> str:
        if not 0 < handle <= len(self.handles):
            raise WasmCallError(f"unknown component handle {handle}")
        return self.handles[handle - 1]

    def _handle(self, name: str) -> int:
        if name in self.handles:
            return self.handles.index(name) + 1
        self.handles.append(name)
        return len(self.handles)

    def _h_get_feature(self, caller: Any, host: int, fid: int) -> int:
        return self._features.get(self._cstr(caller, fid, "get_feature"), 0)

    def _drawlist(self, ctx: int) -> Any:
        call = self._cur(ctx)
        try:
            return call.ctx.draw
        except CapabilityError:
            if "draw" not in call.ctx.granted:
                raise
            return None  # headless: no draw-list buffer attached

    def _floats(self, caller: Any, ptr: int, count: int, width: int) -> np.ndarray:
        if count == 0:
            return np.empty((0, width) if width > 1 else 0, np.float32)
        a = np.frombuffer(self._bytes(ptr, 4 * count * width, caller), "<f4")
        return a.reshape(count, width) if width > 1 else a

    def _rgba(self, caller: Any, ptr: int, count: int) -> np.ndarray:
        a = np.frombuffer(self._bytes(ptr, 4 * count, caller), np.uint8).reshape(count, 4)
        return a[0] if count == 1 else a

    def _f_quads(self, caller: Any, ctx: int, n: int, pos: int, size: int, size_count: int, color: int,
                 color_count: int, layer: int, motion: int) -> int:
        dl = self._drawlist(ctx)
        if dl is None or n == 0:
            return 0
        m = self._floats(caller, motion, n, 2) if motion else None
        return int(dl.draw_quads(self._floats(caller, pos, n, 2), self._floats(caller, size, size_count, 2),
                                 self._rgba(caller, color, color_count), int(layer), motion=m))

    def _f_circles(self, caller: Any, ctx: int, n: int, pos: int, radius: int, radius_count: int, color: int,
                   color_count: int, layer: int, motion: int) -> int:
        dl = self._drawlist(ctx)
        if dl is None or n == 0:
            return 0
        m = self._floats(caller, motion, n, 2) if motion else None
        return int(dl.draw_circles(self._floats(caller, pos, n, 2), self._floats(caller, radius, radius_count, 1),
                                   self._rgba(caller, color, color_count), int(layer), motion=m))

    def _f_lines(self, caller: Any, ctx: int, n: int, pos: int, end: int, width: int, width_count: int,
                 color: int, color_count: int, layer: int, motion: int) -> int:
        dl = self._drawlist(ctx)
        if dl is None or n == 0:
            return 0
        m = self._floats(caller, motion, n, 2) if motion else None
        return int(dl.draw_lines(self._floats(caller, pos, n, 2), self._floats(caller, end, n, 2),
                                 self._floats(caller, width, width_count, 1),
                                 self._rgba(caller, color, color_count), int(layer), motion=m))

    def _f_text(self, caller: Any, ctx: int, x: float, y: float, text: int, color: int, scale: float,
                layer: int) -> int:
        dl = self._drawlist(ctx)
        if dl is None:
            return 0
        rgba = [int(v) for v in self._bytes(color, 4, caller)]
        dl.text(float(x), float(y), self._cstr(caller, text, "text"), rgba, float(scale), int(layer))
        return abi.GPI_OK

    def _f_state_json(self, caller: Any, ctx: int, out: int, cap: int) -> int:
        call = self._cur(ctx)
        return self._copy_out(caller, json.dumps(dict(call.ctx.input), sort_keys=True), out, int(cap))

    def _h_last_error(self, caller: Any, host: int) -> int:
        data = self._last_error.encode("utf-8", "replace") + b"\0"
        if self._call is None:
            return 0
        ptr = self._alloc(caller, len(data))
        self._write(ptr, data, caller)
        return ptr

    def _h_component(self, caller: Any, decl: int, name_p: int, scalar: int, ndim: int, shape: int) -> int:
        self._need_decl(decl)
        name = self._cstr(caller, name_p, "component")
        if scalar not in abi.SCALARS or not 0 <= ndim <= 8:
            raise WasmCallError(f"component {name!r}: scalar {scalar} / ndim {ndim} not valid")
        dims = tuple(self._u32s(caller, shape, ndim))
        c = self.plugin.component(name, abi.SCALARS[scalar], dims)
        self._declared[c.name] = c
        return self._handle(c.name)

    def _h_component_ref(self, caller: Any, decl: int, name_p: int) -> int:
        self._need_decl(decl)
        return self._handle(self._cstr(caller, name_p, "component_ref"))

    def _h_system(self, caller: Any, decl: int, desc: int) -> int:
        self._need_decl(decl)
        raw = self._u32s(caller, desc, 12)  # wasm32 gpi_system_desc: 2 u32 + 10 pointers
        if raw[0] < 48:
            raise WasmCallError(f"system: gpi_system_desc.struct_size {raw[0]} is smaller than ABI 1.0's (48)")
        flags = raw[1]
        name = self._cstr(caller, raw[2], "system")
        where = f"system {name!r}"
        if flags & ~(abi.GPI_SPAWNS | abi.GPI_DESPAWNS):
            raise WasmCallError(f"{where}: unknown flags {flags:#x}")
        stage = self._cstr(caller, raw[3], where) or "update"
        lists = [self._names(caller, raw[k], where) for k in range(4, 10)]
        fn = self._func(raw[10], f"{where} fn")
        self.plugin.system(name=name, stage=stage, reads=lists[0], writes=lists[1], resources=lists[2],
                           events=lists[3], before=lists[4], after=lists[5], spawns=bool(flags & abi.GPI_SPAWNS),
                           despawns=bool(flags & abi.GPI_DESPAWNS))(self._system_fn(name, fn, raw[11]))
        return abi.GPI_OK

    def _system_fn(self, name: str, fn: wasmtime.Func, user: int) -> Any:
        hashes = (stable_hash(self.name), stable_hash(name))

        def run(ctx: Any) -> None:
            h = hashes if ctx.plugin == self.name else (stable_hash(ctx.plugin), hashes[1])
            call = self._call = _Call(ctx, h)
            self._last_error = ""
            self._cursor = self._scratch_base
            try:
                try:
                    rc = self._run(fn, (_CTX, user), f"system {name!r}")
                finally:
                    self.fuel_used[name] = self.fuel - self.store.get_fuel()
                if call.error is None and rc == 0:
                    mem = self._view(self.store)
                    for _bname, off, arr in call.buffers:  # the one copy out of linear memory
                        flat = arr.reshape(-1).view(np.uint8)
                        flat[:] = mem[off:off + flat.nbytes]
            finally:
                self._call = None
            if call.error is not None:
                raise WasmCallError(f"plugin {self.name!r} system {name!r}: {call.error}")
            if rc != 0:
                raise WasmCallError(f"plugin {self.name!r} system {name!r} returned {rc}")

        run.__name__ = name
        return run

    def _h_tick(self, caller: Any, ctx: int) -> int:
        return _signed64(int(self._cur(ctx).ctx.tick))

    def _h_dt(self, caller: Any, ctx: int) -> float:
        return float(self._cur(ctx).ctx.dt)

    def _h_rng_seed(self, caller: Any, ctx: int) -> int:
        call = self._cur(ctx)
        return _signed64(abi.rng_seed(call.ctx.seed, call.ctx.tick, *call.hashes))

    def _h_query(self, caller: Any, ctx: int, comps: int, n: int, without: int, nwithout: int, nchunks: int) -> int:
        call = self._cur(ctx)
        if n > 1024 or nwithout > 1024:
            raise WasmCallError(f"query: {n} components and {nwithout} filters: at most 1024 each")
        names = [self._cname(h) for h in self._u32s(caller, comps, n)]
        wo = [self._cname(h) for h in self._u32s(caller, without, nwithout)]
        chunks = list(call.ctx.query(*names, without=wo))
        call.queries.append((names, chunks))
        if nchunks:
            self._write(nchunks, len(chunks).to_bytes(4, "little"), caller)
        return len(call.queries)

    def _chunk(self, ctx: int, q: int, i: int) -> tuple[list[str], Any]:
        call = self._cur(ctx)
        if not 0 < q <= len(call.queries):
            raise WasmCallError(f"unknown query handle {q}")
        names, chunks = call.queries[q - 1]
        if i >= len(chunks):
            raise WasmCallError(f"query {q} has {len(chunks)} chunks, not chunk {i}")
        return names, chunks[i]

    def _copy_in(self, caller: Any, arr: np.ndarray) -> int:
        src = np.ascontiguousarray(arr).reshape(-1).view(np.uint8)
        ptr = self._alloc(caller, max(src.nbytes, 1))
        self._view(caller)[ptr:ptr + src.nbytes] = src
        return ptr

    def _h_chunk_rows(self, caller: Any, ctx: int, q: int, i: int) -> int:
        return len(self._chunk(ctx, q, i)[1])

    def _h_chunk_column(self, caller: Any, ctx: int, q: int, i: int, slot: int) -> int:
        names, chunk = self._chunk(ctx, q, i)
        if slot >= len(names):
            raise WasmCallError(f"query {q} has {len(names)} components, not slot {slot}")
        return self._copy_in(caller, chunk[names[slot]])

    def _h_chunk_entities(self, caller: Any, ctx: int, q: int, i: int) -> int:
        return self._copy_in(caller, self._chunk(ctx, q, i)[1].entities)

    def _component(self, call: _Call, name: str) -> Component:
        c = self._declared.get(name) or call.ctx.world.components.get(name)
        if c is None:
            raise WasmCallError(f"component {name!r} is not in the world")
        return c  # type: ignore[no-any-return]

    def _h_output(self, caller: Any, ctx: int, comp: int, rows: int, buf: int) -> int:
        call = self._cur(ctx)
        name = self._cname(comp)
        c = self._component(call, name)
        arr = call.ctx.output((int(rows), *c.shape), c.dtype)
        ptr = self._alloc(caller, max(arr.nbytes, 1))
        call.buffers.append((name, ptr, arr))
        if buf:
            self._write(buf, len(call.buffers).to_bytes(4, "little"), caller)
        return ptr

    def _buffer(self, call: _Call, h: int, name: str, rows: int) -> np.ndarray:
        if not 0 < h <= len(call.buffers):
            raise WasmCallError(f"unknown buffer handle {h}")
        bname, _off, arr = call.buffers[h - 1]
        if bname != name or len(arr) != rows:
            raise WasmCallError(f"buffer {h} holds {len(arr)} rows of {bname!r}, not {rows} of {name!r}")
        return arr

    def _h_set_column(self, caller: Any, ctx: int, q: int, i: int, slot: int, buf: int) -> int:
        call = self._cur(ctx)
        names, chunk = self._chunk(ctx, q, i)
        if slot >= len(names):
            raise WasmCallError(f"query {q} has {len(names)} components, not slot {slot}")
        name = names[slot]
        call.ctx.commands.set_chunk(chunk, name, self._buffer(call, buf, name, len(chunk)))
        return abi.GPI_OK

    def _h_spawn(self, caller: Any, ctx: int, count: int, n: int, comps: int, bufs: int) -> int:
        call = self._cur(ctx)
        if n > 1024:
            raise WasmCallError(f"spawn: {n} components is more than any entity can have")
        hs, bs = self._u32s(caller, comps, n), self._u32s(caller, bufs, n)
        values = {}
        for h, b in zip(hs, bs, strict=True):
            name = self._cname(h)
            values[name] = self._buffer(call, b, name, int(count))
        call.ctx.spawn(int(count), values)
        return abi.GPI_OK

    def _h_despawn(self, caller: Any, ctx: int, count: int, ids: int) -> int:
        call = self._cur(ctx)
        call.ctx.despawn(np.frombuffer(self._bytes(ids, 8 * int(count), caller), "<u8").copy())
        return abi.GPI_OK

    def _copy_out(self, caller: Any, text: str, out: int, cap: int) -> int:
        data = text.encode("utf-8")
        if out and cap > len(data):
            self._write(out, data + b"\0", caller)
        return len(data)

    def _h_resource_json(self, caller: Any, ctx: int, name: int, out: int, cap: int) -> int:
        call = self._cur(ctx)
        value = call.ctx.try_resource(self._cstr(caller, name, "resource_json"))
        return self._copy_out(caller, json.dumps(value), out, int(cap))

    def _h_set_resource_json(self, caller: Any, ctx: int, name: int, text: int) -> int:
        call = self._cur(ctx)
        call.ctx.insert_resource(self._cstr(caller, name, "set_resource_json"),
                                 json.loads(self._cstr(caller, text, "set_resource_json") or "null"))
        return abi.GPI_OK

    def _h_events_json(self, caller: Any, ctx: int, name: int, out: int, cap: int) -> int:
        call = self._cur(ctx)
        return self._copy_out(caller, json.dumps(call.ctx.events(self._cstr(caller, name, "events_json"))),
                              out, int(cap))

    def _h_send_event_json(self, caller: Any, ctx: int, name: int, text: int) -> int:
        call = self._cur(ctx)
        call.ctx.send_event(self._cstr(caller, name, "send_event_json"),
                            json.loads(self._cstr(caller, text, "send_event_json") or "null"))
        return abi.GPI_OK

    def _h_log(self, caller: Any, ctx: int, level: int, message: int) -> None:
        call = self._cur(ctx)
        lvl = {0: "debug", 1: "info", 2: "warning", 3: "error"}.get(int(level), "info")
        call.ctx.log(self._cstr(caller, message, "log"), level=lvl)

    def _h_entity_count(self, caller: Any, ctx: int) -> int:
        return int(self._cur(ctx).ctx.entity_count())

    def _h_is_alive(self, caller: Any, ctx: int, eid: int) -> int:
        return int(bool(self._cur(ctx).ctx.is_alive(int(eid) & _MASK64)))


_POINTER_RETURNS = frozenset({"get_feature", "last_error", "component", "component_ref", "query", "chunk_rows",
                              "chunk_column", "chunk_entities", "output", "tick", "dt", "rng_seed",
                              "entity_count", "is_alive"})


def module_path(folder: str | Path, module: str) -> Path:
    """The file a manifest's ``module`` names: as given, else ``<name>.wasm`` / ``<name>.wat``."""
    base = Path(folder)
    for cand in (module, f"{module}.wasm", f"{module}.wat"):
        p = base / cand
        if p.is_file():
            return p
    return base / module


def load_wasm(folder: str | Path, module: str, name: str, granted: Iterable[str] = (), *,
              memory_mb: int | None = None, fuel: int | None = None) -> Plugin:
    """Load wasm plugin ``module`` of plugin folder ``folder``; its declarations as a Plugin.

    ``memory_mb`` caps linear memory, ``fuel`` bounds each call (defaults
    :data:`DEFAULT_MEMORY_MB`, :data:`DEFAULT_FUEL`). Raises :class:`WasmLoadError`
    naming the file for a malformed module, an import not granted, an ABI
    mismatch or a failed ``init``.
    """
    path = module_path(folder, module)
    if not path.is_file():
        raise WasmLoadError(f"wasm plugin {name!r}: module {module!r} not found in {folder} (build it first)")
    wp = WasmPlugin(path, name, granted, memory_mb=memory_mb or DEFAULT_MEMORY_MB, fuel=fuel or DEFAULT_FUEL)
    wp.plugin.wasm = wp  # type: ignore[attr-defined]  # the instance, for fuel figures and reports
    return wp.plugin


def probe() -> tuple[bool, str]:
    """Whether wasm plugins work here: a tiny module run under fuel and a memory cap; (ok, detail)."""
    try:
        cfg = wasmtime.Config()
        cfg.consume_fuel = True
        store = wasmtime.Store(wasmtime.Engine(cfg))
        store.set_limits(memory_size=_PAGE)
        module = wasmtime.Module(store.engine, '(module (memory 1) (func (export "f") (result i32) '
                                               '(memory.grow (i32.const 1))))')
        store.set_fuel(1000)
        f = wasmtime.Instance(store, module, []).exports(store)["f"]
        assert isinstance(f, wasmtime.Func)
        grown = f(store)
    except Exception as exc:
        return False, f"wasmtime unusable: {type(exc).__name__}: {exc}"
    if grown != -1:
        return False, "wasmtime's memory cap did not hold (memory.grow past the cap succeeded)"
    from importlib.metadata import version

    try:
        from gpi.plugins.wasm.build import compiler

        cc = " ".join(compiler()[-2:])
    except Exception:
        cc = "none (pip install ziglang to build C plugins for wasm)"
    return True, (f"wasmtime {version('wasmtime')}: fuel and memory caps hold; wasm plugins run in-process "
                  f"(isolation none) or inside the sandboxed child; C compiler: {cc}")
