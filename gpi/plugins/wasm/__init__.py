"""WebAssembly plugins: modules implementing ``gpi_plugin.h`` run by wasmtime (docs/abi.md)."""

from gpi.plugins.wasm.loader import (
    DEFAULT_FUEL,
    WasmCallError,
    WasmFuelExhausted,
    WasmLoadError,
    WasmPlugin,
    load_wasm,
)

__all__ = ["DEFAULT_FUEL", "WasmCallError", "WasmFuelExhausted", "WasmLoadError", "WasmPlugin", "load_wasm"]
