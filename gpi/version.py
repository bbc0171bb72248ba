"""The engine's version, its plugin ABI version and where the package lives.

A bottom-layer module (it imports nothing from ``gpi``), so every layer can
name these without importing the plugin author's front door ``gpi``, which
re-exports them.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["ABI_VERSION", "ENGINE_VERSION", "PACKAGE_DIR"]

ENGINE_VERSION = "0.1.0"
"""The version of this GPI Sandbox (``gpi.__version__``); replays record it."""

ABI_VERSION = 1
"""The plugin ABI a manifest's ``abi`` must equal; the child and the host exchange it at handshake."""

PACKAGE_DIR = Path(__file__).resolve().parent
"""The installed ``gpi`` package folder (what Landlock grants to children and verify workers)."""
