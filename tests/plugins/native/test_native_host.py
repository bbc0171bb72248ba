"""Native plugins in the real host: run, validate, draw, determinism (in-process, child, serial, parallel)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gpi.draw import read_batches, read_header
from gpi.ecs import World
from gpi.plugins.host import PluginHost

pytestmark = pytest.mark.subprocess

ROOT = Path(__file__).resolve().parents[3]
MOVEMENT = ROOT / "examples" / "plugins" / "movement"
SPAWNER = ROOT / "examples" / "plugins" / "spawner"


def run_basic(native: dict[str, Path], isolation: str, ticks: int = 30, *, parallel: bool = True,
              wave: int | None = None, sandbox: bool = False, plugin: str = "nat_basic") -> tuple[list[int], World]:
    sums: list[int] = []
    world = World(seed=5)
    with PluginHost(world, isolation=isolation, parallel=parallel, max_wave_size=wave, sandbox=sandbox) as host:
        host.load(native[plugin])
        for _ in range(ticks):
            rep = host.tick()
            assert not (rep.errors or rep.rejected or rep.skipped), (rep, host.faults[:2], list(host.logs)[-5:])
            sums.append(world.checksum())
        logs = [text for _, _, text in host.logs]
        assert f"{plugin} counted entities" in " ".join(logs)
        if isolation == "process":  # the child wrote its draw list straight into the shared segment
            seg = host.drawlist(plugin)
            hdr = read_header(seg)
            assert hdr.vertex_count == 50 * 6
            assert [tuple(r)[:2] for r in read_batches(seg, hdr)] == [(2, 1)]  # layer 2, quads
    return sums, world


def test_native_plugin_runs_in_process_and_in_a_sandboxed_child_identically(native: dict[str, Path]) -> None:
    ref, w0 = run_basic(native, "none")
    got, w1 = run_basic(native, "process", sandbox=True)
    assert got == ref
    assert len(set(ref)) == len(ref)  # the world changes every tick
    for w in (w0, w1):
        assert w.entity_count == 50 and w.resource("nat_ticks") == 30
        (pos,) = [c["Position"] for c in w.query("Position", "Serial")]
        assert pos.dtype == np.float32 and np.isfinite(pos).all()
        w.close()


def test_serial_and_parallel_children_agree(native: dict[str, Path]) -> None:
    par, w0 = run_basic(native, "process", 20, parallel=True)
    ser, w1 = run_basic(native, "process", 20, parallel=False, wave=1)
    assert par == ser
    w0.close()
    w1.close()


def test_events_from_c_reach_a_python_system(native: dict[str, Path]) -> None:
    with World(seed=5) as world, PluginHost(world, isolation="process") as host:
        host.load(native["nat_basic"], Path(__file__).parent / "fixtures" / "nat_listener")
        host.run(3)
        assert world.resource("heard") == [{"n": 50, "sum": sum(range(50)) + 50}]


def test_an_undeclared_write_from_c_is_rejected_whole(native: dict[str, Path]) -> None:
    for isolation in ("none", "process"):
        with World(seed=1) as world, PluginHost(world, isolation=isolation) as host:
            host.load(native["nat_badwrite"])
            world.spawn(8, {"Position": np.ones((8, 2), np.float32), "Velocity": np.ones((8, 2), np.float32)})
            before = world.checksum()
            rep = host.tick()
            assert rep.rejected == ["nat_badwrite.sneak"], rep
            assert world.checksum() == before  # the declared Velocity write did not land either
            text = " ".join(t for _, _, t in host.logs)
            assert "Position" in text and "nat_badwrite" in text


def test_native_and_python_plugins_share_a_world(native: dict[str, Path], example_native: dict[str, Path]) -> None:
    """The demo stack with boids_native instead of boids: same results in a child and in-process."""
    out = []
    for isolation in ("none", "process"):
        with World(seed=42) as world, PluginHost(world, isolation=isolation, sandbox=isolation == "process") as host:
            host.load(MOVEMENT, SPAWNER, example_native["boids_native"])
            assert host.system_keys().index("boids_native.steer") < host.system_keys().index("movement.integrate")
            world.insert_resource("population", 200)
            world.insert_resource("target", 100)
            sums = []
            for _ in range(60):
                rep = host.tick()
                assert not (rep.errors or rep.rejected or rep.skipped), (rep, host.faults[:2])
                sums.append(world.checksum())
            vel = np.concatenate([c["Velocity"] for c in world.query("Velocity")])
            speed = np.hypot(vel[:, 0], vel[:, 1])
            assert world.entity_count == 200
            assert (speed >= 2.0 - 1e-3).all() and (speed <= 20.0 + 1e-3).all()  # boids' speed clamp
            out.append(sums)
    assert out[0] == out[1]
