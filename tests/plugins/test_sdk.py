"""SDK: declarations, collection from modules, context checks, deterministic rng."""

from __future__ import annotations

import os
import subprocess
import sys
import types

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gpi
from gpi.ecs import Component, World
from gpi.plugins.context import SystemContext
from gpi.plugins.errors import CapabilityError, PluginError
from gpi.plugins.rng import stable_hash, system_rng
from gpi.plugins.sdk import Plugin, SystemSpec, collect, component, required_capabilities, system


def test_front_door_exports_the_sdk() -> None:
    assert gpi.Plugin is Plugin and gpi.component is component and gpi.system is system
    assert gpi.SystemContext is SystemContext


def test_plugin_declares_components_and_systems() -> None:
    p = Plugin("demo")
    pos = p.component("Position", "float32", (2,))
    assert pos == Component("Position", "float32", (2,))
    p.component("Position", "float32", (2,))  # same schema twice is fine
    with pytest.raises(PluginError, match="different schemas"):
        p.component("Position", "float64", (2,))

    @p.system(stage="post_update", reads=["Position"], writes="Velocity", after=["x"], spawns=True)
    def tidy(ctx: SystemContext) -> None:
        pass

    spec = p.systems["tidy"]
    assert spec.stage == "post_update" and spec.writes == ("Velocity",) and spec.readable == {"Position", "Velocity"}
    assert spec.structural and required_capabilities(spec) == {"spawn"}
    assert SystemSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(PluginError, match="declared twice"):
        p.system(name="tidy")(lambda ctx: None)


def test_bad_declarations_are_clear() -> None:
    with pytest.raises(PluginError, match="stage 'physics' is unknown"):
        system(name="s", stage="physics")(lambda ctx: None)
    with pytest.raises(PluginError, match="reads must be a list of names"):
        system(name="s", reads=[3])(lambda ctx: None)


def test_collect_free_function_style() -> None:
    mod = types.ModuleType("m")
    mod.Position = component("Position", "float32", (2,))

    @system(reads=["Position"])
    def look(ctx: SystemContext) -> None:
        pass

    mod.look = look
    p = collect(mod, "free")
    assert p.name == "free" and list(p.components) == ["Position"] and list(p.systems) == ["look"]


def make_ctx(world: World, spec: SystemSpec, granted: tuple[str, ...] = ()) -> SystemContext:
    return SystemContext(world, spec, plugin="p", tick=3, dt=0.5, seed=11, granted=granted)


def test_context_checks_declared_access_and_capabilities() -> None:
    with World(seed=11) as world:
        world.register(Component("Position", "float32", (2,)), Component("Secret", "int32"))
        world.spawn(2, {"Position": np.zeros((2, 2), np.float32), "Secret": np.ones(2, np.int32)})
        spec = SystemSpec("s", reads=("Position",), resources=("score",), events=("hit",))
        ctx = make_ctx(world, spec)
        assert sum(len(c) for c in ctx.query("Position")) == 2
        with pytest.raises(CapabilityError, match="queried \\['Secret'\\]"):
            ctx.query("Secret")
        with pytest.raises(CapabilityError, match="capability 'input'"):
            _ = ctx.input
        with pytest.raises(CapabilityError, match="capability 'draw'"):
            _ = ctx.draw
        with pytest.raises(CapabilityError, match="did not declare spawns=True"):
            ctx.spawn(1, {})
        with pytest.raises(CapabilityError, match="resource 'other'"):
            ctx.resource("other")
        with pytest.raises(CapabilityError, match="capability 'resources'"):
            ctx.resource("score")
        ok = make_ctx(world, spec, ("resources", "events", "input"))
        assert ok.try_resource("score", 5) == 5 and ok.events("hit") == [] and ok.input == {}
        ok.send_event("hit", {"n": 1})
        assert len(ok.commands) == 1
        for i in range(150):
            ok.log("line", i)
        assert len(ok.logs) == 100 and ok.dropped_logs == 50


def test_context_rng_is_the_systems_stream() -> None:
    with World() as world:
        ctx = make_ctx(world, SystemSpec("s"))
        a = ctx.rng.random(4)
        b = system_rng(11, 3, "p", "s").random(4)
        np.testing.assert_array_equal(a, b)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**63), st.integers(0, 10**6), st.text(min_size=1, max_size=8), st.text(min_size=1, max_size=8))
def test_rng_streams_differ_by_every_key(seed: int, tick: int, plugin: str, sysname: str) -> None:
    base = system_rng(seed, tick, plugin, sysname).integers(0, 2**62, 4)
    np.testing.assert_array_equal(base, system_rng(seed, tick, plugin, sysname).integers(0, 2**62, 4))
    assert not np.array_equal(base, system_rng(seed, tick + 1, plugin, sysname).integers(0, 2**62, 4))
    assert not np.array_equal(base, system_rng(seed, tick, plugin + "x", sysname).integers(0, 2**62, 4))


def test_stable_hash_does_not_depend_on_the_process() -> None:
    code = "from gpi.plugins.rng import stable_hash, system_rng; print(stable_hash('boids'), system_rng(1, 2, 'a', 'b').integers(0, 1 << 60))"
    outs = set()
    for hashseed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hashseed}
        outs.add(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                check=True, cwd=os.path.dirname(os.path.dirname(gpi.__file__))).stdout)
    assert len(outs) == 1
    assert outs.pop().split()[0] == str(stable_hash("boids"))


def test_resources_events_and_input_are_copies() -> None:
    with World() as world:
        world.insert_resource("score", {"points": [1, 2]})
        world.send_event("hit", {"n": 1})
        spec = SystemSpec("s", resources=("score",), events=("hit",))
        inp = {"keys": ["left"]}
        ctx = SystemContext(world, spec, plugin="p", tick=0, dt=0.1, seed=0,
                            granted=("resources", "events", "input"), input_state=inp)
        ctx.resource("score")["points"].append(3)
        ctx.events("hit")[0]["n"] = 99
        ctx.input["keys"].append("right")
        assert world.resource("score") == {"points": [1, 2]}
        assert world.events("hit") == [{"n": 1}]
        assert inp == {"keys": ["left"]}
