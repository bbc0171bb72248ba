"""Native plugins: shared libraries implementing the C ABI of ``gpi/sdk/include/gpi_plugin.h``.

:func:`load_native` turns such a library into an ordinary
:class:`~gpi.plugins.sdk.Plugin`, so the child, the host and the replay tools
treat it exactly like a Python plugin. docs/abi.md is the reference.
"""

from gpi.plugins.native.abi import ABI_MAJOR, ABI_MINOR, ENTRY_SYMBOL
from gpi.plugins.native.loader import (
           NativeCallError,
           NativeLoadError,
           NativePlugin,
           library_path,
           load_native,
)

__all__ = ["ABI_MAJOR", "ABI_MINOR", "ENTRY_SYMBOL", "NativeCallError", "NativeLoadError", "NativePlugin",
           "library_path", "load_native"]
