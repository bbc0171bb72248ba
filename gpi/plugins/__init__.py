"""Plugins: manifests, the SDK, the wire protocol, child processes and the host.

- :mod:`gpi.plugins.sdk`: ``Plugin``, ``component``, ``system`` (what plugin code imports via ``gpi``).
- :mod:`gpi.plugins.context`: ``SystemContext``, the ``ctx`` a system receives.
- :mod:`gpi.plugins.host`: ``PluginHost``, which runs plugins against a world.
- :mod:`gpi.plugins.child`: the child process (``python -m gpi.plugins.child``).
- :mod:`gpi.plugins.wire`: message kinds between host and child.

The host is imported on demand (``from gpi.plugins.host import PluginHost``) so
that plugin code importing ``gpi`` does not pull in process management.
"""

from gpi.plugins.context import SystemContext
from gpi.plugins.sdk import Plugin, SystemSpec, component, system

__all__ = ["Plugin", "SystemContext", "SystemSpec", "component", "system"]
