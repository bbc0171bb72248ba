"""Application of a validated command buffer: the plan's operations, in order.

The plan comes from :func:`~gpi.ecs.commands.validate.validate_buffer`
(operations with coerced values, sorted by phase), so nothing here can fail
on a well-formed world. Structural operations go through the world's own
methods (which keep the entity index, tables and epoch consistent); a
whole-column write, a resource and an event go straight to the world's
:class:`~gpi.ecs.storage.Storage`, since validation already checked and
normalised them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gpi.ecs.world import World

__all__ = ["apply_buffer"]


def apply_buffer(world: World, plan: list[dict[str, Any]]) -> None:
    """Apply a validated plan (from :func:`validate_buffer`) in order."""
    state = world.storage
    for op in plan:
        kind = op["op"]
        if kind == "set":
            world.set_many(op["name"], op["ids"], op["values"])
        elif kind == "set_chunk":
            state.write_column(op["table"], op["name"], op["values"])
        elif kind == "add":
            world.add_component(op["ids"], op["name"], op["values"])
        elif kind == "remove":
            world.remove_component(op["ids"], op["name"])
        elif kind == "despawn":  # a relation's on_delete="despawn" may have taken some already
            world.despawn(op["ids"][world.alive_mask(op["ids"])] if state.relations else op["ids"])
        elif kind == "despawn_recursive":
            world.despawn_recursive(op["ids"], op["relation"])
        elif kind == "spawn":
            world.spawn(op["count"], op["values"])
        elif kind == "insert_resource":
            state.resources.put(op["name"], op["value"])
        elif kind == "remove_resource":
            state.resources.remove(op["name"])
        elif kind == "event":
            state.events.push(op["name"], op["payload"])
