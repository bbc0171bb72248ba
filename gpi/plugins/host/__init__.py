"""The plugin host: :class:`PluginHost` runs plugin systems against a world.

::

    with World(seed=7) as world, PluginHost(world) as host:
        host.load("examples/plugins/spawner", "examples/plugins/movement")
        for _ in range(600):
            host.tick(input_state={"keys": ["right"]})

One module per concept:

- :mod:`~gpi.plugins.host.pluginhost`: :class:`PluginHost`, the front door
  (loading, reload and swap, saves and snapshots, the tick);
- :mod:`~gpi.plugins.host.loading`: the loaded-plugin record, signature,
  sandbox and component checks before a plugin runs;
- :mod:`~gpi.plugins.host.worker`: the worker protocol, process and
  in-process workers, the output pump, child spawning;
- :mod:`~gpi.plugins.host.executor`: serial and parallel wave execution;
- :mod:`~gpi.plugins.host.results`: one call's result turned into its effect;
- :mod:`~gpi.plugins.host.records`: the tick report and call records;
- :mod:`~gpi.plugins.host.events`: faults and log lines, published to subscribers.
"""

from gpi.plugins.faults import FaultKind, PluginState
from gpi.plugins.host.events import HostEvents
from gpi.plugins.host.pluginhost import (
    DEFAULT_TIMEOUT,
    ISOLATION_MODES,
    LoadedPlugin,
    PluginHost,
    sandbox_available,
)
from gpi.plugins.host.records import RECORD_FIELDS, TickReport, call_record

__all__ = [
    "DEFAULT_TIMEOUT",
    "ISOLATION_MODES",
    "RECORD_FIELDS",
    "FaultKind",
    "HostEvents",
    "LoadedPlugin",
    "PluginHost",
    "PluginState",
    "TickReport",
    "call_record",
    "sandbox_available",
]
