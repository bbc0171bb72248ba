"""Crashing children inside the real host: reports, restarts, the checksum, the circuit breaker."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gpi.ecs import World
from gpi.plugins.faults import RestartPolicy
from gpi.plugins.host import PluginHost

pytestmark = pytest.mark.subprocess

FIX = Path(__file__).parent / "fixtures"
MOVEMENT = Path(__file__).resolve().parents[2] / "examples" / "plugins" / "movement"
LENIENT = RestartPolicy(base_ticks=1, max_ticks=8, max_faults=1000, window_ticks=10)


def run_flaky(tmp: Path, mode: str, period: int, ticks: int, *, use_zygote: bool = True,
              policy: RestartPolicy = LENIENT, sandbox: bool | None = False) -> tuple[int, PluginHost, list]:
    """Run movement + fault_flaky for ``ticks``; returns (checksum, closed host, reports)."""
    with World(seed=3) as world:
        host = PluginHost(world, sandbox=sandbox, data_dir=tmp, restart_policy=policy, use_zygote=use_zygote)
        with host:
            host.load(MOVEMENT, FIX / "fault_flaky")
            rng = np.random.default_rng(0)
            n = 64
            world.spawn(n, {"Position": rng.random((n, 2), dtype=np.float32) * 100,
                            "Velocity": rng.random((n, 2), dtype=np.float32) - 0.5,
                            "Tally": np.zeros(n, np.int64)})
            world.insert_resource("fault_config", {"period": period, "mode": mode})
            reports = host.run(ticks)
            world.remove_resource("fault_config")  # the mode differs between the runs: not part of the state
            checksum = world.checksum()
    return checksum, host, reports


@pytest.mark.parametrize(("use_zygote", "ticks", "sandbox"),
                         [(True, 1000, False), (False, 60, False), (True, 60, None)],
                         ids=["zygote-1000", "popen-60", "zygote-sandboxed-60"])
def test_crash_every_n_ticks_equals_dropping_those_ticks(tmp_path: Path, use_zygote: bool, ticks: int,
                                                        sandbox: bool | None) -> None:
    period = 20
    ref, _, _ = run_flaky(tmp_path / "ref", "skip", period, ticks, use_zygote=use_zygote, sandbox=sandbox)
    got, host, reports = run_flaky(tmp_path / "run", "segv", period, ticks, use_zygote=use_zygote,
                                   sandbox=sandbox)
    crash_ticks = [t for t in range(ticks) if t % period == period - 1]
    assert len(reports) == ticks  # the host never stopped
    assert got == ref  # exactly those ticks' commands were dropped, nothing else
    for rep in reports:
        assert "movement.integrate" in rep.ran  # the other plugin never missed a tick
        if rep.tick in crash_ticks:
            assert rep.skipped == ["fault_flaky.bump"]
            assert [f["kind"] for f in rep.faults] == ["crashed"]
        else:  # at most one tick lost per crash: back before the next tick
            assert "fault_flaky.bump" in rep.ran, rep
    assert [r.tick for r in reports if r.restarted] == [t + 1 for t in crash_ticks if t + 1 < ticks]
    files = sorted((tmp_path / "run" / "crashes").glob("crash-fault_flaky-*.json"))
    assert len(files) == len(crash_ticks)
    docs = [json.loads(f.read_text()) for f in files]
    assert [d["tick"] for d in docs] == crash_ticks
    for d in docs:
        assert d["plugin"] == "fault_flaky" and d["system"] == "bump" and d["kind"] == "crashed"
        assert d["signal"] == "SIGSEGV" and d["exit"] == "killed by SIGSEGV"
        assert "Fatal Python error: Segmentation fault" in d["traceback"]
        assert "bump" in d["traceback"]  # the plugin function's frame, from faulthandler
        assert f"bump tick {d['tick']}" in d["log_tail"]
        assert d["last_commands"]["tick"] == d["tick"] - 1 and d["last_commands"]["system"] == "bump"
    crashed = [f for f in host.faults if f["kind"] == "crashed"]
    assert [f["tick"] for f in crashed] == crash_ticks
    assert all(Path(f["report"]).exists() for f in crashed)
    assert host.plugins["fault_flaky"].restarts == len([t for t in crash_ticks if t + 1 < ticks])


def test_circuit_breaker_disables_plugin_others_keep_running(tmp_path: Path) -> None:
    policy = RestartPolicy(base_ticks=1, max_ticks=8, max_faults=3, window_ticks=100)
    _, host, reports = run_flaky(tmp_path, "exit", 1, 12, policy=policy)
    # crash at 0 -> back at 1 -> crash -> backoff 1 tick -> back at 3 -> crash: 3 faults, disabled
    crash_ticks = [f["tick"] for f in host.faults if f["kind"] == "crashed"]
    assert crash_ticks == [0, 1, 3]
    assert reports[2].skipped == ["fault_flaky.bump"] and not reports[2].faults  # backoff, quietly
    disabled = [f for f in host.faults if f["kind"] == "disabled"]
    assert len(disabled) == 1 and disabled[0]["tick"] == 3
    assert "circuit breaker" in disabled[0]["error"] and "exit code 3" in disabled[0]["error"]
    for rep in reports:
        assert "movement.integrate" in rep.ran
    for rep in reports[4:]:
        assert rep.skipped == ["fault_flaky.bump"] and not rep.faults
    assert host.supervision.supervisor.is_disabled("fault_flaky")  # (the host is closed: status "stopped")


def test_plugin_status_rows(tmp_path: Path) -> None:
    with World(seed=1) as world, PluginHost(world, sandbox=False, data_dir=tmp_path) as host:
        host.load(MOVEMENT, FIX / "fault_flaky")
        host.run(2)
        rows = {r["name"]: r for r in host.plugin_status()}
        assert set(rows) == {"movement", "fault_flaky"}
        for r in rows.values():
            assert r["state"] == "running" and r["restarts"] == 0 and r["pid"]
            assert r["rss"] is None or r["rss"] > 0
            assert set(r) >= {"name", "state", "restarts", "pid", "rss", "sandbox_layers", "last_error"}


def test_dead_fork_server_is_replaced(tmp_path: Path) -> None:
    import os
    import signal

    with World(seed=1) as world, PluginHost(world, sandbox=False, data_dir=tmp_path,
                                            restart_policy=LENIENT) as host:
        host.load(FIX / "fault_flaky")
        world.spawn(2, {"Tally": np.zeros(2, np.int64)})
        zygote = host.supervision._zygote
        assert zygote is not None
        os.kill(zygote.pid, signal.SIGKILL)  # returns before it is dead; its children die some time later
        assert zygote.wait(30) == -signal.SIGKILL  # the event: gone, its children sent their death signal
        reports = host.run(4)
        # Noticed at the first tick's boundary (not after tripping over a dying child), restarted there
        # through a new fork-server, and not counted as the plugin's fault.
        assert reports[0].restarted == ["fault_flaky"]
        for rep in reports:
            assert "fault_flaky.bump" in rep.ran and not rep.faults and not rep.skipped, rep
        new = host.supervision._zygote
        assert new is not None and new.pid != zygote.pid and not new.exited()
        assert host.plugins["fault_flaky"].restarts == 1
        assert not host.supervision.reports  # no crash report: the plugin did nothing wrong
        tally = np.concatenate([c["Tally"] for c in world.query("Tally")])
        assert tally.tolist() == [10, 10]  # 1 + 2 + 3 + 4: no tick lost


def test_fork_server_dying_while_the_host_runs(tmp_path: Path) -> None:
    """Whenever the fork-server dies between or during ticks, the first tick after its death is known runs the plugin."""
    import os
    import signal

    with World(seed=1) as world, PluginHost(world, sandbox=False, data_dir=tmp_path,
                                            restart_policy=LENIENT) as host:
        host.load(FIX / "fault_flaky")
        world.spawn(2, {"Tally": np.zeros(2, np.int64)})
        zygote = host.supervision._zygote
        assert zygote is not None
        os.kill(zygote.pid, signal.SIGKILL)
        early = host.run(3)  # races the zygote's death and its child's: any tick may see the child die
        assert zygote.wait(30) == -signal.SIGKILL
        late = host.run(2)
        for rep in late:
            assert "fault_flaky.bump" in rep.ran and not rep.faults, rep
        faults = [f for rep in early for f in rep.faults]
        assert len(faults) <= 1 and all(f["kind"] == "crashed" for f in faults)  # at most the one dying call
        assert sum("fault_flaky.bump" in rep.skipped for rep in early) <= 1
        new = host.supervision._zygote
        assert new is not None and new.pid != zygote.pid
        assert host.plugins["fault_flaky"].restarts == 1
