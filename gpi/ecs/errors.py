"""Errors raised by the ECS world.

Every class derives from :class:`gpi.errors.GpiError` (through :class:`EcsError`)
and from the builtin that matches the failure, so callers may catch either.
Messages say what was wrong, where (component, entity, source) and what to do.
"""

from __future__ import annotations

from gpi.errors import GpiError

__all__ = [
    "AccessError",
    "CommandError",
    "DeadEntityError",
    "EcsError",
    "LayoutError",
    "MissingComponentError",
    "MissingResourceError",
    "SchemaError",
    "SnapshotError",
    "UnknownComponentError",
]


class EcsError(GpiError):
    """Base class of ECS errors."""


class SchemaError(EcsError, ValueError):
    """A component definition is invalid, or conflicts with a registered one."""


class UnknownComponentError(EcsError, KeyError):
    """A component name was used that the world has not registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class DeadEntityError(EcsError, LookupError):
    """An entity id is not alive (despawned, never spawned, or from another world)."""


class MissingComponentError(EcsError, KeyError):
    """A live entity does not have the component asked for."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class MissingResourceError(EcsError, KeyError):
    """A resource was read that has not been inserted."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class CommandError(EcsError, ValueError):
    """A command buffer is invalid; it was rejected whole and the world is untouched.

    ``errors`` lists every problem found (one line each); ``source`` names the
    system that produced the buffer; ``component``/``entity`` point at the first
    problem when known.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str = "",
        component: str | None = None,
        entity: int | None = None,
        errors: list[str] | None = None,
    ) -> None:
        super().__init__(message)
        self.source = source
        self.component = component
        self.entity = entity
        self.errors: list[str] = list(errors) if errors else [message]


class AccessError(CommandError, PermissionError):
    """A command buffer touched something its system did not declare."""


class LayoutError(EcsError, ValueError):
    """A layout message is malformed or does not match the segments given."""


class SnapshotError(EcsError, ValueError):
    """A snapshot is corrupt, truncated, or of an unknown format version."""
