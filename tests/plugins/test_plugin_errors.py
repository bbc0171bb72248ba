"""Errors in plugins: each is a clear message and the host keeps running.

Exception in a system, import error, manifest error, unsatisfied dependency,
ABI mismatch, capability not granted, schema clash, unknown component, a
child that dies and a child that hangs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gpi.ecs import SchemaError, World
from gpi.plugins.errors import DependencyError, ManifestError, PluginError, PluginLoadError
from gpi.plugins.host import PluginHost

ROOT = Path(__file__).resolve().parents[2]
FIX = Path(__file__).parent / "fixtures"
MOVEMENT = ROOT / "examples" / "plugins" / "movement"
SPAWNER = ROOT / "examples" / "plugins" / "spawner"

pytestmark = pytest.mark.subprocess


@pytest.fixture(params=["process", "none"])
def host(request: pytest.FixtureRequest, tmp_path: Path):
    with World(seed=1) as world, PluginHost(world, isolation=request.param, sandbox=False, timeout=2.0,
                                            data_dir=tmp_path) as h:
        h.load(MOVEMENT, SPAWNER)
        world.insert_resource("population", 50)
        yield h


def keeps_running(host: PluginHost, ticks: int = 3) -> None:
    before = host.world.checksum()
    for _ in range(ticks):
        report = host.tick()
        assert "movement.integrate" in report.ran
    assert host.world.checksum() != before


def test_exception_in_system_is_logged_with_traceback(host: PluginHost) -> None:
    host.load(FIX / "raiser")
    reports = host.run(5)
    assert [r.errors for r in reports] == [[], [], ["raiser.flaky"], [], []]
    fault = next(f for f in host.faults if f["kind"] == "exception")
    assert fault["plugin"] == "raiser" and fault["system"] == "flaky" and fault["tick"] == 2
    assert "ValueError: boom at tick 2" in fault["error"]
    assert "plugin 'raiser' system 'flaky'" in fault["error"]
    assert "helper" in fault["traceback"] and "main.py" in fault["traceback"]
    assert ("raiser/flaky", "info", "fine at tick 4") in host.logs
    keeps_running(host)


def test_import_error_names_the_plugin_and_module(host: PluginHost) -> None:
    with pytest.raises(PluginLoadError, match="broken_import.*gpi_no_such_module_xyz"):
        host.load(FIX / "broken_import")
    assert "broken_import" not in host.plugins
    keeps_running(host)


def test_manifest_error_names_file_and_field(host: PluginHost) -> None:
    with pytest.raises(ManifestError, match="version") as info:
        host.load(FIX / "bad_manifest")
    assert "plugin.toml" in str(info.value)
    keeps_running(host)


def test_unsatisfied_dependency(host: PluginHost) -> None:
    with pytest.raises(DependencyError, match="ghost"):
        host.load(FIX / "needs_missing")
    keeps_running(host)


def test_abi_mismatch(host: PluginHost) -> None:
    with pytest.raises(ManifestError, match="abi"):
        host.load(FIX / "abi_future")
    keeps_running(host)


def test_capability_not_granted_fails_the_call_clearly() -> None:
    with World() as world, PluginHost(world, isolation="process", sandbox=False, grant=()) as host:
        host.load(FIX / "wants_input")
        assert host.plugins["wants_input"].refused == {"input"}
        report = host.tick({"keys": ["left"]})
        assert report.errors == ["wants_input.read_keys"]
        err = host.faults[-1]["error"]
        assert "CapabilityError" in err and "'input'" in err and "plugin.toml" in err
    with World() as world, PluginHost(world, isolation="process", sandbox=False) as host:
        host.load(FIX / "wants_input")
        assert host.tick({"keys": ["left"]}).errors == []
        assert ("wants_input/read_keys", "info", "keys ['left']") in host.logs


def test_schema_clash_and_unknown_component(host: PluginHost) -> None:
    with pytest.raises((PluginError, SchemaError), match="Position"):
        host.load(FIX / "schema_clash")
    with pytest.raises(PluginError, match="Mass"):
        host.load(FIX / "unknown_component")
    assert set(host.plugins) == {"movement", "spawner"}
    keeps_running(host)


def test_child_crash_is_skipped_recorded_and_restarted(tmp_path: Path) -> None:
    with World() as world, PluginHost(world, sandbox=False, data_dir=tmp_path) as host:
        host.load(MOVEMENT, SPAWNER, FIX / "crasher")
        world.insert_resource("population", 20)
        pid = host.plugins["crasher"].pid
        reports = host.run(6)
        assert reports[3].skipped == ["crasher.die"]
        assert all(not r.skipped for i, r in enumerate(reports) if i != 3)
        lp = host.plugins["crasher"]
        assert lp.restarts == 1 and lp.status == "running" and lp.pid != pid
        fault = next(f for f in host.faults if f["plugin"] == "crasher")
        assert fault["kind"] == "crashed" and fault["tick"] == 3
        assert "movement.integrate" in reports[3].ran


def test_child_past_its_deadline_is_killed_and_restarted(tmp_path: Path) -> None:
    with World() as world, PluginHost(world, sandbox=False, timeout=0.5, data_dir=tmp_path) as host:
        host.load(MOVEMENT, FIX / "sleeper")
        reports = host.run(4)
        assert reports[2].skipped == ["sleeper.hang"]
        assert reports[3].skipped == []
        assert host.plugins["sleeper"].restarts == 1
        assert any(f["kind"] == "timeout" for f in host.faults)


def test_child_killed_between_ticks_is_restarted(tmp_path: Path) -> None:
    import os
    import signal

    with World() as world, PluginHost(world, sandbox=False, data_dir=tmp_path) as host:
        host.load(MOVEMENT, FIX / "noop")
        host.run(2)
        pid = host.plugins["noop"].pid
        assert pid
        os.kill(pid, signal.SIGKILL)
        report = host.tick()
        assert report.skipped == ["noop.nothing"]
        assert "movement.integrate" in report.ran
        assert not host.tick().skipped  # restarted by (at the latest) the start of the next tick
        assert host.plugins["noop"].restarts == 1 and host.plugins["noop"].pid != pid
