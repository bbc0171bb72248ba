"""Fixtures for the ECS tests: a small world with the usual components."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gpi.ecs import Component, World

POSITION = Component("Position", "float32", (2,))
VELOCITY = Component("Velocity", "float32", (2,))
HEALTH = Component("Health", "int32")
TINT = Component("Tint", "uint8", (4,))
ALL = (POSITION, VELOCITY, HEALTH, TINT)


@pytest.fixture
def world() -> Iterator[World]:
    w = World(seed=1)
    w.register(*ALL)
    yield w
    w.close()
