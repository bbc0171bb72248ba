"""Loading a native plugin (a shared library implementing ``gpi_plugin.h``) with ctypes.

:func:`load_native` opens the library, calls its one entry symbol, checks the
ABI version it was built with, hands it the host table and lets its ``init``
declare components and systems into an ordinary :class:`~gpi.plugins.sdk.Plugin`.
Each declared system becomes a :class:`~gpi.plugins.sdk.SystemSpec` whose
function calls into C with an opaque context; the host functions the C code
calls (``query``, ``chunk_column``, ``output``, ``set_column``, ...) map onto
the :class:`~gpi.plugins.context.SystemContext` of that call. So a native
system's result is the same command list a Python system's is: the host
validates, schedules, records, profiles and supervises it the same way, and
the same code runs in a child or in-process (isolation ``none``).

Zero copy: ``chunk_column`` returns the address of the chunk's read-only
view, i.e. the child's sealed, read-only mapping of the world's memfd (a write
through it faults); ``output`` returns an array of the output arena, which the
command references by offset. Host callbacks are built when the library is
loaded; in a child that is after the sandbox, which needs nothing for it beyond
what ``dlopen`` needs (see docs/security.md).
"""

from __future__ import annotations

import ctypes
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from gpi.ecs.component import Component
from gpi.plugins.errors import CapabilityError, PluginError, PluginLoadError
from gpi.plugins.native import abi
from gpi.plugins.rng import stable_hash
from gpi.plugins.sdk import Plugin
from gpi.shm.errors import ArenaError

__all__ = ["NativeCallError", "NativeLoadError", "NativePlugin", "library_path", "load_native"]

_STAGES_DEFAULT = "update"


class NativeLoadError(PluginLoadError):
    """A native library could not be loaded: missing file or symbol, ABI mismatch, failed init."""


class NativeCallError(PluginError, RuntimeError):
    """A native system failed: it returned non-zero or a host call it made was refused."""


class _PhaseError(NativeCallError):
    """A host function called in the wrong phase (a declaration outside init, a stale context)."""


def _code(exc: BaseException) -> int:
    """The ``GPI_E_*`` code a failed host call returns for ``exc``."""
    if isinstance(exc, CapabilityError):
        return abi.GPI_E_DENIED
    if isinstance(exc, _PhaseError):
        return abi.GPI_E_STATE
    if isinstance(exc, (ArenaError, BufferError, MemoryError)):
        return abi.GPI_E_NOSPACE
    return abi.GPI_E_INVALID


def library_path(folder: str | Path, library: str) -> Path:
    """The file a manifest's ``library`` names: as given, else ``lib<name>.so`` / ``<name>.so``."""
    base = Path(folder)
    for cand in (library, f"lib{library}.so", f"{library}.so"):
        p = base / cand
        if p.is_file():
            return p
    return base / library


def _names(arr: Any, what: str) -> list[str]:
    """A NULL-terminated ``const char *const *`` as a list of str."""
    out: list[str] = []
    if not arr:
        return out
    i = 0
    while arr[i] is not None:
        if i >= 4096:
            raise NativeCallError(f"{what}: list is not NULL-terminated (over 4096 entries)")
        out.append(arr[i].decode("utf-8"))
        i += 1
    return out


def _addr(a: np.ndarray) -> int:
    """The address of an array's first byte (cheaper than ``a.ctypes.data``)."""
    return int(a.__array_interface__["data"][0])


def _view(ptr: int | None, count: int, ctype: Any, dtype: Any) -> np.ndarray:
    """``count`` values at address ``ptr`` as a numpy array (no copy)."""
    if count <= 0:
        return np.empty(0, dtype)
    if not ptr:
        raise NativeCallError("NULL data pointer with a non-zero count")
    return np.frombuffer((ctype * count).from_address(ptr), dtype)


class _Call:
    """State of one system call: the context, its queries and output buffers, its first error."""

    __slots__ = ("buffers", "ctx", "error", "hashes", "queries", "system")

    def __init__(self, ctx: Any, system: str, hashes: tuple[int, int]) -> None:
        self.ctx = ctx
        self.system = system
        self.hashes = hashes  # stable_hash of (plugin, system): for rng_seed
        self.queries: list[tuple[list[str], list[Any]]] = []  # handle-1 -> (names, chunks)
        self.buffers: list[tuple[str, np.ndarray]] = []  # handle-1 -> (component, array)
        self.error: str | None = None


