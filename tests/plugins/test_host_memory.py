"""What a plugin host keeps stops growing: bounded windows of records, faults, logs (issue 14).

Counts, not times: the host runs the demo's spawner and movement beside a
plugin that logs, prints, raises and writes an undeclared component every
tick, for several times the length of every window; after warm-up each count
:meth:`PluginHost.retained` reports stays where it is while the traffic
(call records published, faults, log lines) keeps coming.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gpi.ecs import World
from gpi.plugins.host import PluginHost
from gpi.plugins.host.events import FaultLog

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"


def test_fault_log_is_a_window_with_a_running_count() -> None:
    log = FaultLog(3)
    for i in range(5):
        log.append({"i": i})
    assert len(log) == 3 and log.total == 5
    assert [f["i"] for f in log] == [2, 3, 4] and log[-1] == {"i": 4} and log[:2] == [{"i": 2}, {"i": 3}]
    assert [f["i"] for f in log.since(3)] == [3, 4]
    assert [f["i"] for f in log.since(0)] == [2, 3, 4]  # older ones are gone: what the window holds
    assert log.since(5) == [] and log.since(9) == []
    log.extend([{"i": 5}])
    assert log.total == 6 and log == [{"i": 3}, {"i": 4}, {"i": 5}]


@pytest.mark.subprocess
def test_what_the_host_keeps_stops_growing(tmp_path: Path) -> None:
    limits = {"record_limit": 40, "fault_limit": 12, "log_limit": 30}
    published = 0

    def count(rec: dict[str, object]) -> None:
        nonlocal published
        published += 1

    dirs = [ROOT / "examples" / "plugins" / n for n in ("spawner", "movement")] + [FIXTURES / "chatty"]
    with World(seed=11) as world, PluginHost(world, sandbox=False, data_dir=tmp_path, on_call_record=count,
                                             **limits) as host:
        host.load(*dirs)
        world.insert_resource("population", 50)
        calls = len(host.system_keys())
        samples = []
        for _block in range(4):
            for _ in range(30):  # each block alone fills every window
                report = host.tick()
                assert {"chatty.fail", "chatty.sneak"} <= set(report.errors) | set(report.rejected)
                assert "chatty.talk" in report.ran and "movement.integrate" in report.ran
            samples.append((host.retained(), published, host.events.fault_count, len(host.logs)))
        kept = [s[0] for s in samples]
        assert kept[1] == kept[2] == kept[3], kept  # flat after the first block
        assert kept[3]["records"] == limits["record_limit"]
        assert kept[3]["faults"] == limits["fault_limit"]
        assert kept[3]["logs"] == limits["log_limit"]
        # ... while the traffic went on: every call published, two faults a tick counted
        assert [s[1] for s in samples] == [calls * 30 * (b + 1) for b in range(4)]
        assert [s[2] for s in samples] == [2 * 30 * (b + 1) for b in range(4)]
        assert host.events.faults_since(host.events.fault_count - 2)[-1]["tick"] == host.tick_count - 1
