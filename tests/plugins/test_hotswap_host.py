"""Hot-swap in the real host: a plugin edited mid-run swaps at a tick boundary; broken code keeps the old one."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from gpi.ecs import World
from gpi.plugins.host import PluginHost, TickReport

pytestmark = pytest.mark.subprocess

FIX = Path(__file__).parent / "fixtures"


def edit(path: Path, old: str, new: str) -> None:
    """Replace text in a plugin source atomically (what an editor's save does)."""
    text = path.read_text()
    assert old in text
    tmp = path.with_name(path.name + ".edit")
    tmp.write_text(text.replace(old, new))
    os.replace(tmp, path)


def value(world: World) -> int:
    return int(sum(int(c["Swapped"].sum()) for c in world.query("Swapped")))


def tick_until(host: PluginHost, world: World, values: list[int], pred, limit: int = 400) -> TickReport:
    for _ in range(limit):
        rep = host.tick()
        values.append(value(world))
        if pred(rep):
            return rep
        time.sleep(0.01)  # give the watcher thread its turn
    raise AssertionError("no swap happened")


def test_edit_swaps_at_tick_boundary_without_losing_a_tick(tmp_path: Path) -> None:
    plugin = tmp_path / "fault_swap"
    shutil.copytree(FIX / "fault_swap", plugin)
    with World(seed=1) as world, PluginHost(world, sandbox=False, data_dir=tmp_path) as host:
        host.load(plugin)
        world.spawn(1, {"Swapped": np.zeros(1, np.int64)})
        swapper = host.enable_hot_swap()
        values = [value(world)]
        for _ in range(3):
            host.tick()
            values.append(value(world))
        old_pid = host.plugins["fault_swap"].pid
        edit(plugin / "main.py", "STEP = 1\n", "STEP = 1000\n")
        rep = tick_until(host, world, values, lambda r: r.swaps)
        assert rep.swaps == ["fault_swap"] and "fault_swap.add" in rep.ran
        assert host.plugins["fault_swap"].pid != old_pid
        for _ in range(3):
            host.tick()
            values.append(value(world))
        steps = np.diff(values).tolist()
        # every tick ran exactly one version, start to end: old steps, then new steps, none missing
        k = steps.index(1000)
        assert steps == [1] * k + [1000] * (len(steps) - k)
        assert k == rep.tick  # the swap tick itself already ran the new code
        assert swapper.history[-1][1:] == ("fault_swap", True)
        assert not [f for f in host.faults if f["kind"] != "reload_failed"]


def test_broken_edit_keeps_old_code_running(tmp_path: Path) -> None:
    plugin = tmp_path / "fault_swap"
    shutil.copytree(FIX / "fault_swap", plugin)
    with World(seed=1) as world, PluginHost(world, sandbox=False, data_dir=tmp_path) as host:
        host.load(plugin)
        world.spawn(1, {"Swapped": np.zeros(1, np.int64)})
        swapper = host.enable_hot_swap()
        values = [value(world)]
        host.tick()
        values.append(value(world))
        edit(plugin / "main.py", "STEP = 1\n", "STEP = (1\n")  # a syntax error
        tick_until(host, world, values, lambda r: any(f["kind"] == "reload_failed" for f in r.faults))
        failed = [f for f in host.faults if f["kind"] == "reload_failed"]
        assert "old code keeps running" in failed[0]["error"] and "SyntaxError" in failed[0]["error"]
        host.run(3)
        values.append(value(world))
        assert values[-1] - values[-2] == 3  # still the old STEP = 1
        assert host.plugins["fault_swap"].status == "running"
        assert host.reload("fault_swap") is False  # by hand: same broken code, same refusal
        # a schema change is refused with a message naming the component, old code stays
        edit(plugin / "main.py", 'STEP = (1\n', "STEP = 7\n")
        edit(plugin / "main.py", 'plugin.component("Swapped", "int64")', 'plugin.component("Swapped", "float64")')
        assert host.reload("fault_swap") is False
        assert "Swapped" in host.faults[-1]["error"] and host.faults[-1]["kind"] == "reload_failed"
        before = value(world)
        host.tick()
        assert value(world) - before == 1
        assert any(not ok for _, _, ok in swapper.history)
        edit(plugin / "main.py", 'plugin.component("Swapped", "float64")', 'plugin.component("Swapped", "int64")')
        assert host.reload("fault_swap") is True  # by hand, between ticks
        before = value(world)
        rep = host.tick()
        assert rep.swaps == ["fault_swap"] and value(world) - before == 7  # recorded at the next tick


def test_reload_by_hand_revives_a_disabled_plugin(tmp_path: Path) -> None:
    from gpi.plugins.faults import RestartPolicy

    plugin = tmp_path / "fault_flaky"
    shutil.copytree(FIX / "fault_flaky", plugin)
    policy = RestartPolicy(max_faults=1)
    with World(seed=1) as world, PluginHost(world, sandbox=False, data_dir=tmp_path, restart_policy=policy) as host:
        host.load(plugin)
        world.spawn(2, {"Tally": np.zeros(2, np.int64)})
        world.insert_resource("fault_config", {"period": 2, "mode": "exit"})
        host.run(3)  # crash at tick 1: disabled at once
        assert host.plugins["fault_flaky"].status == "disabled"
        world.insert_resource("fault_config", {"period": 0, "mode": "none"})
        swapper = host.enable_hot_swap([])
        swapper.request("fault_flaky")  # the overlay's reload button
        rep = host.tick()
        assert rep.swaps == ["fault_flaky"] and "fault_flaky.bump" in rep.ran
        assert host.plugins["fault_flaky"].status == "running"