class NativePlugin:
    """One loaded library: its host table (kept alive), declarations and the call in progress."""

    def __init__(self, path: Path, name: str, granted: Iterable[str]) -> None:
        self.path = path
        self.name = name
        self.granted = frozenset(granted)
        self.plugin = Plugin(name)
        self.handles: list[str] = []  # component handle-1 -> name
        self._declared: dict[str, Component] = {}
        self._decl_open = False
        self._call: _Call | None = None
        self._error_buf = ctypes.create_string_buffer(b"", 1)
        self._last_error = ""
        self._ctx_token = ctypes.c_uint64(0x67706900)  # the opaque gpi_ctx* is this object's address
        self._decl_token = ctypes.c_uint64(0x67706901)
        self._keep: list[Any] = []
        self.host = self._host_table()
        self._features = self._feature_tables()
        try:
            self.lib = ctypes.CDLL(str(path), mode=ctypes.RTLD_LOCAL)
        except OSError as exc:
            raise NativeLoadError(f"native plugin {name!r}: cannot load {path}: {exc}") from exc
        self.info = self._entry()
        self._init()

    # -- loading ----------------------------------------------------------------------

    def _entry(self) -> Any:
        try:
            sym = getattr(self.lib, abi.ENTRY_SYMBOL)
        except AttributeError:
            raise NativeLoadError(
                f"native plugin {self.name!r}: {self.path.name} does not export {abi.ENTRY_SYMBOL!r}; "
                "define it with GPI_PLUGIN_DEFINE(init) from gpi_plugin.h") from None
        entry = abi.EntryFn(ctypes.cast(sym, ctypes.c_void_p).value or 0)
        info_p = entry()
        if not info_p:
            raise NativeLoadError(f"native plugin {self.name!r}: {abi.ENTRY_SYMBOL}() returned NULL")
        size = ctypes.cast(info_p, ctypes.POINTER(ctypes.c_uint32))[0]
        if size < 8:
            raise NativeLoadError(f"native plugin {self.name!r}: gpi_plugin.struct_size {size} is too small")
        head = ctypes.cast(info_p, ctypes.POINTER(ctypes.c_uint16))
        major, minor = int(head[2]), int(head[3])
        host_v = f"{abi.ABI_MAJOR}.{abi.ABI_MINOR}"
        if major != abi.ABI_MAJOR:
            raise NativeLoadError(
                f"native plugin {self.name!r} ({self.path.name}) was built for GPI ABI {major}.{minor}, "
                f"this host speaks ABI {host_v}: a different major is incompatible; rebuild the plugin "
                f"against gpi_plugin.h of ABI {abi.ABI_MAJOR}.x (gpi sdk --include)")
        if minor > abi.ABI_MINOR:
            raise NativeLoadError(
                f"native plugin {self.name!r} ({self.path.name}) was built for GPI ABI {major}.{minor}, "
                f"newer than this host's ABI {host_v}; upgrade gpi, or build the plugin with "
                f"-DGPI_TARGET_MINOR={abi.ABI_MINOR}")
        if size < ctypes.sizeof(abi.PluginInfo):
            raise NativeLoadError(f"native plugin {self.name!r}: gpi_plugin.struct_size {size} lacks init")
        self.abi_version = (major, minor)
        return info_p.contents

    def _init(self) -> None:
        if not self.info.init:
            raise NativeLoadError(f"native plugin {self.name!r}: gpi_plugin.init is NULL")
        self._decl_open = True
        try:
            rc = self.info.init(ctypes.addressof(self.host), ctypes.addressof(self._decl_token))
        finally:
            self._decl_open = False
        if self._last_error:
            raise NativeLoadError(f"native plugin {self.name!r}: declaration refused: {self._last_error}")
        if rc != 0:
            raise NativeLoadError(f"native plugin {self.name!r}: init returned {rc}")

    # -- the host table -----------------------------------------------------------------

    def _host_table(self) -> Any:
        table = abi.HostTable()
        table.struct_size = ctypes.sizeof(abi.HostTable)
        table.abi_major, table.abi_minor = abi.ABI_MAJOR, abi.ABI_MINOR
        for fname, typ, _since in abi.HOST_FIELDS:
            cb = typ(self._guard(getattr(self, "_h_" + fname), fname))  # type: ignore[operator]
            self._keep.append(cb)
            setattr(table, fname, cb)
        return table

    def _feature_tables(self) -> dict[str, Any]:
        feats: dict[str, Any] = {}
        if "draw" in self.granted:
            d = abi.DrawApi()
            d.struct_size = ctypes.sizeof(abi.DrawApi)
            for field in abi.DrawApi._fields_[1:]:
                fname, typ = field[0], field[1]
                cb = typ(self._guard(getattr(self, "_d_" + fname), "draw." + fname))
                self._keep.append(cb)
                setattr(d, fname, cb)
            feats[abi.FEATURE_DRAW] = d
        if "input" in self.granted:
            i = abi.InputApi()
            i.struct_size = ctypes.sizeof(abi.InputApi)
            cb = abi.InputApi._fields_[1][1](self._guard(self._i_state_json, "input.state_json"))
            self._keep.append(cb)
            i.state_json = cb
            feats[abi.FEATURE_INPUT] = i
        return feats

    def _guard(self, fn: Any, fname: str) -> Any:
        """Wrap a host function: an exception becomes an error code and a recorded message."""

        def call(*args: Any) -> Any:
            try:
                return fn(*args)
            except Exception as exc:  # never let a Python exception cross into C
                self._fail(f"{fname}: {type(exc).__name__}: {exc}")
                if fname == "log":
                    return None
                return _code(exc) if fname not in _POINTER_RETURNS else 0

        return call

    def _fail(self, message: str) -> int:
        self._last_error = message
        if self._call is not None and self._call.error is None:
            self._call.error = message
        return abi.GPI_E_INVALID

    def _cur(self, ctx: int | None) -> _Call:
        call = self._call
        if call is None or ctx != ctypes.addressof(self._ctx_token):
            raise _PhaseError("called with a context that is not the current system call's")
        return call

    def _cname(self, handle: int) -> str:
        if not 0 < handle <= len(self.handles):
            raise NativeCallError(f"unknown component handle {handle}")
        return self.handles[handle - 1]

    # any phase
    def _h_get_feature(self, host: int | None, fid: bytes | None) -> int:
        feat = self._features.get((fid or b"").decode("utf-8", "replace"))
        return ctypes.addressof(feat) if feat is not None else 0

    def _h_last_error(self, host: int | None) -> int:
        self._error_buf = ctypes.create_string_buffer(self._last_error.encode("utf-8", "replace"))
        return ctypes.addressof(self._error_buf)

    # declarations
    def _need_decl(self, decl: int | None) -> None:
        if not self._decl_open or decl != ctypes.addressof(self._decl_token):
            raise _PhaseError("declarations are only allowed inside init")

    def _handle(self, name: str) -> int:
        if name in self.handles:
            return self.handles.index(name) + 1
        self.handles.append(name)
        return len(self.handles)

    def _h_component(self, decl: int | None, name: bytes | None, scalar: int, ndim: int, shape: Any) -> int:
        self._need_decl(decl)
        if name is None or scalar not in abi.SCALARS:
            raise NativeCallError(f"component {name!r}: scalar type {scalar} is not a gpi_scalar")
        if ndim > 8 or (ndim and not shape):
            raise NativeCallError(f"component {name!r}: ndim {ndim} must be 0..8 with a shape array")
        dims = tuple(int(shape[i]) for i in range(ndim)) if ndim else ()
        c = self.plugin.component(name.decode("utf-8"), abi.SCALARS[scalar], dims)
        self._declared[c.name] = c
        return self._handle(c.name)

    def _h_component_ref(self, decl: int | None, name: bytes | None) -> int:
        self._need_decl(decl)
        if not name:
            raise NativeCallError("component_ref: NULL name")
        return self._handle(name.decode("utf-8"))

    def _h_system(self, decl: int | None, desc_p: Any) -> int:
        self._need_decl(decl)
        if not desc_p:
            raise NativeCallError("system: NULL description")
        size = ctypes.cast(desc_p, ctypes.POINTER(ctypes.c_uint32))[0]
        if size < ctypes.sizeof(abi.SystemDesc):
            raise NativeCallError(f"system: gpi_system_desc.struct_size {size} is smaller than ABI 1.0's")
        d = desc_p.contents
        name = (d.name or b"").decode("utf-8")
        where = f"system {name!r}"
        if not d.fn:
            raise NativeCallError(f"{where}: fn is NULL")
        if d.flags & ~(abi.GPI_SPAWNS | abi.GPI_DESPAWNS):
            raise NativeCallError(f"{where}: unknown flags {d.flags:#x}")
        fn = abi.SystemFn(d.fn)
        user = d.user
        self.plugin.system(
            name=name, stage=(d.stage or _STAGES_DEFAULT.encode()).decode("utf-8"),
            reads=_names(d.reads, where), writes=_names(d.writes, where),
            resources=_names(d.resources, where), events=_names(d.events, where),
            before=_names(d.before, where), after=_names(d.after, where),
            spawns=bool(d.flags & abi.GPI_SPAWNS), despawns=bool(d.flags & abi.GPI_DESPAWNS),
        )(self._system_fn(name, fn, user))
        return abi.GPI_OK

    def _system_fn(self, name: str, fn: Any, user: Any) -> Any:
        token = ctypes.addressof(self._ctx_token)
        hashes = (stable_hash(self.name), stable_hash(name))

        def run(ctx: Any) -> None:
            h = hashes if ctx.plugin == self.name else (stable_hash(ctx.plugin), hashes[1])
            self._call = _Call(ctx, name, h)
            self._last_error = ""
            try:
                rc = fn(token, user)
                err = self._call.error
            finally:
                self._call = None
            if err is not None:
                raise NativeCallError(f"plugin {self.name!r} system {name!r}: {err}")
            if rc != 0:
                raise NativeCallError(f"plugin {self.name!r} system {name!r} returned {rc}")

        run.__name__ = name
        return run

    # a system call
    def _h_tick(self, ctx: int | None) -> int:
        return int(self._cur(ctx).ctx.tick)

    def _h_dt(self, ctx: int | None) -> float:
        return float(self._cur(ctx).ctx.dt)

    def _h_rng_seed(self, ctx: int | None) -> int:
        call = self._cur(ctx)
        return abi.rng_seed(call.ctx.seed, call.ctx.tick, *call.hashes)

    def _h_query(self, ctx: int | None, comps: Any, n: int, without: Any, nwithout: int, nchunks: Any) -> int:
        call = self._cur(ctx)
        if n > 1024 or nwithout > 1024:
            raise NativeCallError(f"query: {n} components and {nwithout} filters: at most 1024 each")
        names = [self._cname(comps[i]) for i in range(n)]
        wo = [self._cname(without[i]) for i in range(nwithout)]
        chunks = list(call.ctx.query(*names, without=wo))
        call.queries.append((names, chunks))
        if nchunks:
            nchunks[0] = len(chunks)
        return len(call.queries)

    def _chunk(self, ctx: int | None, q: int, i: int) -> tuple[list[str], Any]:
        call = self._cur(ctx)
        if not 0 < q <= len(call.queries):
            raise NativeCallError(f"unknown query handle {q}")
        names, chunks = call.queries[q - 1]
        if i >= len(chunks):
            raise NativeCallError(f"query {q} has {len(chunks)} chunks, not chunk {i}")
        return names, chunks[i]

    def _h_chunk_rows(self, ctx: int | None, q: int, i: int) -> int:
        return len(self._chunk(ctx, q, i)[1])

    def _h_chunk_column(self, ctx: int | None, q: int, i: int, slot: int) -> int:
        names, chunk = self._chunk(ctx, q, i)
        if slot >= len(names):
            raise NativeCallError(f"query {q} has {len(names)} components, not slot {slot}")
        return _addr(chunk[names[slot]])

    def _h_chunk_entities(self, ctx: int | None, q: int, i: int) -> int:
        return _addr(self._chunk(ctx, q, i)[1].entities)

    def _component(self, call: _Call, name: str) -> Component:
        c = self._declared.get(name)
        if c is None:
            c = call.ctx.world.components.get(name)
        if c is None:
            raise NativeCallError(f"component {name!r} is not in the world")
        return c  # type: ignore[no-any-return]

    def _h_output(self, ctx: int | None, comp: int, rows: int, buf: Any) -> int:
        call = self._cur(ctx)
        name = self._cname(comp)
        c = self._component(call, name)
        arr = call.ctx.output((int(rows), *c.shape), c.dtype)
        call.buffers.append((name, arr))
        if buf:
            buf[0] = len(call.buffers)
        return _addr(arr)

    def _buffer(self, call: _Call, h: int, name: str, rows: int) -> np.ndarray:
        if not 0 < h <= len(call.buffers):
            raise NativeCallError(f"unknown buffer handle {h}")
        bname, arr = call.buffers[h - 1]
        if bname != name or len(arr) != rows:
            raise NativeCallError(f"buffer {h} holds {len(arr)} rows of {bname!r}, not {rows} of {name!r}")
        return arr

    def _h_set_column(self, ctx: int | None, q: int, i: int, slot: int, buf: int) -> int:
        call = self._cur(ctx)
        names, chunk = self._chunk(ctx, q, i)
        if slot >= len(names):
            raise NativeCallError(f"query {q} has {len(names)} components, not slot {slot}")
        name = names[slot]
        call.ctx.commands.set_chunk(chunk, name, self._buffer(call, buf, name, len(chunk)))
        return abi.GPI_OK

    def _h_spawn(self, ctx: int | None, count: int, n: int, comps: Any, bufs: Any) -> int:
        call = self._cur(ctx)
        if n > 1024:
            raise NativeCallError(f"spawn: {n} components is more than any entity can have")
        values = {}
        for k in range(n):
            name = self._cname(comps[k])
            values[name] = self._buffer(call, bufs[k], name, int(count))
        call.ctx.spawn(int(count), values)
        return abi.GPI_OK

    def _h_despawn(self, ctx: int | None, count: int, ids: Any) -> int:
        call = self._cur(ctx)
        arr = _view(ctypes.cast(ids, ctypes.c_void_p).value, int(count), ctypes.c_uint64, np.uint64).copy()
        call.ctx.despawn(arr)
        return abi.GPI_OK

    @staticmethod
    def _copy_out(text: str, out: int | None, cap: int) -> int:
        data = text.encode("utf-8")
        if out and cap > len(data):
            ctypes.memmove(out, data + b"\0", len(data) + 1)
        return len(data)

    def _h_resource_json(self, ctx: int | None, name: bytes | None, out: int | None, cap: int) -> int:
        call = self._cur(ctx)
        value = call.ctx.try_resource((name or b"").decode("utf-8"))
        return self._copy_out(json.dumps(value), out, int(cap))

    def _h_set_resource_json(self, ctx: int | None, name: bytes | None, text: bytes | None) -> int:
        call = self._cur(ctx)
        call.ctx.insert_resource((name or b"").decode("utf-8"), json.loads(text or b"null"))
        return abi.GPI_OK

    def _h_events_json(self, ctx: int | None, name: bytes | None, out: int | None, cap: int) -> int:
        call = self._cur(ctx)
        return self._copy_out(json.dumps(call.ctx.events((name or b"").decode("utf-8"))), out, int(cap))

    def _h_send_event_json(self, ctx: int | None, name: bytes | None, text: bytes | None) -> int:
        call = self._cur(ctx)
        call.ctx.send_event((name or b"").decode("utf-8"), json.loads(text or b"null"))
        return abi.GPI_OK

    def _h_log(self, ctx: int | None, level: int, message: bytes | None) -> None:
        call = self._cur(ctx)
        lvl = {0: "debug", 1: "info", 2: "warning", 3: "error"}.get(int(level), "info")
        call.ctx.log((message or b"").decode("utf-8", "replace"), level=lvl)

    def _h_entity_count(self, ctx: int | None) -> int:
        return int(self._cur(ctx).ctx.entity_count())

    def _h_is_alive(self, ctx: int | None, eid: int) -> int:
        return int(bool(self._cur(ctx).ctx.is_alive(int(eid))))

    # -- features -----------------------------------------------------------------------

    def _drawlist(self, ctx: int | None) -> Any:
        call = self._cur(ctx)
        try:
            return call.ctx.draw
        except CapabilityError:
            if "draw" not in call.ctx.granted:
                raise
            return None  # headless: no draw-list buffer attached, nothing to draw into

    @staticmethod
    def _per(ptr: int | None, count: int, n: int, width: int, what: str) -> np.ndarray:
        if count not in (1, n):
            raise NativeCallError(f"{what}: count must be 1 or n={n}, got {count}")
        a = _view(ptr, count * width, ctypes.c_float, np.float32)
        return a.reshape(count, width) if width > 1 else a

    @staticmethod
    def _rgba(ptr: int | None, count: int, n: int) -> np.ndarray:
        if count not in (1, n):
            raise NativeCallError(f"color: count must be 1 or n={n}, got {count}")
        a = _view(ptr, count * 4, ctypes.c_uint8, np.uint8).reshape(count, 4)
        return a[0] if count == 1 else a

    def _d_quads(self, ctx: int | None, n: int, pos: int | None, size: int | None, size_count: int,
                 color: int | None, color_count: int, layer: int, motion: int | None) -> int:
        dl = self._drawlist(ctx)
        if dl is None or n == 0:
            return 0
        p = _view(pos, 2 * n, ctypes.c_float, np.float32).reshape(n, 2)
        s = self._per(size, size_count, n, 2, "quads size")
        m = _view(motion, 2 * n, ctypes.c_float, np.float32).reshape(n, 2) if motion else None
        return int(dl.draw_quads(p, s, self._rgba(color, color_count, n), int(layer), motion=m))

    def _d_circles(self, ctx: int | None, n: int, pos: int | None, radius: int | None, radius_count: int,
                   color: int | None, color_count: int, layer: int, motion: int | None) -> int:
        dl = self._drawlist(ctx)
        if dl is None or n == 0:
            return 0
        p = _view(pos, 2 * n, ctypes.c_float, np.float32).reshape(n, 2)
        r = self._per(radius, radius_count, n, 1, "circles radius")
        m = _view(motion, 2 * n, ctypes.c_float, np.float32).reshape(n, 2) if motion else None
        return int(dl.draw_circles(p, r, self._rgba(color, color_count, n), int(layer), motion=m))

    def _d_lines(self, ctx: int | None, n: int, pos: int | None, end: int | None, width: int | None,
                 width_count: int, color: int | None, color_count: int, layer: int, motion: int | None) -> int:
        dl = self._drawlist(ctx)
        if dl is None or n == 0:
            return 0
        p = _view(pos, 2 * n, ctypes.c_float, np.float32).reshape(n, 2)
        e = _view(end, 2 * n, ctypes.c_float, np.float32).reshape(n, 2)
        w = self._per(width, width_count, n, 1, "lines width")
        m = _view(motion, 2 * n, ctypes.c_float, np.float32).reshape(n, 2) if motion else None
        return int(dl.draw_lines(p, e, w, self._rgba(color, color_count, n), int(layer), motion=m))

    def _d_text(self, ctx: int | None, x: float, y: float, text: bytes | None, color: int | None,
                scale: float, layer: int) -> int:
        dl = self._drawlist(ctx)
        if dl is None:
            return 0
        rgba = [int(v) for v in _view(color, 4, ctypes.c_uint8, np.uint8)]
        dl.text(float(x), float(y), (text or b"").decode("utf-8", "replace"), rgba, float(scale), int(layer))
        return abi.GPI_OK

    def _i_state_json(self, ctx: int | None, out: int | None, cap: int) -> int:
        call = self._cur(ctx)
        return self._copy_out(json.dumps(dict(call.ctx.input), sort_keys=True), out, int(cap))


# Host functions returning a pointer or handle: failure is 0 (NULL), not a negative code.
_POINTER_RETURNS = frozenset({"get_feature", "last_error", "component", "component_ref", "query",
                              "chunk_rows", "chunk_column", "chunk_entities", "output", "tick",
                              "rng_seed", "entity_count", "is_alive"})


def load_native(folder: str | Path, library: str, name: str, granted: Iterable[str] = ()) -> Plugin:
    """Load the native plugin ``library`` of plugin folder ``folder``; its declarations as a Plugin.

    ``granted`` decides which optional features ``get_feature`` offers (draw,
    input). Raises :class:`NativeLoadError` with a message naming the file for
    a missing library or entry symbol, an ABI mismatch, or a failed ``init``.
    """
    path = library_path(folder, library)
    if not path.is_file():
        raise NativeLoadError(f"native plugin {name!r}: library {library!r} not found in {folder} "
                              f"(build it first: cmake --build build)")
    return NativePlugin(path, name, granted).plugin
