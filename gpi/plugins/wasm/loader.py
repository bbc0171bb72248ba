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

This module holds the loading itself (:class:`WasmPlugin` compiles and
instantiates the module under its limits, reads ``gpi_plugin`` and runs
``init``; :func:`load_wasm` turns it into a :class:`~gpi.plugins.sdk.Plugin`)
and :func:`probe`; the host functions are in :mod:`.hostfuncs`, calls into the
module in :mod:`.calls`, linear-memory access in :mod:`.memory`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import wasmtime

from gpi.ecs.component import Component
from gpi.plugins.native import abi
from gpi.plugins.sdk import Plugin
from gpi.plugins.wasm.calls import DECL, Call
from gpi.plugins.wasm.errors import WasmLoadError
from gpi.plugins.wasm.hostfuncs import HostFunctions
from gpi.plugins.wasm.memory import PAGE

__all__ = ["DEFAULT_FUEL", "DEFAULT_MEMORY_MB", "WasmPlugin", "load_wasm", "module_path", "probe"]

#: Fuel (about one unit per wasm instruction) a system call may burn unless the manifest says ``fuel``.
DEFAULT_FUEL = 2_000_000_000
#: Linear memory cap when the manifest gives no ``memory_mb``.
DEFAULT_MEMORY_MB = 256


class WasmPlugin(HostFunctions):
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
        self.declared: dict[str, Component] = {}
        self.decl_open = False
        self.current_call: Call | None = None
        self.last_error = ""
        self.fuel_used: dict[str, int] = {}  # system -> fuel its last call burnt
        cfg = wasmtime.Config()
        cfg.consume_fuel = True
        cfg.parallel_compilation = False  # no threads: the sandbox refuses them, and none are needed
        cfg.memory_init_cow = False  # no memfd: the sandboxed child may not create one
        # Reserve only the cap (not wasmtime's default 4 GiB + guard): fits a child's address-space limit.
        cfg.memory_reservation = self.memory_mb * 1024 * 1024
        cfg.memory_guard_size = PAGE
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
        self.instance = wasmtime.Instance(self.store, self.module, self.host_imports())
        ex = self.instance.exports(self.store)
        mem = ex.get("memory") if "memory" in [e.name for e in self.module.exports] else None
        if not isinstance(mem, wasmtime.Memory):
            raise WasmLoadError(f"wasm plugin {name!r}: {path.name} does not export its linear memory as 'memory'")
        self.memory: wasmtime.Memory = mem
        table = ex.get("__indirect_function_table") if self._exports("__indirect_function_table") else None
        self.table: wasmtime.Table | None = table if isinstance(table, wasmtime.Table) else None
        self.features: dict[str, int] = {}
        self.feature_tables()
        self.scratch_base = self.memory.data_len(self.store)
        self.scratch_end = self.scratch_base
        self.cursor = self.scratch_base
        self._info()

    # -- loading ----------------------------------------------------------------------

    def _exports(self, name: str) -> bool:
        return any(e.name == name for e in self.module.exports)

    def _info(self) -> None:
        if not self._exports(abi.ENTRY_SYMBOL):
            raise WasmLoadError(f"wasm plugin {self.name!r}: {self.path.name} does not export "
                                f"{abi.ENTRY_SYMBOL!r}; define it with GPI_PLUGIN_DEFINE(init) from gpi_plugin.h")
        init_c = self.instance.exports(self.store).get("_initialize") if self._exports("_initialize") else None
        if isinstance(init_c, wasmtime.Func):  # a reactor's C constructors
            self.run(init_c, (), "_initialize")
        entry = self.instance.exports(self.store)[abi.ENTRY_SYMBOL]
        if not isinstance(entry, wasmtime.Func):
            raise WasmLoadError(f"wasm plugin {self.name!r}: export {abi.ENTRY_SYMBOL!r} is not a function")
        ptr = int(self.run(entry, (), "entry"))
        head = self.read_bytes(ptr, 12)
        size = int.from_bytes(head[0:4], "little")
        major, minor = int.from_bytes(head[4:6], "little"), int.from_bytes(head[6:8], "little")
        host_v = f"{abi.ABI_MAJOR}.{abi.ABI_MINOR}"
        if major != abi.ABI_MAJOR or minor > abi.ABI_MINOR:
            raise WasmLoadError(f"wasm plugin {self.name!r} ({self.path.name}) was built for GPI ABI "
                                f"{major}.{minor}, this host speaks ABI {host_v}")
        if size < 12:
            raise WasmLoadError(f"wasm plugin {self.name!r}: gpi_plugin.struct_size {size} lacks init")
        self.abi_version = (major, minor)
        init = self.func(int.from_bytes(head[8:12], "little"), "gpi_plugin.init")
        host = 0
        if self._exports("gpi_wasm_host"):  # C: the header's static gpi_host of imports
            hfn = self.instance.exports(self.store)["gpi_wasm_host"]
            if not isinstance(hfn, wasmtime.Func):
                raise WasmLoadError(f"wasm plugin {self.name!r}: export 'gpi_wasm_host' is not a function")
            host = int(self.run(hfn, (), "gpi_wasm_host"))
            self.write_bytes(host + 4, np.array([abi.ABI_MAJOR, abi.ABI_MINOR], "<u2").tobytes())
        self.decl_open = True
        try:
            rc = self.run(init, (host, DECL), "init")
        finally:
            self.decl_open = False
        if self.last_error:
            raise WasmLoadError(f"wasm plugin {self.name!r}: declaration refused: {self.last_error}")
        if rc != 0:
            raise WasmLoadError(f"wasm plugin {self.name!r}: init returned {rc}")



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
        store.set_limits(memory_size=PAGE)
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
