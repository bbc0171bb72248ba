"""The errors a wasm plugin raises: failing to load, failing a call, running out of fuel.

Kept apart so every module of the package (loading, host functions, calls into
the module) raises the same classes without importing one another for them.
"""

from __future__ import annotations

from gpi.plugins.errors import PluginError, PluginLoadError

__all__ = ["WasmCallError", "WasmFuelExhausted", "WasmLoadError"]


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

