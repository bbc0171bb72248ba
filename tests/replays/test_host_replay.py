"""Replays of the real plugin host: record, verify, seek, faults, nondeterminism, SIGKILL.

The example simulation (spawner, movement, boids, player) runs with a small
population so 1,000 ticks stay fast; the player's keys change every 50 ticks
so the input stream is not idle.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gpi.ecs import World
from gpi.plugins.host import PluginHost
from gpi.replays import (
    InputState,
    Player,
    PluginMismatchError,
    Replay,
    apply_input,
    seek,
    verify,
)
from gpi.runtime.replay.recording import HostRecorder
from gpi.runtime.replay.simulation import HostSimulator, find_plugin_dirs

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "plugins"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
DEMO = [EXAMPLES / n for n in ("spawner", "movement", "boids", "player")]


def keys_at(t: int) -> InputState:
    """A busy input stream: the held key changes every 50 ticks, the mouse every 7."""
    keys = (["right"], ["up"], ["left", "down"], [])[(t // 50) % 4]
    return InputState(keys=keys, mouse=(float(t // 7), 3.0))


def _still() -> float:
    """A recorder clock that never moves: blocks end by tick count only, never because the host fell behind."""
    return 0.0


def record(path: Path, dirs: list[Path], ticks: int, *, isolation: str = "none", population: int = 40,
           seed: int = 11, **kwargs: object) -> None:
    """Run the host for ``ticks`` ticks and record it to ``path`` (block boundaries set by ticks alone)."""
    kwargs.setdefault("clock", _still)
    with World(seed=seed) as world, PluginHost(world, isolation=isolation) as host:
        host.load(*dirs)
        world.insert_resource("population", population)
        with HostRecorder(host, path, **kwargs) as rec:  # type: ignore[arg-type]
            for t in range(ticks):
                inp = keys_at(t)
                host.tick(inp.to_dict())
                rec.after_tick(inp)


@pytest.fixture(scope="module")
def demo_replay(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("host_replay") / "demo.gpir"
    record(path, DEMO, 1000, keyframe_interval=120)
    return path


def test_round_trip_none_1000_ticks(demo_replay: Path) -> None:
    with Replay.open(demo_replay) as rp, HostSimulator(rp.header, isolation="none") as sim:
        assert rp.tick_count == 1000 and rp.complete
        assert [p["name"] for p in rp.header.plugins] == ["movement", "boids", "player", "spawner"]
        res = verify(rp, sim)
        assert res.ok, res.message
        assert res.ticks_checked == 1000


@pytest.mark.subprocess
@pytest.mark.slow
def test_round_trip_process_1000_ticks_matches_none(demo_replay: Path, tmp_path: Path) -> None:
    path = tmp_path / "proc.gpir"
    record(path, DEMO, 1000, isolation="process", keyframe_interval=120)
    with Replay.open(path) as rp, Replay.open(demo_replay) as ref:
        assert rp.header.meta["isolation"] == "process"
        # same seed and inputs: every block's checksum chain equals the in-process run's
        assert [(b.last_tick, b.chain) for b in rp.blocks] == [(b.last_tick, b.chain) for b in ref.blocks]
        with HostSimulator(rp.header) as sim:
            assert sim.isolation == "process"
            res = verify(rp, sim)
        assert res.ok, res.message
        assert res.ticks_checked == 1000


def test_seek_equals_running(demo_replay: Path) -> None:
    with Replay.open(demo_replay) as rp, HostSimulator(rp.header, isolation="none") as sim:
        target = 437
        sim.reset_to(rp.header.initial_snapshot)
        state = InputState()
        for rec in rp.iter_ticks(0, target + 1):
            state = apply_input(state, rec.input)
            sim.step(state, rec)
        ran_to = sim.checksum()
        ran_world = sim.snapshot()
        assert seek(rp, sim, target) == state
        assert sim.checksum() == ran_to
        assert sim.world_diff(ran_world) == []
        # the keyframe at 360 was used: a keyframe tick's stored checksum agrees too
        assert 360 in rp.keyframe_ticks
        seek(rp, sim, 360)
        assert sim.checksum() == rp.record(360).checksum
        # step back through the Player re-simulates to the same state
        player = Player(rp, sim)
        player.seek(target + 1)
        player.step_back()
        assert player.tick == target and sim.checksum() == ran_to
        assert player.divergence is None


def test_nondeterministic_plugin_is_named(tmp_path: Path) -> None:
    path = tmp_path / "jitter.gpir"
    record(path, [EXAMPLES / "movement", FIXTURES / "jitter"], 90)
    with Replay.open(path) as rp, HostSimulator(rp.header, isolation="none") as sim:
        res = verify(rp, sim)
    assert not res.ok
    assert res.first_divergent_tick == 37 and res.exact
    assert "nondeterministic" in res.message
    assert res.details, res.details_source
    assert {d.component for d in res.details} == {"Wobble"}
    assert all(d.systems == ("jitter.wobble",) for d in res.details)
    assert all(d.expected != d.actual for d in res.details)


def test_recorded_fault_is_replayed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "flaky.gpir"
    monkeypatch.setenv("GPI_TEST_FLAKY_TICK", "12")
    record(path, [FIXTURES / "flaky"], 30)
    monkeypatch.delenv("GPI_TEST_FLAKY_TICK")
    with Replay.open(path) as rp:
        faults = {r.tick: r.faults for r in rp.iter_ticks() if r.faults}
        assert list(faults) == [12]
        (f,) = faults[12]
        assert (f["kind"], f["plugin"], f["system"], f["skip"]) == ("skipped", "flaky", "count", True)
        assert f["host_kind"] == "exception" and "on purpose" in f["error"]
        with HostSimulator(rp.header, isolation="none") as sim:
            assert sim.skipped_systems(rp.record(12)) == {"flaky.count"}
            res = verify(rp, sim)
        assert res.ok, res.message


def test_changed_plugin_is_refused_unless_forced(tmp_path: Path) -> None:
    plug = tmp_path / "plugins" / "movement"
    shutil.copytree(EXAMPLES / "movement", plug)
    path = tmp_path / "moved.gpir"
    record(path, [plug], 5)
    (plug / "main.py").write_text((plug / "main.py").read_text() + "\n# edited\n")
    with Replay.open(path) as rp:
        recorded = rp.header.plugins[0]["content_hash"]
        with pytest.raises(PluginMismatchError) as err:
            HostSimulator(rp.header, isolation="none")
        msg = str(err.value)
        assert "'movement'" in msg and recorded in msg and "force" in msg
        _, loaded = find_plugin_dirs(rp.header, force=True)
        assert loaded[0]["content_hash"] != recorded and loaded[0]["content_hash"] in msg
        with HostSimulator(rp.header, isolation="none", force=True) as sim:
            assert verify(rp, sim).ok  # a comment changes the hash, not the simulation
        # a plugin that cannot be found names where it looked
        shutil.rmtree(plug)
        with pytest.raises(PluginMismatchError, match="cannot find plugin"):
            HostSimulator(rp.header, isolation="none", search=[tmp_path / "nowhere"])


_KILLED_SCRIPT = """
import sys
from gpi.ecs import World
from gpi.plugins.host import PluginHost
from gpi.runtime.replay.recording import HostRecorder
dirs, path = sys.argv[1].split(","), sys.argv[2]
with World(seed=5) as world, PluginHost(world, isolation="none") as host:
    host.load(*dirs)
    world.insert_resource("population", 30)
    rec = HostRecorder(host, path, block_max_ticks=10, flush_interval_s=60.0, keyframe_interval=40)
    t = 0
    while True:
        host.tick({"keys": ["up"] if t % 30 < 15 else []})
        rec.after_tick({"keys": ["up"] if t % 30 < 15 else []})
        t += 1
        if t == 95:
            print("ready", flush=True)
"""


@pytest.mark.subprocess
def test_sigkilled_recording_replays_to_last_block(tmp_path: Path) -> None:
    path = tmp_path / "killed.gpir"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED_SCRIPT, ",".join(str(d) for d in DEMO[:2]), str(path)],
        stdout=subprocess.PIPE, env=env, cwd=tmp_path,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    with Replay.open(path) as rp:
        assert not rp.complete
        assert rp.tick_count >= 90 and rp.tick_count % 10 == 0  # whole blocks only
        with HostSimulator(rp.header, isolation="none") as sim:
            res = verify(rp, sim)
        assert res.ok, res.message
        assert res.ticks_checked == rp.tick_count
