"""Faults and swaps recorded from a real host re-simulate to the same checksums.

A child that dies mid-call (process isolation) has its system skipped that
tick (and maybe the next ones, while it restarts); the recording says so and
the simulator skips the same systems. A plugin reloaded between ticks is
recorded as a swap with both content hashes and reloaded by the simulator at
that tick.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gpi.ecs import World
from gpi.plugins.host import PluginHost
from gpi.replays import Replay, verify
from gpi.runtime.replay.recording import HostRecorder
from gpi.runtime.replay.simulation import HostSimulator

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "plugins"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.mark.subprocess
def test_child_crash_is_recorded_and_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "crash.gpir"
    monkeypatch.setenv("GPI_TEST_FLAKY_TICK", "8")
    monkeypatch.setenv("GPI_TEST_FLAKY_MODE", "exit")
    with World(seed=9) as world, PluginHost(world, isolation="process", sandbox=False) as host:
        host.load(EXAMPLES / "movement", FIXTURES / "flaky")
        with HostRecorder(host, path) as rec:
            for _ in range(40):
                host.tick({})
                rec.after_tick()
        assert any(f["kind"] == "crashed" and f["plugin"] == "flaky" for f in host.faults)
    monkeypatch.delenv("GPI_TEST_FLAKY_TICK")
    with Replay.open(path) as rp:
        skipped = {r.tick: [f for f in r.faults if f.get("skip")] for r in rp.iter_ticks()}
        first = min(t for t, fs in skipped.items() if fs)
        assert first == 8
        assert skipped[8][0]["kind"] == "crashed" and skipped[8][0]["system"] == "count"
        assert any(f["kind"] == "restarted" for r in rp.iter_ticks() for f in r.faults)
        with HostSimulator(rp.header, isolation="none") as sim:
            res = verify(rp, sim)
        assert res.ok, res.message


def test_reload_is_recorded_as_swap_and_replayed(tmp_path: Path) -> None:
    plug = tmp_path / "movement"
    shutil.copytree(EXAMPLES / "movement", plug)
    path = tmp_path / "swap.gpir"
    with World(seed=4) as world, PluginHost(world, isolation="none") as host:
        host.load(plug, FIXTURES / "flaky")
        with HostRecorder(host, path) as rec:
            for t in range(30):
                if t == 12:
                    (plug / "main.py").write_text((plug / "main.py").read_text() + "\n# v2\n")
                    assert host.reload("movement")
                host.tick({})
                rec.after_tick()
    with Replay.open(path) as rp:
        swaps = {r.tick: r.swaps for r in rp.iter_ticks() if r.swaps}
        assert list(swaps) == [12]
        (sw,) = swaps[12]
        recorded = next(p["content_hash"] for p in rp.header.plugins if p["name"] == "movement")
        assert sw["plugin"] == "movement" and sw["old"] == recorded and sw["new"] != recorded
        # the folder now holds the swapped-in code: only a forced replay runs it from tick 0
        with HostSimulator(rp.header, isolation="none", force=True) as sim:
            before = sim.host.plugins["movement"]
            res = verify(rp, sim)
            assert sim.host.plugins["movement"] is not before  # reloaded at the swap
        assert res.ok, res.message
