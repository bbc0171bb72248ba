"""Spawn budgets: a plugin past its per-call or per-tick budget gets the rejection, its neighbours nothing."""

from __future__ import annotations

import textwrap
from pathlib import Path

from gpi.ecs import World
from gpi.plugins.host import PluginHost

HERE = Path(__file__).resolve().parent


def _plugin(root: Path) -> Path:
    d = root / "greedy"
    d.mkdir()
    (d / "plugin.toml").write_text(textwrap.dedent("""
        [plugin]
        name = "greedy"
        version = "1.0.0"
        abi = 1
        entry = "main"
        capabilities = ["spawn"]

        [sandbox]
        spawn_per_call = 10
        spawn_per_tick = 15
    """))
    (d / "main.py").write_text(textwrap.dedent("""
        from gpi import Plugin

        plugin = Plugin()
        plugin.component("Coin", "int32")


        @plugin.system(stage="update", writes=["Coin"], spawns=True)
        def first(ctx):
            ctx.commands.spawn(10, {"Coin": 1})


        @plugin.system(stage="post_update", writes=["Coin"], spawns=True, after=["first"])
        def second(ctx):
            ctx.commands.spawn(10, {"Coin": 2})


        @plugin.system(stage="render", writes=["Coin"], spawns=True)
        def third(ctx):
            ctx.commands.spawn(11, {"Coin": 3})
    """))
    return d


def test_per_call_and_per_tick_spawn_budgets(tmp_path: Path) -> None:
    with World(seed=1) as world, PluginHost(world, isolation="none", sandbox=False) as host:
        host.load(HERE / "plugins" / "benign", _plugin(tmp_path))
        for _ in range(3):
            rep = host.tick()
            assert "greedy.first" in rep.ran and "greedy.first" not in rep.rejected, rep
            assert "greedy.second" in rep.rejected, rep  # 10 + 10 > 15 per tick
            assert "greedy.third" in rep.rejected, rep  # 11 > 10 per call
            assert {"benign.populate", "benign.move"} <= set(rep.ran) and not any(k.startswith("benign") for k in rep.rejected)
        faults = [f for f in host.faults if f["plugin"] == "greedy"]
        assert len(faults) == 6 and all(f["kind"] == "rejected" for f in faults), faults
        assert any("per tick" in str(f["error"]) for f in faults) and any("one call" in str(f["error"]) for f in faults)
        assert not [f for f in host.faults if f["plugin"] == "benign"]


def test_total_entity_budget(tmp_path: Path) -> None:
    """Spawns that would take the world past ``max_entities`` are refused; the world stops at the budget."""
    d = _plugin(tmp_path)
    toml = (d / "plugin.toml").read_text().replace("spawn_per_call = 10\nspawn_per_tick = 15",
                                                   "spawn_per_call = 100\nspawn_per_tick = 100\nmax_entities = 45")
    (d / "plugin.toml").write_text(toml)
    with World(seed=1) as world, PluginHost(world, isolation="none", sandbox=False) as host:
        host.load(d)
        seen = []
        for _ in range(3):
            rep = host.tick()
            seen.append((world.entity_count, sorted(k for k in rep.rejected if k.startswith("greedy"))))
        # tick 1: 10 + 10 + 11 = 31; tick 2: 41, then 10 more would make 51 > 45; tick 3: nothing fits
        assert seen == [(31, []), (41, ["greedy.second", "greedy.third"]),
                        (41, ["greedy.first", "greedy.second", "greedy.third"])]
        assert all("max_entities" in str(f["error"]) for f in host.faults if f["plugin"] == "greedy")
