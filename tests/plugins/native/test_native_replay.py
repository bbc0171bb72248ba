"""Replays with a native plugin: record in a child, verify in-process and in children."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gpi.ecs import World
from gpi.plugins.host import PluginHost
from gpi.replays import InputState, Replay, verify
from gpi.runtime.replay.recording import HostRecorder
from gpi.runtime.replay.simulation import HostSimulator

pytestmark = pytest.mark.subprocess

ROOT = Path(__file__).resolve().parents[3]
MOVEMENT = ROOT / "examples" / "plugins" / "movement"
SPAWNER = ROOT / "examples" / "plugins" / "spawner"


def record(path: Path, dirs: list[Path], ticks: int, isolation: str) -> None:
    with World(seed=11) as world, PluginHost(world, isolation=isolation) as host:
        host.load(*dirs)
        world.insert_resource("population", 60)
        with HostRecorder(host, path, keyframe_interval=50) as rec:
            for _ in range(ticks):
                inp = InputState()
                host.tick(inp.to_dict())
                rec.after_tick(inp)


def test_record_and_verify_a_replay_with_native_plugins(native: dict[str, Path], example_native: dict[str, Path],
                                                        tmp_path: Path) -> None:
    dirs = [MOVEMENT, SPAWNER, example_native["boids_native"], native["nat_basic"]]
    path = tmp_path / "native.gpir"
    record(path, dirs, 150, "process")
    with Replay.open(path) as rp:
        names = {p["name"] for p in rp.header.plugins}
        assert {"boids_native", "nat_basic"} <= names
        for isolation in ("none", "process"):
            with HostSimulator(rp.header, isolation=isolation) as sim:
                res = verify(rp, sim)
                assert res.ok, res.message
                assert res.ticks_checked == 150

    # the CLI's default: every plugin (the C ones too) in sandboxed verify workers, two of them
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "gpi", "replay", "verify", str(path), "--no-progress",
                           "--isolation", "confined", "--jobs", "2"], capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
