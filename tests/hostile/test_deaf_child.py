"""A child that stops reading its control socket is a stall, never a hang of the host (issue 13).

``deaf_socket`` replaces its child's layout reader with one that reads
nothing, and spawns a new archetype every tick, so every tick the host owes
each child a full layout over the control socket. The unread layouts fill
the socket; before the fix the host blocked in ``sendmsg`` forever (at tick
39 here). Every send to a child now carries the call's deadline: the
attacker's call is a ``timeout`` fault, its child is killed, reported and
restarted (and disabled by the circuit breaker if it keeps at it), while the
host completes every tick and ``benign`` runs on every one of them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gpi.ecs import World
from gpi.plugins.host import FaultKind, PluginHost, PluginState

PLUGINS = Path(__file__).resolve().parent / "plugins"
TICKS = 45  # the socket fills within about 20 ticks; a restarted child fills it again

pytestmark = [pytest.mark.subprocess, pytest.mark.sandbox, pytest.mark.slow]


@pytest.mark.timeout(90)  # the code before the fix never returns from a tick
def test_child_that_never_reads_its_socket_is_a_stall(tmp_path: Path) -> None:
    with World(seed=11) as world, PluginHost(world, timeout=1.0, data_dir=tmp_path) as host:
        host.load(PLUGINS / "benign", PLUGINS / "deaf_socket")
        reports = [host.tick() for _ in range(TICKS)]
        assert host.tick_count == TICKS
        for r in reports:  # benign is never skipped nor blamed
            assert {"benign.populate", "benign.move"} <= set(r.ran), r
        assert not [f for f in host.faults if f["plugin"] == "benign"]
        stalls = [f for f in host.faults if f["plugin"] == "deaf_socket" and f["kind"] == FaultKind.TIMEOUT]
        assert stalls, host.faults
        assert all("did not read its control socket" in f["error"] for f in stalls), stalls
        assert all(f.get("report") for f in stalls)  # killed and reported (crash report on disk)
        assert any("deaf_socket" in r.restarted for r in reports)  # and restarted
        assert host.plugins["deaf_socket"].status in (PluginState.RUNNING, PluginState.RESTARTING,
                                                     PluginState.DISABLED)
        assert host.violations.layers("deaf_socket").get("deadline", 0) == len(stalls)
