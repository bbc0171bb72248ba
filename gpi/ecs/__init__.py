"""The ECS world: components, archetype tables in shared memory, queries, commands.

- :class:`World` (host): spawn/despawn/add/remove, queries, resources, events,
  layout for children, command-buffer validation and application, checksum,
  snapshots.
- :class:`WorldView` (child): the same read API over read-only mappings.
- :class:`CommandBuffer` and :class:`Access`: what systems send back.
"""

from gpi.ecs.commands import Access, CommandBuffer, decode_inline, encode_inline
from gpi.ecs.component import Component
from gpi.ecs.entities import id_generation, id_index, make_ids
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
from gpi.ecs.query import Chunk
from gpi.ecs.reader import WorldReader
from gpi.ecs.view import WorldView, attach_segments, layout_segment_ids, missing_segment_ids
from gpi.ecs.world import World

__all__ = [
    "Access",
    "AccessError",
    "Chunk",
    "CommandBuffer",
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
    "World",
    "WorldReader",
    "WorldView",
    "attach_segments",
    "decode_inline",
    "encode_inline",
    "id_generation",
    "id_index",
    "layout_segment_ids",
    "make_ids",
    "missing_segment_ids",
]
