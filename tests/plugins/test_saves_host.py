"""Plugin saves through the real host: commands in, SQLite batches out, reads back, SIGKILL-safe."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpi.ecs import World
from gpi.plugins.context import SystemContext
from gpi.plugins.errors import CapabilityError
from gpi.plugins.host import PluginHost
from gpi.plugins.savestore import SaveStore
from gpi.plugins.sdk import Plugin
from gpi.plugins.snapshots import SnapshotFileError, load_world, read_header, save_world

FIX = Path(__file__).parent / "fixtures"
ROOT = Path(__file__).resolve().parents[2]
BLOB = 64 * 1024


def check_consistent(items: dict) -> int:
    n = items["n"]
    assert items["blob"] == bytes([n % 256]) * BLOB  # complete, and from the same batch as n
    assert ("scratch" in items) == (n % 2 == 1)
    return int(n)


@pytest.mark.subprocess
@pytest.mark.parametrize("isolation", ["process", "none"])
def test_saves_persist_and_read_back(tmp_path: Path, isolation: str) -> None:
    for run in range(2):  # the second host continues from what the first one saved
        with World(seed=1) as world, PluginHost(world, isolation=isolation, sandbox=False,
                                                data_dir=tmp_path) as host:
            host.load(FIX / "fault_saver")
            host.run(5)
            assert not host.faults
            assert check_consistent(host.saves.store.items("fault_saver")) == 5 * (run + 1)
    with SaveStore(tmp_path / "saves.sqlite") as store:
        assert store.integrity_ok() and check_consistent(store.items("fault_saver")) == 10


def test_save_needs_capability_and_storable_values() -> None:
    p = Plugin("nosave")

    @p.system
    def s(ctx):  # pragma: no cover - not run
        pass

    spec = p.systems["s"]
    ctx = SystemContext(None, spec, plugin="nosave", tick=0, dt=0.1, seed=0, granted=())
    with pytest.raises(CapabilityError, match="'save'"):
        ctx.save("k", 1)
    with pytest.raises(CapabilityError):
        ctx.load("k")
    ctx = SystemContext(None, spec, plugin="nosave", tick=0, dt=0.1, seed=0, granted=("save",),
                        saved={"a": 1, "b": 2})
    with pytest.raises(ValueError, match="cannot be stored"):
        ctx.save("k", object())
    with pytest.raises(ValueError, match="save key"):
        ctx.save("", 1)
    ctx.save("c", 3)
    ctx.delete_save("a")
    assert ctx.load("a") is None and ctx.load("b") == 2 and ctx.load("c") == 3
    assert ctx.saved_keys() == ["b", "c"]
    assert ctx.take_saves() == [["put", "c", 3], ["del", "a"]]


def test_quota_refusal_is_a_fault_and_writes_nothing(tmp_path: Path) -> None:
    with World(seed=1) as world, PluginHost(world, isolation="none", data_dir=tmp_path) as host:
        host.load(FIX / "fault_saver")
        host.saves.quota_bytes = 1000  # smaller than one blob
        host.run(2)
        assert [f["kind"] for f in host.faults] == ["save_rejected", "save_rejected"]
        assert "quota" in host.faults[0]["error"]
        assert host.saves.store.items("fault_saver") == {}


SCRIPT = textwrap.dedent("""
    import sys
    from gpi.ecs import World
    from gpi.plugins.host import PluginHost
    with World(seed=1) as world, PluginHost(world, sandbox=False, data_dir=sys.argv[1]) as host:
        host.load(sys.argv[2])
        print("ready", flush=True)
        while True:
            host.tick()
""")


@pytest.mark.subprocess
def test_store_survives_sigkill_of_the_host_mid_write(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(tmp_path), str(FIX / "fault_saver")],
                            env=env, stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        db = tmp_path / "saves.sqlite"
        deadline = time.monotonic() + 60
        n = 0
        while n < 30 and time.monotonic() < deadline:  # let it write a few dozen batches
            time.sleep(0.02)
            try:
                with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as con:
                    row = con.execute("SELECT value FROM kv WHERE plugin='fault_saver' AND key='n'").fetchone()
                n = msgpack.unpackb(row[0]) if row else 0
            except sqlite3.OperationalError:
                pass
        assert n >= 30
    finally:
        proc.send_signal(signal.SIGKILL)  # in the middle of its tick loop: writes every tick
        proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    with SaveStore(db) as store:
        assert store.integrity_ok()
        assert check_consistent(store.items("fault_saver")) >= n


def test_world_snapshot_file_round_trip(tmp_path: Path) -> None:
    import numpy as np

    from gpi.ecs import Component

    with World(seed=4) as world:
        world.register(Component("Tally", "int64"))
        world.spawn(5, {"Tally": np.arange(5)})
        with PluginHost(world, isolation="none", data_dir=tmp_path) as host:
            host.tick_count = 17
            path = host.save_world(tmp_path / "snap" / "w.gpisnap")
            want = world.checksum()
        assert read_header(path)["tick"] == 17
        world.spawn(3, {"Tally": np.zeros(3, np.int64)})
        assert world.checksum() != want
        with PluginHost(world, isolation="none", data_dir=tmp_path) as host:
            assert host.load_snapshot(path) == 17 and host.tick_count == 17
        assert world.checksum() == want
        assert not list((tmp_path / "snap").glob("*.tmp"))
        bad = tmp_path / "bad"
        bad.write_bytes(b"nope")
        with pytest.raises(SnapshotFileError, match="not a GPI world snapshot"):
            load_world(world, bad)
        save_world(world, bad)
        data = bytearray(bad.read_bytes())
        data[-1] ^= 0xFF
        bad.write_bytes(bytes(data))
        with pytest.raises(SnapshotFileError):
            load_world(world, bad)


_keys = st.sampled_from(["a", "b", "c", "d"])
_ops = st.lists(st.one_of(st.tuples(st.just("put"), _keys, st.integers(-5, 5) | st.binary(max_size=8)),
                          st.tuples(st.just("del"), _keys)), max_size=12)


def test_batches_follow_a_dict_model(tmp_path: Path) -> None:
    """Applying batches of put/del equals replaying them on a dict; ctx.load sees the same."""
    counter = iter(range(10**6))
    spec_plugin = Plugin("model")

    @spec_plugin.system
    def s(ctx):  # pragma: no cover - not run
        pass

    with World(seed=0) as world, PluginHost(world, isolation="none", data_dir=tmp_path) as host:

        @settings(max_examples=40, deadline=None)
        @given(st.lists(_ops, max_size=5))
        def check(batches: list) -> None:
            name = f"p{next(counter)}"
            model: dict = {}
            for ops in batches:
                ctx = SystemContext(None, spec_plugin.systems["s"], plugin=name, tick=0, dt=0.1, seed=0,
                                    granted=("save",), saved=host.saves.store.items(name))
                for op in ops:
                    if op[0] == "put":
                        ctx.save(op[1], op[2])
                        model[op[1]] = op[2]
                    else:
                        ctx.delete_save(op[1])
                        model.pop(op[1], None)
                    assert ctx.saved_keys() == sorted(model)
                    assert all(ctx.load(k) == v for k, v in model.items())
                ops_out = ctx.take_saves()
                if ops_out:
                    assert host.saves.apply(name, "s", ops_out)
                assert host.saves.store.items(name) == model

        check()
