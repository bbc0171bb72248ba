"""Shared components for the ECS tests (a uniquely named module, unlike conftest)."""

from __future__ import annotations

from gpi.ecs import Component

POSITION = Component("Position", "float32", (2,))
VELOCITY = Component("Velocity", "float32", (2,))
HEALTH = Component("Health", "int32")
TINT = Component("Tint", "uint8", (4,))
ALL = (POSITION, VELOCITY, HEALTH, TINT)
