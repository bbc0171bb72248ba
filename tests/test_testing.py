"""gpi.testing: run one plugin system in-process on a small world."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from gpi.ecs import AccessError
from gpi.plugins.errors import PluginSystemError
from gpi.plugins.sdk import Plugin
from gpi.testing import make_world, run_system

ROOT = Path(__file__).resolve().parents[1]


def load(folder: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, folder / "main.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_run_system_applies_the_commands() -> None:
    movement = load(ROOT / "examples" / "plugins" / "movement", "t_movement")
    world = make_world(movement.plugin, {"Position": [[1.0, 2.0], [99.5, 0.0]], "Velocity": [[2.0, 0.0], [2.0, -2.0]]})
    cmds = run_system(movement.plugin, "integrate", world, dt=0.5)
    assert len(cmds) == 1
    pos = np.concatenate([c["Position"] for c in world.query("Position")])
    np.testing.assert_allclose(pos, [[2.0, 2.0], [0.5, 99.0]])
    world.close()


def test_run_system_without_apply_and_with_input() -> None:
    player = load(ROOT / "examples" / "plugins" / "player", "t_player")
    world = make_world(player.plugin)
    run_system(player.plugin, "spawn_player", world)
    assert world.entity_count == 1
    cmds = run_system(player.plugin, "control", world, input_state={"keys": ["right"]}, apply=False)
    assert len(cmds) == 1
    vel = np.concatenate([c["Velocity"] for c in world.query("Velocity")])
    assert (vel == 0).all()  # not applied
    run_system(player.plugin, "control", world, input_state={"keys": ["right"]})
    vel = np.concatenate([c["Velocity"] for c in world.query("Velocity")])
    np.testing.assert_allclose(vel, [[player.SPEED, 0.0]])
    world.close()


def test_errors_surface_as_in_the_host() -> None:
    p = Plugin("t")
    p.component("A", "int32")
    p.component("B", "int32")

    @p.system(reads=["A"], writes=["B"])
    def sneaky(ctx):
        for chunk in ctx.query("A"):
            ctx.commands.set_chunk(chunk, "A", chunk["A"] + 1)

    @p.system
    def broken(ctx):
        raise KeyError("nope")

    world = make_world(p, {"A": [1, 2], "B": [0, 0]})
    with pytest.raises(AccessError, match="wrote 'A'"):
        run_system(p, "sneaky", world)
    with pytest.raises(PluginSystemError, match="KeyError") as info:
        run_system(p, "broken", world)
    assert "raise KeyError" in info.value.traceback
    world.close()
