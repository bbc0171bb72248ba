"""PluginHost: loading, schedule, dispatch, records, big arrays through the arena, lifetime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gpi.ecs import World
from gpi.plugins.host import RECORD_FIELDS, PluginHost

ROOT = Path(__file__).resolve().parents[2]
EX = ROOT / "examples" / "plugins"
FIX = Path(__file__).parent / "fixtures"

pytestmark = pytest.mark.subprocess


def positions(world: World) -> np.ndarray:
    return np.concatenate([c["Position"] for c in world.query("Position")]).copy()


def test_load_registers_components_and_builds_the_schedule() -> None:
    # movement is not requested: the resolver takes it from `available`
    with World() as world, PluginHost(world, sandbox=False) as host:
        names = host.load(EX / "boids", EX / "player", EX / "spawner", available=[EX / "movement"])
        assert names[0] == "movement"
        assert {"Position", "Velocity", "Age", "Tint", "Player"} <= set(world.components)
        order = host.system_keys()
        assert order.index("player.control") < order.index("boids.steer") < order.index("movement.integrate")
        assert host.schedule.stages["input"] == [["player.spawn_player"], ["player.control"]]
        for lp in host.plugins.values():
            assert lp.status == "running" and lp.pid and lp.pid > 0
            assert lp.summary()["name"] == lp.name


def test_movement_in_a_child_matches_numpy_and_uses_the_arena() -> None:
    n = 20_000  # 160 KB of positions: far above the inline threshold
    with World(seed=3) as world, PluginHost(world, sandbox=False) as host:
        host.load(EX / "movement")
        rng = np.random.default_rng(0)
        pos = rng.uniform(0, 100, (n, 2)).astype(np.float32)
        vel = rng.uniform(-5, 5, (n, 2)).astype(np.float32)
        world.spawn(n, {"Position": pos, "Velocity": vel})
        records: list[dict] = []
        host.on_call_record(records.append)
        for _ in range(3):
            host.tick()
            pos = pos + vel * np.float32(1 / 60)
            pos[pos >= 100] -= np.float32(100)
            pos[pos < 0] += np.float32(100)
        np.testing.assert_array_equal(positions(world), pos)
        assert [r["status"] for r in records] == ["ok"] * 3
        assert set(RECORD_FIELDS) <= set(records[0])
        assert records[0]["cmd_bytes"] >= n * 8 and records[0]["ops"] == 1
        assert records[0]["host_ns"] >= records[0]["child_ns"] > 0


def test_layout_follows_structural_changes() -> None:
    with World(seed=9) as world, PluginHost(world, sandbox=False) as host:
        host.load(EX / "movement", EX / "spawner")
        epochs = set()
        for i in range(8):
            world.insert_resource("population", 400 * (i + 1))  # tables grow, epochs change
            report = host.tick()
            assert not (report.errors or report.rejected or report.skipped), host.faults
            epochs.add(world.epoch)
        assert world.entity_count == 3200
        assert len(epochs) > 2
        ages = np.concatenate([c["Age"] for c in world.query("Age")])
        assert ages.max() < 600


def test_resources_and_events_reach_children() -> None:
    with World(seed=2) as world, PluginHost(world, sandbox=False) as host:
        host.load(FIX / "allinone")
        world.insert_resource("target", 30)
        host.run(4)
        assert world.entity_count >= 25
        # steer sent one event per tick with the steered count; count summed them into "bumps"
        assert world.resource("bumps") > 0


def test_unload_and_close_twice() -> None:
    world = World()
    host = PluginHost(world, sandbox=False)
    host.load(EX / "movement", FIX / "noop")
    pid = host.plugins["noop"].pid
    host.unload("noop")
    assert "noop.nothing" not in host.system_keys()
    host.tick()
    host.close()
    host.close()
    assert pid is not None
    with pytest.raises(ProcessLookupError):
        import os

        os.kill(pid, 0)
    world.close()


def test_sandboxed_children_report_their_layers() -> None:
    from gpi.plugins.host import sandbox_available

    if not sandbox_available():
        pytest.skip("gpi.plugins.sandbox is not importable")
    with World() as world, PluginHost(world) as host:
        assert host.sandbox
        host.load(EX / "movement")
        world.spawn(10, {"Position": np.zeros((10, 2), np.float32), "Velocity": np.ones((10, 2), np.float32)})
        report = host.sandbox and host.plugins["movement"].sandbox
        assert report and report["available"] and report["layers"]["seccomp"]["active"]
        assert host.tick().ran == ["movement.integrate"]


def test_isolation_must_be_known() -> None:
    with World() as world, pytest.raises(ValueError, match="isolation"):
        PluginHost(world, isolation="thread")
