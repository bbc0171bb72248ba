"""WorldView.update reuses unchanged views; layout deltas carry row-count changes only."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpi.ecs import LayoutError, World, WorldView, attach_segments, missing_segment_ids
from gpi.ecs.view import layout_delta
from gpi.shm import Segment


class Mirror:
    """A view in this process kept in step with ``world`` the way a child is."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.segs: dict[int, Segment] = {}
        self.layout: dict[str, Any] | None = None
        self.view = WorldView()
        self.full = self.deltas = 0

    def sync(self, use_delta: bool = True) -> None:
        layout = self.world.layout()
        delta = layout_delta(self.layout, layout) if use_delta else None
        if delta is not None:
            self.view.apply_delta(delta)
            self.deltas += 1
        else:
            new = missing_segment_ids(layout, self.segs)
            fds = [os.dup(self.world.segments()[sid].fd) for sid in new]
            self.segs = attach_segments(layout, new, fds, self.segs)
            self.view.update(layout, self.segs)
            self.full += 1
        self.layout = layout

    def close(self) -> None:
        self.view.close()
        for s in self.segs.values():
            s.close()


def state(w: Any) -> list[Any]:
    """Everything a system can see through queries, in order."""
    out: list[Any] = [w.entity_count, w.epoch]
    for names in (("Position",), ("Health",), ("Position", "Velocity")):
        for c in w.query(*names):
            out.append((c.table_id, c.version, c.entities.tolist(), [c[n].tolist() for n in names]))
    return out


def test_row_changes_travel_as_deltas_and_views_are_reused(world: World) -> None:
    ids = world.spawn(10, {"Position": 1, "Velocity": 2})
    m = Mirror(world)
    try:
        m.sync()
        table = m.view.tables[0]
        col = table.columns["Position"]
        world.despawn(ids[:3])
        world.spawn(2, {"Position": 5, "Velocity": 6})
        delta = layout_delta(m.layout, world.layout())
        assert delta is not None and delta["base"] == m.layout["epoch"] and delta["epoch"] == world.epoch  # type: ignore[index]
        assert [row[0] for row in delta["tables"]] == [0]
        m.sync()
        assert m.deltas == 1 and m.view.epoch == world.epoch
        assert state(m.view) == state(world)
        assert m.view.tables[0] is table and table.columns["Position"] is col  # no new numpy views
        assert not m.view.is_alive(ids[0]) and m.view.is_alive(ids[5])
        # a new table or component needs the full layout
        world.spawn(1, {"Health": 4})
        assert layout_delta(m.layout, world.layout()) is None
        m.sync()
        assert m.full == 2 and state(m.view) == state(world)
        assert m.view.tables[0] is table  # the untouched table's views survive a full update too
    finally:
        m.close()


def test_growth_into_a_new_segment_needs_a_full_layout(world: World) -> None:
    world.spawn(10, {"Position": 1})
    m = Mirror(world)
    try:
        m.sync()
        old = m.view.tables[0]
        world.spawn(5000, {"Position": 2})  # the table and the entity index move to bigger segments
        assert layout_delta(m.layout, world.layout()) is None
        m.sync()
        assert m.view.tables[0] is not old
        assert state(m.view) == state(world)
    finally:
        m.close()


def test_a_delta_that_does_not_fit_is_refused_and_changes_nothing(world: World) -> None:
    world.spawn(10, {"Position": 1})
    m = Mirror(world)
    try:
        m.sync()
        before = state(m.view)
        base = m.view.epoch
        bad = [
            {"base": base + 5, "epoch": base + 6, "entities": [10, 10], "tables": []},  # wrong base
            {"base": base, "epoch": base + 1, "entities": [10, 10], "tables": [[7, 1, 1]]},  # no table 7
            {"base": base, "epoch": base + 1, "entities": [10, 10], "tables": [[0, 1 << 30, 1]]},  # rows
            {"base": base, "epoch": base + 1, "entities": [1 << 30, 0], "tables": []},  # index capacity
            {"base": base, "epoch": base + 1, "entities": [10, 10], "tables": [[0, 2, 1], [0, 1 << 30, 1]]},
            {"base": base, "tables": []},  # malformed
        ]
        for d in bad:
            with pytest.raises(LayoutError):
                m.view.apply_delta(d)
            assert state(m.view) == before
        with pytest.raises(LayoutError, match="full layout"):
            WorldView().apply_delta({"base": 0, "epoch": 1, "entities": [0, 0], "tables": []})
    finally:
        m.close()


def test_no_delta_across_schema_or_format_changes(world: World) -> None:
    world.spawn(3, {"Position": 1})
    a = world.layout()
    assert layout_delta(None, a) is None
    assert layout_delta({**a, "v": 99}, a) is None
    assert layout_delta(a, a) == {"base": a["epoch"], "epoch": a["epoch"], "entities": [3, 3], "tables": []}
    b = {**a, "tables": [{**a["tables"][0], "capacity": a["tables"][0]["capacity"] * 2}]}
    assert layout_delta(a, b) is None
    c = {**a, "entities": {**a["entities"], "capacity": 1}}
    assert layout_delta(a, c) is None


OPS = st.lists(
    st.tuples(st.sampled_from(["spawn_pv", "spawn_p", "spawn_h", "despawn", "move"]), st.integers(1, 40)),
    min_size=1, max_size=25,
)


@settings(max_examples=25, deadline=None)
@given(ops=OPS)
def test_delta_mirror_matches_full_rebuild_mirror(ops: list[tuple[str, int]]) -> None:
    """Model: a view kept by deltas equals one rebuilt from full layouts, and the world, after every step."""
    from ecs_fixtures import ALL

    with World(seed=2) as world:
        world.register(*ALL)
        fast, slow = Mirror(world), Mirror(world)
        rng = np.random.default_rng(len(ops))
        try:
            for op, n in ops:
                alive = [int(e) for c in world.query("Position") for e in c.entities]
                if op == "spawn_pv":
                    world.spawn(n, {"Position": rng.random((n, 2)), "Velocity": 1})
                elif op == "spawn_p":
                    world.spawn(n, {"Position": rng.random((n, 2))})
                elif op == "spawn_h":
                    world.spawn(n, {"Health": n})
                elif op == "despawn" and alive:
                    world.despawn(rng.choice(alive, min(n, len(alive)), replace=False))
                elif op == "move":
                    for c in world.query("Position", writable=True):
                        c["Position"] += 1
                fast.sync()
                slow.sync(use_delta=False)
                assert state(fast.view) == state(slow.view) == state(world)
                assert fast.view.checksum() == world.checksum()
        finally:
            fast.close()
            slow.close()
