"""The documented dtype rule (numpy casting="same_kind"), the same in-process and in a child."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

from gpi.ecs import World
from gpi.plugins.host import PluginHost

TIMEOUT = 10.0

PLUGIN = textwrap.dedent('''
    import numpy as np
    from gpi import Plugin

    plugin = Plugin("dtypes")
    Health = plugin.component("Health", "int32")
    Speed = plugin.component("Speed", "float32")

    @plugin.system(writes=["Health", "Speed"], spawns=True)
    def setup(ctx):
        t = ctx.tick
        if t == 0:
            ctx.commands.spawn(1, {"Health": np.array([5], np.int64), "Speed": np.array([1.5], np.float64)})
        elif t == 1:   # float64 -> int32: not same_kind, the whole buffer is rejected
            ctx.commands.spawn(1, {"Health": np.array([7.5]), "Speed": np.array([2.0], np.float32)})
        elif t == 2:   # a Python float list into the int column: rejected too
            ctx.commands.spawn(1, {"Health": [3.0], "Speed": [2.0]})
''')


@pytest.fixture
def plugin_dir(tmp_path: Path) -> Path:
    d = tmp_path / "dtypes"
    d.mkdir()
    (d / "plugin.toml").write_text('[plugin]\nname = "dtypes"\nversion = "1.0.0"\nabi = 1\nentry = "main"\n'
                                   'capabilities = ["spawn"]\n')
    (d / "main.py").write_text(PLUGIN)
    return d


def run(plugin_dir: Path, isolation: str) -> tuple[list[tuple[int, float]], list[str]]:
    world = World(seed=1)
    host = PluginHost(world, isolation=isolation, sandbox=False, timeout=TIMEOUT)
    try:
        host.load(plugin_dir)
        msgs = []
        for _t in range(3):
            r = host.tick()
            assert not r.errors, host.faults[:3]
            assert len(r.rejected) == (1 if _t else 0), (r.rejected, host.faults[:3])
            msgs.extend(str(f["error"]) for f in r.faults if f["kind"] == "rejected")
        rows = []
        for chunk in world.query("Health", "Speed"):
            rows.extend(zip(chunk["Health"].tolist(), chunk["Speed"].tolist(), strict=True))
        return sorted(rows), msgs
    finally:
        host.close()
        world.close()


@pytest.mark.subprocess
def test_same_kind_rule_in_process_and_child(plugin_dir: Path) -> None:
    here = run(plugin_dir, "none")
    child = run(plugin_dir, "process")
    # tick 0 (int64 -> int32 that fits, float64 -> float32) accepted; ticks 1 and 2 rejected whole
    assert here[0] == child[0] == [(5, 1.5)]
    for _rows, msgs in (here, child):
        assert len(msgs) == 2, msgs
        for m in msgs:
            assert "'Health'" in m and "expected dtype int32, given float64" in m, m


def test_coerce_rule_matches_numpy_same_kind() -> None:
    from gpi.ecs.component import Component
    from gpi.ecs.errors import SchemaError

    f32 = Component("F", np.float32)
    assert f32.coerce(np.array([1.25]), 1).dtype == np.float32
    assert f32.coerce([1, 2], 2).dtype == np.float32        # int -> float is same_kind
    flag = Component("B", np.bool_)
    with pytest.raises(SchemaError, match="expected dtype bool, given int64"):
        flag.coerce([1], 1)
    with pytest.raises(SchemaError, match="expected dtype float32, given complex128"):
        f32.coerce(np.array([1j]), 1)
    with pytest.raises(SchemaError, match="expected dtype float32, given <U1"):
        f32.coerce(["a"], 1)
    with pytest.raises(SchemaError, match="do not fit uint8"):
        Component("U", np.uint8).coerce([300], 1)
