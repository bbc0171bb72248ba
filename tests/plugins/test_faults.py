"""Crash reports, tick-based restart backoff and the circuit breaker."""

import json
import signal
from pathlib import Path

from gpi.plugins.faults import (
    CrashReport,
    PluginState,
    RestartPolicy,
    Supervisor,
    describe_exit,
    write_crash_report,
)


def test_describe_exit() -> None:
    assert describe_exit(-signal.SIGSEGV) == "killed by SIGSEGV"
    assert describe_exit(3) == "exit code 3"
    assert describe_exit(None) == "still running"


def test_crash_report_written_atomically_and_uniquely(tmp_path: Path) -> None:
    rep = CrashReport(plugin="boids", system="steer", tick=42, kind="crashed", exit="killed by SIGSEGV",
                      traceback="Fatal Python error", log_tail=["a", "b"])
    p1 = write_crash_report(tmp_path, rep)
    p2 = write_crash_report(tmp_path, rep)
    assert p1 != p2
    data = json.loads(p1.read_text())
    assert data["plugin"] == "boids" and data["tick"] == 42 and data["log_tail"] == ["a", "b"]
    assert not list(tmp_path.glob("*.tmp"))


def test_backoff_doubles_and_caps() -> None:
    pol = RestartPolicy(base_ticks=2, max_ticks=10)
    assert [pol.delay(n) for n in range(0, 6)] == [0, 2, 4, 8, 10, 10]
    assert RestartPolicy(base_ticks=0).delay(5) == 0


def test_supervisor_restarts_then_trips_breaker() -> None:
    sup = Supervisor(RestartPolicy(base_ticks=1, max_ticks=4, max_faults=3, window_ticks=100))
    sup.started("p")
    assert sup.fault("p", 10) is PluginState.RESTARTING
    assert sup.due_restarts(11) == []
    assert sup.due_restarts(12) == ["p"]
    sup.started("p")
    assert sup.fault("p", 20) is PluginState.RESTARTING  # 2nd consecutive: delay 2
    assert sup.due_restarts(22) == []
    assert sup.due_restarts(23) == ["p"]
    assert sup.restarts["p"] == 2
    assert sup.fault("p", 30) is PluginState.DISABLED
    assert sup.is_disabled("p")
    assert "circuit breaker" in sup.disabled_reason["p"]


def test_faults_outside_window_do_not_count_and_success_resets_streak() -> None:
    sup = Supervisor(RestartPolicy(base_ticks=1, max_faults=2, window_ticks=10))
    assert sup.fault("p", 0) is PluginState.RESTARTING
    sup.succeeded("p")
    assert sup.fault("p", 50) is PluginState.RESTARTING
    assert sup.due_restarts(52) == ["p"]  # streak reset: delay back to base
