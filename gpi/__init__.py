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

from gpi.errors import GpiError
from gpi.plugins.context import SystemContext
from gpi.plugins.sdk import Plugin, component, system
from gpi.version import ABI_VERSION
from gpi.version import ENGINE_VERSION as __version__

__all__ = ["ABI_VERSION", "GpiError", "Plugin", "SystemContext", "__version__", "component", "system"]
