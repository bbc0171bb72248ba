"""GPI Sandbox: a data-oriented ECS game runtime with sandboxed plugin systems.

This module is the plugin author's front door; it stays small::

    from gpi import Plugin

    plugin = Plugin()
    plugin.component("Position", "float32", (2,))

    @plugin.system(stage="update", writes=["Position"])
    def nudge(ctx): ...

See :mod:`gpi.plugins.sdk` (declarations), :mod:`gpi.plugins.context` (what
``ctx`` offers) and :mod:`gpi.testing` (running one system in a test).
"""

__version__ = "0.1.0"
ABI_VERSION = 1

from gpi.errors import GpiError  # noqa: E402
from gpi.plugins.context import SystemContext  # noqa: E402
from gpi.plugins.sdk import Plugin, component, system  # noqa: E402

__all__ = ["ABI_VERSION", "GpiError", "Plugin", "SystemContext", "__version__", "component", "system"]
