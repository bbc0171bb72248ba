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


TEMP_PLUGIN = '''
from gpi import Plugin

plugin = Plugin("temp")
plugin.component("Counter", "int64")


@plugin.system(writes=["Counter"])
def bump(ctx):
    print("bump at tick", ctx.tick)
    for chunk in ctx.query("Counter"):
        ctx.commands.set_chunk(chunk, "Counter", chunk["Counter"] + {step})
'''


def write_temp(folder: Path, step: int, version: str = "1.0.0") -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "plugin.toml").write_text(f'[plugin]\nname = "temp"\nversion = "{version}"\nabi = 1\nentry = "main"\n')
    (folder / "main.py").write_text(TEMP_PLUGIN.format(step=step))
    return folder


def counter(world: World) -> int:
    return int(np.concatenate([c["Counter"] for c in world.query("Counter")]).sum())


@pytest.mark.parametrize("isolation", ["process", "none"])
def test_reload_swaps_code_and_keeps_the_world(tmp_path: Path, isolation: str) -> None:
    folder = write_temp(tmp_path / "temp", 1)
    with World() as world, PluginHost(world, isolation=isolation) as host:
        host.load(folder)
        world.spawn(3, {"Counter": np.zeros(3, np.int64)})
        host.run(2)
        assert counter(world) == 6
        write_temp(folder, 10, "1.1.0")
        if isolation == "none":
            import sys

            sys.modules.pop("gpi_plugin_temp", None)
        assert host.reload("temp")
        assert host.plugins["temp"].manifest.version == "1.1.0"
        host.run(1)
        assert counter(world) == 36
        (folder / "main.py").write_text("raise SyntaxError('half-saved file')\n")
        assert not host.reload("temp")
        assert host.faults[-1]["kind"] == "reload_failed"
        host.run(1)
        assert counter(world) == 66  # the old code still runs


def test_child_output_reaches_the_host_log(tmp_path: Path) -> None:
    folder = write_temp(tmp_path / "temp", 1)
    with World() as world, PluginHost(world) as host:
        host.load(folder)
        host.run(3)
        import time

        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and ("temp/stdout", "info", "bump at tick 2") not in host.logs:
            time.sleep(0.02)
            host.drain_output()
        assert ("temp/stdout", "info", "bump at tick 0") in host.logs


def test_signature_policy_refuses_unsigned_plugins(tmp_path: Path) -> None:
    from gpi.plugins.errors import SignatureError
    from gpi.plugins.signing import Keyring

    folder = write_temp(tmp_path / "temp", 1)
    with World() as world, PluginHost(world, signature_policy="require", keyring=Keyring()) as host:
        with pytest.raises(SignatureError, match="unsigned"):
            host.load(folder)
        assert not host.plugins
    with World() as world, PluginHost(world, signature_policy="allow", keyring=Keyring()) as host:
        assert host.load(folder) == ["temp"]


@pytest.mark.parametrize("isolation", ["process", "none"])
def test_draw_systems_fill_their_draw_list(isolation: str) -> None:
    from gpi.draw import read_header

    with World(seed=4) as world, PluginHost(world, isolation=isolation, sandbox=False) as host:
        host.load(EX / "movement", EX / "boids")
        n = 50
        world.spawn(n, {"Position": np.full((n, 2), 50, np.float32), "Velocity": np.ones((n, 2), np.float32)})
        host.run(2)
        seg = host.drawlist("boids")
        assert seg is not None and host.drawlist("movement") is None
        header = read_header(seg.array_view())
        assert header.vertex_count == 6 * n  # one quad (two triangles) per boid, cleared each tick
