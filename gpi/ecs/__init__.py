"""The ECS world: components, archetype tables in shared memory, queries, commands.

- :class:`World` (host): spawn/despawn/add/remove, queries, resources, events,
  layout for children, command-buffer validation and application, checksum,
  snapshots.
- :class:`WorldView` (child): the same read API over read-only mappings.
- :class:`Storage`: the state both of them own (components, entities, tables,
  resources, events, segments, epoch); snapshots and the checksum read it.
- :class:`CommandBuffer` and :class:`Access`: what systems send back
  (:mod:`gpi.ecs.commands`: buffer, wire, validate, apply).
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
from gpi.ecs.storage import Storage
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
    "Storage",
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
