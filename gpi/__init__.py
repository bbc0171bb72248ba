"""GPI Sandbox: a data-oriented ECS game runtime with sandboxed plugin systems.

This module is the plugin author's front door; it stays small.
"""

from gpi.errors import GpiError

__version__ = "0.1.0"
ABI_VERSION = 1

__all__ = ["ABI_VERSION", "GpiError", "__version__"]
