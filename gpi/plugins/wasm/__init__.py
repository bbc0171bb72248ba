"""WebAssembly plugins: modules implementing ``gpi_plugin.h`` run by wasmtime (docs/abi.md)."""

from gpi.plugins.wasm.errors import WasmCallError, WasmFuelExhausted, WasmLoadError
from gpi.plugins.wasm.loader import DEFAULT_FUEL, WasmPlugin, load_wasm, module_path, probe

__all__ = ["DEFAULT_FUEL", "WasmCallError", "WasmFuelExhausted", "WasmLoadError", "WasmPlugin", "load_wasm",
           "module_path", "probe"]
