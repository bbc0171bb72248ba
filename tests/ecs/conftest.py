"""Fixtures for the ECS tests: a small world with the usual components."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from ecs_fixtures import ALL

from gpi.ecs import World


@pytest.fixture
def world() -> Iterator[World]:
    w = World(seed=1)
    w.register(*ALL)
    yield w
    w.close()
