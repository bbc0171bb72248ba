"""A child that stalls past its deadline is killed and restarted; the tick goes on."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from gpi.ecs import World
from gpi.plugins.faults import RestartPolicy
from gpi.plugins.host import PluginHost

pytestmark = pytest.mark.subprocess

FIX = Path(__file__).parent / "fixtures"
MOVEMENT = Path(__file__).resolve().parents[2] / "examples" / "plugins" / "movement"


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_stall_is_killed_and_recorded(tmp_path: Path) -> None:
    policy = RestartPolicy(base_ticks=1, max_faults=100)
    with World(seed=2) as world, PluginHost(world, sandbox=False, data_dir=tmp_path, timeout=0.3,
                                            restart_policy=policy) as host:
        host.load(MOVEMENT, FIX / "fault_flaky")
        world.spawn(4, {"Position": np.zeros((4, 2), np.float32), "Velocity": np.ones((4, 2), np.float32),
                        "Tally": np.zeros(4, np.int64)})
        world.insert_resource("fault_config", {"period": 5, "mode": "stall"})
        host.run(2)  # first calls done: the deadline is now the host's 0.3 s
        pids = []
        reports = []
        for _ in range(10):
            pids.append(host.plugins["fault_flaky"].pid)
            reports.append(host.tick())
        stalls = [r for r in reports if r.tick % 5 == 4]
        assert [r.tick for r in stalls] == [4, 9]
        for rep in stalls:
            assert rep.skipped == ["fault_flaky.bump"] and "movement.integrate" in rep.ran  # tick completed
            assert [f["kind"] for f in rep.faults] == ["timeout"]
            assert rep.faults[0]["exit"] == "killed by SIGKILL"
            assert rep.wall_ns < 30e9  # nowhere near the 60 s sleep: killed at its deadline
            pid = pids[rep.tick - 2]
            assert pid and not alive(pid)
        after = [r for r in reports if r.tick == 5][0]
        assert "fault_flaky.bump" in after.ran  # restarted before the next tick
        docs = [json.loads(p.read_text()) for p in sorted((tmp_path / "crashes").glob("*.json"))]
        assert [(d["tick"], d["kind"]) for d in docs] == [(4, "stalled"), (9, "stalled")]
        for d in docs:  # faulthandler's dump on SIGUSR1: where the child was stuck
            assert "in bump" in d["traceback"] and "main.py" in d["traceback"], d["traceback"]
        # the fault and a log line name the file and line it was stuck on (shown by gpi run as it happens)
        stuck = [f["stuck_at"] for f in host.faults if f["kind"] == "timeout"]
        assert len(stuck) == 2 and all("main.py:" in s and s.endswith("in bump") for s in stuck), stuck
        assert sum(1 for src, _lv, text in host.events.logs
                   if src == "fault_flaky/bump" and text.startswith("stalled at ") and "main.py:" in text) == 2
        assert host.plugins["fault_flaky"].status == "running"
        assert all(f["tick"] in (4, 9) for f in host.faults)
    assert os.path.isdir(tmp_path / "crashes")
