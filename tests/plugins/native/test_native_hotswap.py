"""Hot-swap of a native plugin: a rebuilt library swaps in at a tick boundary, the world stays."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from gpi.ecs import World
from gpi.plugins.host import PluginHost

pytestmark = pytest.mark.subprocess


def positions(world: World) -> np.ndarray:
    return np.concatenate([c["Position"] for c in world.query("Position", "Serial")])


def test_a_rebuilt_library_swaps_in_and_keeps_the_world(native: dict[str, Path], tmp_path: Path) -> None:
    plugin = tmp_path / "nat_basic"
    shutil.copytree(native["nat_basic"], plugin)
    with World(seed=1) as world, PluginHost(world, sandbox=True, data_dir=tmp_path) as host:
        host.load(plugin)
        host.enable_hot_swap()
        host.run(3)
        old_pid = host.plugins["nat_basic"].pid
        step_before = positions(world).copy()
        host.tick()
        slow = np.abs(positions(world) - step_before).max()
        lib = plugin / "libnat_basic.so"  # a rebuild: the new library replaces the old file atomically
        tmp = lib.with_name(lib.name + ".new")
        shutil.copyfile(native["nat_basic_fast"] / "libnat_basic_fast.so", tmp)
        os.replace(tmp, lib)
        for _ in range(400):
            rep = host.tick()
            if rep.swaps:
                break
            time.sleep(0.01)  # give the watcher thread its turn
        else:
            raise AssertionError("no swap happened")
        assert rep.swaps == ["nat_basic"] and "nat_basic.move" in rep.ran
        assert host.plugins["nat_basic"].pid != old_pid
        assert world.entity_count == 50  # the world stayed: no second spawn, no loss
        before = positions(world).copy()
        rep = host.tick()
        assert not (rep.errors or rep.rejected or rep.skipped)
        fast = np.abs(positions(world) - before).max()
        assert fast > 100 * slow  # the new code runs
