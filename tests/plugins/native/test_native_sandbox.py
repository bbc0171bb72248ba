"""Hostile native code in a sandboxed child: read-only columns fault, syscalls are refused, faults are contained.

The nat_hostile plugin does what resource ``nat_mode`` says from tick
``nat_at`` on; it reports refusals in resource ``nat_result``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gpi.ecs import World
from gpi.plugins.faults import RestartPolicy
from gpi.plugins.host import PluginHost

pytestmark = pytest.mark.subprocess

LENIENT = RestartPolicy(base_ticks=1, max_ticks=4, max_faults=1000, window_ticks=10)


def hostile_host(world: World, native: dict[str, Path], tmp: Path, mode: str, **kw: object) -> PluginHost:
    host = PluginHost(world, sandbox=True, data_dir=tmp, restart_policy=LENIENT, **kw)  # type: ignore[arg-type]
    host.load(native["nat_hostile"])
    world.spawn(16, {"Position": np.arange(32, dtype=np.float32).reshape(16, 2),
                     "Velocity": np.ones((16, 2), np.float32)})
    world.insert_resource("nat_mode", mode)
    world.insert_resource("nat_at", 2)
    return host


@pytest.mark.parametrize("mode", ["socket", "fork", "exec", "filewrite"])
def test_syscalls_from_c_are_refused(native: dict[str, Path], tmp_path: Path, mode: str) -> None:
    with World(seed=1) as world, hostile_host(world, native, tmp_path, mode) as host:
        reps = host.run(4)
        assert all(not r.faults for r in reps), [r.faults for r in reps]
        result = world.resource("nat_result")
        assert result.startswith("refused "), result  # seccomp said no, with an errno
        assert int(result.split()[1]) > 0
    assert not Path("/tmp/gpi_native_hostile_write").exists() or mode != "filewrite"


def test_writing_a_read_only_column_pointer_faults_and_the_world_is_unchanged(
        native: dict[str, Path], tmp_path: Path) -> None:
    with World(seed=1) as world, hostile_host(world, native, tmp_path, "colwrite") as host:
        host.run(2)
        before = world.checksum()
        rep = host.tick()
        assert rep.skipped == ["nat_hostile.act"] and [f["kind"] for f in rep.faults] == ["crashed"]
        assert world.checksum() == before
        (pos,) = [c["Position"] for c in world.query("Position")]
        assert pos[0, 0] == 0.0  # the store through the column pointer never reached the world
        assert world.try_resource("nat_result") is None  # it died at the store, before reporting
        docs = [json.loads(p.read_text()) for p in sorted((tmp_path / "crashes").glob("*.json"))]
        assert docs and "SIGSEGV" in json.dumps(docs[0])


@pytest.mark.parametrize("mode", ["segv", "abort"])
def test_a_crash_in_c_is_contained_and_restarted(native: dict[str, Path], tmp_path: Path, mode: str) -> None:
    with World(seed=1) as world, hostile_host(world, native, tmp_path, mode) as host:
        host.run(2)
        pid = host.plugins["nat_hostile"].pid
        rep = host.tick()
        assert rep.skipped == ["nat_hostile.act"] and [f["kind"] for f in rep.faults] == ["crashed"]
        world.insert_resource("nat_mode", "none")  # behave from now on
        later = host.run(3)
        assert any("nat_hostile" in r.restarted for r in later)
        assert "nat_hostile.act" in later[-1].ran
        assert host.plugins["nat_hostile"].pid != pid and host.plugins["nat_hostile"].status == "running"
        signal = "SIGSEGV" if mode == "segv" else "SIGABRT"
        assert signal in json.dumps(host.faults[0]), host.faults[0]


def test_an_endless_loop_in_c_is_a_stall_killed_at_its_deadline(native: dict[str, Path], tmp_path: Path) -> None:
    with World(seed=1) as world, hostile_host(world, native, tmp_path, "loop", timeout=0.3) as host:
        host.run(2)  # first calls done: the deadline is now the host's 0.3 s
        rep = host.tick()
        assert rep.skipped == ["nat_hostile.act"] and [f["kind"] for f in rep.faults] == ["timeout"]
        assert rep.faults[0]["exit"] == "killed by SIGKILL"
        world.insert_resource("nat_mode", "none")
        later = host.run(3)
        assert "nat_hostile.act" in later[-1].ran and host.plugins["nat_hostile"].status == "running"


def test_refused_host_calls_return_codes_and_fail_the_call(native: dict[str, Path], tmp_path: Path) -> None:
    """An undeclared query, a spawn without GPI_SPAWNS, a bad handle: codes in C, a failed call in the host."""
    with World(seed=1) as world, hostile_host(world, native, tmp_path, "undeclared") as host:
        host.run(2)
        before = world.checksum()
        rep = host.tick()
        assert rep.errors == ["nat_hostile.act"], rep  # failed like a Python exception ...
        assert [f["kind"] for f in rep.faults] == ["exception"] and not rep.restarted
        pid = host.plugins["nat_hostile"].pid
        assert world.checksum() == before
        text = "\n".join(t for _, _, t in host.logs)
        assert "query=0 error=query: " in text and "queried ['Secret']" in text
        assert "spawn rc=-2" in text  # GPI_E_DENIED: not declared with GPI_SPAWNS
        assert "set_column rc=-1" in text  # GPI_E_INVALID: no query 99
        assert "NativeCallError" in text
        world.insert_resource("nat_mode", "none")
        assert "nat_hostile.act" in host.tick().ran and host.plugins["nat_hostile"].pid == pid  # ... the child lives on
