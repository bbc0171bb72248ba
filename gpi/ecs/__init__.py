"""The ECS world: components, archetype tables in shared memory, queries, commands.

See :mod:`gpi.ecs.world` for the host-side :class:`World`; :mod:`gpi.ecs.view`
for the read-only :class:`WorldView` a child process builds from a layout.
"""

from gpi.ecs.component import Component
from gpi.ecs.errors import (
    AccessError,
    CommandError,
    DeadEntityError,
    EcsError,
    LayoutError,
    MissingComponentError,
    MissingResourceError,
    SchemaError,
    SnapshotError,
    UnknownComponentError,
)

__all__ = [
    "AccessError",
    "CommandError",
    "Component",
    "DeadEntityError",
    "EcsError",
    "LayoutError",
    "MissingComponentError",
    "MissingResourceError",
    "SchemaError",
    "SnapshotError",
    "UnknownComponentError",
]
