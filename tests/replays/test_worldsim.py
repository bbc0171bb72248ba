"""verify on a real gpi.ecs World through WorldSimulator: names tick, component, entity, system."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from gpi.ecs import Component, World
from gpi.replays import InputState, Recorder, Replay, ReplayHeader, TickRecord, seek, verify
from gpi.replays.worldsim import WorldSimulator, world_differences

POS = Component("Position", "float32", (2,))
VEL = Component("Velocity", "float32", (2,))
HP = Component("Health", "int32")
_noise = itertools.count(1)


def movement(bad_tick: int | None = None):  # type: ignore[no-untyped-def]
    """The 'schedule': push with the arrow keys, integrate, and a bug at bad_tick."""

    def step(world: World, inp: InputState, rec: TickRecord) -> None:
        push = np.float32((1 if inp.held("right") else 0) - (1 if inp.held("left") else 0))
        for ch in world.query("Position", "Velocity", writable=True):
            ch["Velocity"][:, 0] += push
            ch["Position"][:] += ch["Velocity"] * np.float32(1 / 60)
        if rec.tick == bad_tick:  # nondeterministic: differs on every run
            (ch,) = world.query("Position", "Velocity", writable=True)
            ch["Position"][3, 1] += np.float32(next(_noise))
        world.insert_resource("tick", rec.tick)

    return step


def writers(component: str) -> list[str]:
    return {"Position": ["demo.move"], "Velocity": ["demo.push"]}.get(component, [])


@pytest.fixture()
def world() -> Iterator[World]:
    w = World(seed=3)
    w.register(POS, VEL, HP)
    rng = np.random.default_rng(0)
    w.spawn(8, {"Position": rng.random((8, 2)), "Velocity": rng.random((8, 2)), "Health": 10})
    w.spawn(2, {"Health": 5})
    yield w
    w.close()


def _inputs(t: int) -> InputState:
    return InputState(keys={"right"} if t % 11 < 3 else set())


def test_world_replay_verify_and_seek(world: World, tmp_path: Path) -> None:
    path = tmp_path / "world.gpir"
    header = ReplayHeader(
        seed=world.seed,
        schema=[c.to_dict() for c in (POS, VEL, HP)],
        initial_snapshot=world.snapshot(),
    )
    sim = WorldSimulator(world, movement(), writers=writers)
    sums = []
    with Recorder(path, header, keyframe_interval=25) as rec:
        for t in range(120):
            r = TickRecord(t)
            c = sim.step(_inputs(t), r)
            sums.append(c)
            rec.record_tick(
                t, _inputs(t), c, keyframe=world.snapshot() if rec.keyframe_due(t) else None
            )
    with Replay.open(path) as rp:
        assert verify(rp, WorldSimulator(world, movement(), writers=writers)).ok
        seek(rp, sim, 77)
        assert world.checksum() == sums[77]
        res = verify(rp, WorldSimulator(world, movement(bad_tick=64), writers=writers))
    assert not res.ok and res.exact and res.first_divergent_tick == 64
    hit = [d for d in res.details if d.component == "Position"]
    assert len(hit) == 1 and hit[0].systems == ("demo.move",)
    assert hit[0].expected != hit[0].actual


def test_world_differences_reports_entities_components_resources(world: World) -> None:
    other = World.from_snapshot(world.snapshot())
    try:
        assert world_differences(world, other) == []
        ids = world.query("Health", without=("Position",))[0].entities.copy()
        world.set(int(ids[0]), "Health", 99)
        world.despawn(ids[1:2])
        world.insert_resource("mode", "fast")
        diffs = world_differences(world, other)
        kinds = {(d[0], d[2], d[3]) for d in diffs}
        assert ("Health", 99, 5) in kinds
        assert ("Health", "absent", "present") in kinds
        assert ("resource:mode", "fast", "absent") in kinds
    finally:
        other.close()
