"""The one scene module: arena frame, entities (tinted, with motion, within the vertex budget), players."""

from __future__ import annotations

import numpy as np
import pytest

from gpi.ecs import Component, World
from gpi.runtime.scene import ARENA, arena_camera, draw_scene, scene_drawlist

QUAD = 6  # vertices per quad


@pytest.fixture
def world():
    w = World(seed=1)
    w.register(Component("Position", "float32", (2,)), Component("Velocity", "float32", (2,)),
               Component("Tint", "uint8", (4,)), Component("Player", "uint8"))
    rng = np.random.default_rng(3)
    w.spawn(50, {"Position": rng.uniform(0, ARENA, (50, 2)).astype(np.float32),
                 "Velocity": np.ones((50, 2), np.float32)})
    w.spawn(20, {"Position": rng.uniform(0, ARENA, (20, 2)).astype(np.float32),
                 "Tint": np.full((20, 4), 200, np.uint8)})
    w.spawn(1, {"Position": np.array([[50, 50]], np.float32), "Player": np.ones(1, np.uint8)})
    yield w
    w.close()


def _frame_vertices() -> int:
    with World(seed=0) as empty:
        dl = scene_drawlist(4096)
        draw_scene(empty, dl)
        return dl.vertex_count


def test_every_entity_and_the_player_are_drawn(world):
    frame = _frame_vertices()
    assert frame > 0  # the arena outline alone
    dl = scene_drawlist()
    draw_scene(world, dl, dt=1 / 60)
    assert dl.vertex_count == frame + QUAD * (50 + 20 + 1)
    assert dl.motion_offset > 0  # moving entities carry their displacement: the renderer interpolates
    layers = {b[0] for b in dl.batches}
    assert {-10, 0, 5} <= layers  # frame below, entities, the player on top
    draw_scene(world, dl, entities=False)  # a plugin draws the entities: frame and player only
    assert dl.vertex_count == frame + QUAD


def test_entities_past_the_vertex_budget_are_left_out(world):
    frame = _frame_vertices()
    small = scene_drawlist(QUAD * (64 + 30))  # room for 30 entity quads beside the reserve
    draw_scene(world, small, dt=1 / 60)
    assert small.vertex_count == frame + QUAD * (30 + 1)  # 30 entities and the player, no overflow


def test_camera_fits_the_arena_beside_a_panel():
    cam = arena_camera((1000, 500))
    assert cam.center == (ARENA / 2, ARENA / 2) and cam.zoom == pytest.approx(500 / (ARENA * 1.08))
    beside = arena_camera((1000, 500), left=600)
    assert beside.zoom == pytest.approx(400 / (ARENA * 1.08))
    x0, _ = beside.world_to_screen(0.0, ARENA / 2)
    assert x0 >= 600 - 1  # the arena starts right of the panel
    assert arena_camera((100, 100), center=(1, 2), zoom=3).center == (1.0, 2.0)
