"""ctx.input: held, just pressed / released keys and buttons, mouse, text; same in every mode and after a seek."""

from __future__ import annotations

import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest

from gpi.ecs import World
from gpi.plugins.host import PluginHost
from gpi.plugins.input import Input, text_axes, with_previous
from gpi.runtime.input import InputMapper

# These tests check results, not latency: a loaded machine must not get a healthy child killed.
TIMEOUT = 10.0

PLUGIN = textwrap.dedent('''
    from gpi import Plugin

    plugin = Plugin("edges")

    @plugin.system(stage="input", resources=["edges"])
    def watch(ctx):
        inp = ctx.input
        log = ctx.try_resource("edges", [])
        log.append([ctx.tick, int(inp.just_pressed("space")), int(inp.just_released("space")),
                    int(inp.pressed("space")), int(inp.mouse_just_pressed(1)), inp.text,
                    list(inp.mouse_world or (0.0, 0.0)), len(inp.get("keys", ()))])
        ctx.insert_resource("edges", log)
''')

SCRIPT = {2: ["space"], 3: ["space"], 4: ["space", "a"], 8: ["space"]}


def script(t: int) -> dict:
    axes = {"mouse_world_x": float(t), "mouse_world_y": -1.0}
    if t == 5:
        axes.update(text_axes("hé!"))
    return {"keys": SCRIPT.get(t, []), "buttons": [1] if t in (3, 4) else [], "mouse": [t, 0], "axes": axes}


@pytest.fixture
def plugin_dir(tmp_path: Path) -> Path:
    d = tmp_path / "edges"
    d.mkdir()
    (d / "plugin.toml").write_text('[plugin]\nname = "edges"\nversion = "1.0.0"\nabi = 1\nentry = "main"\n'
                                   'capabilities = ["input", "resources"]\n')
    (d / "main.py").write_text(PLUGIN)
    return d


def run(plugin_dir: Path, isolation: str, ticks: int = 11, restore_at: int | None = None) -> list:
    world = World(seed=1)
    host = PluginHost(world, isolation=isolation, sandbox=False, timeout=TIMEOUT)
    try:
        host.load(plugin_dir)
        for t in range(ticks):
            if t == restore_at:
                snap = world.snapshot()
                host.close()
                world.close()
                world = World(seed=1)
                host = PluginHost(world, isolation=isolation, sandbox=False, timeout=TIMEOUT)
                host.load(plugin_dir)
                world.restore(snap)
                host.tick_count = t
            r = host.tick(script(t))
            assert not (r.errors or r.rejected or r.skipped), host.faults[:3]
        return list(world.resource("edges"))
    finally:
        host.close()
        world.close()


@pytest.mark.subprocess
def test_edges_in_process_child_and_after_seek(plugin_dir: Path) -> None:
    ref = run(plugin_dir, "none")
    pressed = [row[0] for row in ref if row[1]]
    released = [row[0] for row in ref if row[2]]
    assert pressed == [2, 8] and released == [5, 9]
    assert [row[0] for row in ref if row[4]] == [3]
    assert ref[5][5] == "hé!" and ref[6][5] == ""
    assert ref[7][6] == [7.0, -1.0]
    assert run(plugin_dir, "process") == ref
    assert run(plugin_dir, "none", restore_at=3) == ref  # mid-hold: no new press after the seek
    assert run(plugin_dir, "process", restore_at=9) == ref


def test_input_is_still_the_mapping_and_knows_no_edges_without_prev() -> None:
    inp = Input({"keys": ["left"], "mouse": [3, 4]})
    assert inp.get("keys") == ["left"] and dict(inp)["mouse"] == [3, 4]
    assert inp.pressed("Left") and inp.just_pressed("left") and not inp.just_released("left")
    assert inp.mouse_screen == (3.0, 4.0) and inp.mouse_world is None and inp.text == ""
    memo: dict = {}
    a = with_previous({"keys": ["b", "a"]}, memo)
    b = with_previous({"keys": ["a"], "buttons": [3]}, memo)
    assert a["prev"] == {"keys": [], "buttons": []} and b["prev"] == {"keys": ["a", "b"], "buttons": []}
    e = Input(b)
    assert e.keys_just_released == {"b"} and not e.keys_just_pressed and e.mouse_just_pressed(3)


def test_mapper_collects_text_and_world_mouse() -> None:
    m = InputMapper((100, 100))
    m.handle(SimpleNamespace(type=0x303, text=SimpleNamespace(text=b"ab\0junk")))
    m.handle(SimpleNamespace(type=0x400, motion=SimpleNamespace(x=10, y=20)))
    m.handle(SimpleNamespace(type=0x303, text=SimpleNamespace(text="ç".encode())))
    s = m.snapshot(lambda x, y: (x / 10, -y / 10))
    inp = Input(s.to_dict())
    assert inp.text == "abç" and inp.mouse_world == (1.0, -2.0)
    assert Input(m.snapshot().to_dict()).text == ""
