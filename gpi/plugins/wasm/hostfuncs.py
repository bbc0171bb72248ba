"""The host functions a wasm module imports: the ``gpi_host`` table (and feature tables) as wasm imports.

``HOST_IMPORTS`` is the ABI's import list (module ``gpi``, one function per
``gpi_host`` field, wasm32 types); :meth:`HostFunctions.host_imports` checks a
module's imports against it (anything else, WASI included, fails the load) and
binds each to its ``_h_<name>`` method; :meth:`HostFunctions.feature_tables`
lays out ``gpi_draw_api`` / ``gpi_input_api`` for granted capabilities. Each
host function is guarded so no Python exception unwinds through wasm: it is
recorded as the call's error and the C caller sees an error code. A mixin of
:class:`gpi.plugins.wasm.loader.WasmPlugin`, which sets the attributes it declares.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import wasmtime

from gpi.ecs.component import Component
from gpi.plugins.errors import CapabilityError
from gpi.plugins.native import abi
from gpi.plugins.sdk import Plugin
from gpi.plugins.wasm.calls import CTX, DECL, Call, ModuleCalls
from gpi.plugins.wasm.errors import WasmCallError, WasmLoadError

__all__ = ["HOST_IMPORTS", "HostFunctions"]

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


_POINTER_RETURNS = frozenset({"get_feature", "last_error", "component", "component_ref", "query", "chunk_rows",
                              "chunk_column", "chunk_entities", "output", "tick", "dt", "rng_seed",
                              "entity_count", "is_alive"})



def _signed64(v: int) -> int:
    v &= _MASK64
    return v - (1 << 64) if v >= 1 << 63 else v


class HostFunctions(ModuleCalls):
    """The host side of every ``gpi.*`` import and feature-table function, bound to one module."""

    path: Path
    granted: frozenset[str]
    module: wasmtime.Module
    plugin: Plugin
    handles: list[str]
    declared: dict[str, Component]
    decl_open: bool
    features: dict[str, int]

    def feature_tables(self) -> None:
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
            self.write_bytes(off, np.array(words, "<u4").tobytes())
            self.features[fid] = off
            off += 4 * len(words)

    def _exports(self, name: str) -> bool:
        return any(e.name == name for e in self.module.exports)

    def host_imports(self) -> list[Any]:
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


    def _guard(self, fn: Any, fname: str) -> Any:
        def call(caller: Any, *args: Any) -> Any:
            try:
                return fn(caller, *args)
            except Exception as exc:  # never let a Python exception unwind through wasm
                self.last_error = f"{fname}: {type(exc).__name__}: {exc}"
                if self.current_call is not None and self.current_call.error is None:
                    self.current_call.error = self.last_error
                if fname == "log":
                    return None
                if fname in _POINTER_RETURNS:
                    return 0.0 if fname == "dt" else 0
                return abi.GPI_E_DENIED if isinstance(exc, CapabilityError) else abi.GPI_E_INVALID

        return call

    def _cur(self, ctx: int) -> Call:
        if self.current_call is None or ctx != CTX:
            raise WasmCallError("called with a context that is not the current system call's")
        return self.current_call

    def _need_decl(self, decl: int) -> None:
        if not self.decl_open or decl != DECL:
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
        return self.features.get(self.cstr(caller, fid, "get_feature"), 0)

    def _drawlist(self, ctx: int) -> Any:
        call = self._cur(ctx)
        try:
            return call.ctx.draw
        except CapabilityError:
            if "draw" not in call.ctx.granted:
                raise
            return None  # headless: no draw-list buffer attached

    def _f_quads(self, caller: Any, ctx: int, n: int, pos: int, size: int, size_count: int, color: int,
                 color_count: int, layer: int, motion: int) -> int:
        dl = self._drawlist(ctx)
        if dl is None or n == 0:
            return 0
        m = self.floats(caller, motion, n, 2) if motion else None
        return int(dl.draw_quads(self.floats(caller, pos, n, 2), self.floats(caller, size, size_count, 2),
                                 self.rgba(caller, color, color_count), int(layer), motion=m))

    def _f_circles(self, caller: Any, ctx: int, n: int, pos: int, radius: int, radius_count: int, color: int,
                   color_count: int, layer: int, motion: int) -> int:
        dl = self._drawlist(ctx)
        if dl is None or n == 0:
            return 0
        m = self.floats(caller, motion, n, 2) if motion else None
        return int(dl.draw_circles(self.floats(caller, pos, n, 2), self.floats(caller, radius, radius_count, 1),
                                   self.rgba(caller, color, color_count), int(layer), motion=m))

    def _f_lines(self, caller: Any, ctx: int, n: int, pos: int, end: int, width: int, width_count: int,
                 color: int, color_count: int, layer: int, motion: int) -> int:
        dl = self._drawlist(ctx)
        if dl is None or n == 0:
            return 0
        m = self.floats(caller, motion, n, 2) if motion else None
        return int(dl.draw_lines(self.floats(caller, pos, n, 2), self.floats(caller, end, n, 2),
                                 self.floats(caller, width, width_count, 1),
                                 self.rgba(caller, color, color_count), int(layer), motion=m))

    def _f_text(self, caller: Any, ctx: int, x: float, y: float, text: int, color: int, scale: float,
                layer: int) -> int:
        dl = self._drawlist(ctx)
        if dl is None:
            return 0
        rgba = [int(v) for v in self.read_bytes(color, 4, caller)]
        dl.text(float(x), float(y), self.cstr(caller, text, "text"), rgba, float(scale), int(layer))
        return abi.GPI_OK

    def _f_state_json(self, caller: Any, ctx: int, out: int, cap: int) -> int:
        call = self._cur(ctx)
        return self.copy_out(caller, json.dumps(dict(call.ctx.input), sort_keys=True), out, int(cap))

    def _h_last_error(self, caller: Any, host: int) -> int:
        data = self.last_error.encode("utf-8", "replace") + b"\0"
        if self.current_call is None:
            return 0
        ptr = self.alloc(caller, len(data))
        self.write_bytes(ptr, data, caller)
        return ptr

    def _h_component(self, caller: Any, decl: int, name_p: int, scalar: int, ndim: int, shape: int) -> int:
        self._need_decl(decl)
        name = self.cstr(caller, name_p, "component")
        if scalar not in abi.SCALARS or not 0 <= ndim <= 8:
            raise WasmCallError(f"component {name!r}: scalar {scalar} / ndim {ndim} not valid")
        dims = tuple(self.u32s(caller, shape, ndim))
        c = self.plugin.component(name, abi.SCALARS[scalar], dims)
        self.declared[c.name] = c
        return self._handle(c.name)

    def _h_component_ref(self, caller: Any, decl: int, name_p: int) -> int:
        self._need_decl(decl)
        return self._handle(self.cstr(caller, name_p, "component_ref"))

    def _h_system(self, caller: Any, decl: int, desc: int) -> int:
        self._need_decl(decl)
        raw = self.u32s(caller, desc, 12)  # wasm32 gpi_system_desc: 2 u32 + 10 pointers
        if raw[0] < 48:
            raise WasmCallError(f"system: gpi_system_desc.struct_size {raw[0]} is smaller than ABI 1.0's (48)")
        flags = raw[1]
        name = self.cstr(caller, raw[2], "system")
        where = f"system {name!r}"
        if flags & ~(abi.GPI_SPAWNS | abi.GPI_DESPAWNS):
            raise WasmCallError(f"{where}: unknown flags {flags:#x}")
        stage = self.cstr(caller, raw[3], where) or "update"
        lists = [self.cstr_list(caller, raw[k], where) for k in range(4, 10)]
        fn = self.func(raw[10], f"{where} fn")
        self.plugin.system(name=name, stage=stage, reads=lists[0], writes=lists[1], resources=lists[2],
                           events=lists[3], before=lists[4], after=lists[5], spawns=bool(flags & abi.GPI_SPAWNS),
                           despawns=bool(flags & abi.GPI_DESPAWNS))(self.system_fn(name, fn, raw[11]))
        return abi.GPI_OK

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
        names = [self._cname(h) for h in self.u32s(caller, comps, n)]
        wo = [self._cname(h) for h in self.u32s(caller, without, nwithout)]
        chunks = list(call.ctx.query(*names, without=wo))
        call.queries.append((names, chunks))
        if nchunks:
            self.write_bytes(nchunks, len(chunks).to_bytes(4, "little"), caller)
        return len(call.queries)

    def _chunk(self, ctx: int, q: int, i: int) -> tuple[list[str], Any]:
        call = self._cur(ctx)
        if not 0 < q <= len(call.queries):
            raise WasmCallError(f"unknown query handle {q}")
        names, chunks = call.queries[q - 1]
        if i >= len(chunks):
            raise WasmCallError(f"query {q} has {len(chunks)} chunks, not chunk {i}")
        return names, chunks[i]

    def _h_chunk_rows(self, caller: Any, ctx: int, q: int, i: int) -> int:
        return len(self._chunk(ctx, q, i)[1])

    def _h_chunk_column(self, caller: Any, ctx: int, q: int, i: int, slot: int) -> int:
        names, chunk = self._chunk(ctx, q, i)
        if slot >= len(names):
            raise WasmCallError(f"query {q} has {len(names)} components, not slot {slot}")
        return self.copy_in(caller, chunk[names[slot]])

    def _h_chunk_entities(self, caller: Any, ctx: int, q: int, i: int) -> int:
        return self.copy_in(caller, self._chunk(ctx, q, i)[1].entities)

    def _component(self, call: Call, name: str) -> Component:
        c = self.declared.get(name) or call.ctx.world.components.get(name)
        if c is None:
            raise WasmCallError(f"component {name!r} is not in the world")
        return c  # type: ignore[no-any-return]

    def _h_output(self, caller: Any, ctx: int, comp: int, rows: int, buf: int) -> int:
        call = self._cur(ctx)
        name = self._cname(comp)
        c = self._component(call, name)
        arr = call.ctx.output((int(rows), *c.shape), c.dtype)
        ptr = self.alloc(caller, max(arr.nbytes, 1))
        call.buffers.append((name, ptr, arr))
        if buf:
            self.write_bytes(buf, len(call.buffers).to_bytes(4, "little"), caller)
        return ptr

    def _buffer(self, call: Call, h: int, name: str, rows: int) -> np.ndarray:
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
        hs, bs = self.u32s(caller, comps, n), self.u32s(caller, bufs, n)
        values = {}
        for h, b in zip(hs, bs, strict=True):
            name = self._cname(h)
            values[name] = self._buffer(call, b, name, int(count))
        call.ctx.spawn(int(count), values)
        return abi.GPI_OK

    def _h_despawn(self, caller: Any, ctx: int, count: int, ids: int) -> int:
        call = self._cur(ctx)
        call.ctx.despawn(np.frombuffer(self.read_bytes(ids, 8 * int(count), caller), "<u8").copy())
        return abi.GPI_OK

    def _h_resource_json(self, caller: Any, ctx: int, name: int, out: int, cap: int) -> int:
        call = self._cur(ctx)
        value = call.ctx.try_resource(self.cstr(caller, name, "resource_json"))
        return self.copy_out(caller, json.dumps(value), out, int(cap))

    def _h_set_resource_json(self, caller: Any, ctx: int, name: int, text: int) -> int:
        call = self._cur(ctx)
        call.ctx.insert_resource(self.cstr(caller, name, "set_resource_json"),
                                 json.loads(self.cstr(caller, text, "set_resource_json") or "null"))
        return abi.GPI_OK

    def _h_events_json(self, caller: Any, ctx: int, name: int, out: int, cap: int) -> int:
        call = self._cur(ctx)
        return self.copy_out(caller, json.dumps(call.ctx.events(self.cstr(caller, name, "events_json"))),
                              out, int(cap))

    def _h_send_event_json(self, caller: Any, ctx: int, name: int, text: int) -> int:
        call = self._cur(ctx)
        call.ctx.send_event(self.cstr(caller, name, "send_event_json"),
                            json.loads(self.cstr(caller, text, "send_event_json") or "null"))
        return abi.GPI_OK

    def _h_log(self, caller: Any, ctx: int, level: int, message: int) -> None:
        call = self._cur(ctx)
        lvl = {0: "debug", 1: "info", 2: "warning", 3: "error"}.get(int(level), "info")
        call.ctx.log(self.cstr(caller, message, "log"), level=lvl)

    def _h_entity_count(self, caller: Any, ctx: int) -> int:
        return int(self._cur(ctx).ctx.entity_count())

    def _h_is_alive(self, caller: Any, ctx: int, eid: int) -> int:
        return int(bool(self._cur(ctx).ctx.is_alive(int(eid) & _MASK64)))


