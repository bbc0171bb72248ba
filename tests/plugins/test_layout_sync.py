"""Layout sync with real children: row-count changes ride in the request as deltas.

The all-in-one fixture spawns up to its target and despawns every 7th tick: most epochs
only change row counts (a delta), growth into a new segment needs the full
layout with the new fds. Either way the children must see exactly the
host's rows, so per-tick checksums match isolation ``none``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gpi.ecs import World
from gpi.plugins.host import PluginHost

FIXTURES = Path(__file__).parent / "fixtures"
ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.subprocess]


def run(dirs: list[Path], isolation: str, ticks: int, population: int = 120) -> tuple[list[int], PluginHost]:
    sums = []
    with World(seed=5) as world, PluginHost(world, isolation=isolation, sandbox=False) as host:
        host.load(*dirs)
        world.insert_resource("target", population)
        world.insert_resource("population", population)
        for t in range(ticks):
            report = host.tick({"keys": ["left"] if t % 20 < 10 else []})
            assert not (report.errors or report.rejected or report.skipped), (t, host.faults[:3])
            sums.append(world.checksum())
        workers = {name: host.worker(name) for name in host.plugins}
        counts = {name: (getattr(w, "layouts_sent", 0), getattr(w, "deltas_sent", 0)) for name, w in workers.items()}
    host.layout_counts = counts  # type: ignore[attr-defined]
    return sums, host


def test_deltas_carry_row_changes_and_children_see_the_same_world() -> None:
    ref, _ = run([FIXTURES / "allinone"], "none", 60)
    got, host = run([FIXTURES / "allinone"], "process", 60)
    assert got == ref
    full, deltas = host.layout_counts["allinone"]  # type: ignore[attr-defined]
    print("full layouts", full, "deltas", deltas)
    assert deltas >= 5  # despawns every 7 ticks fit the segments: no socket message
    assert 1 <= full < deltas  # the first layout and each growth into a new segment


def test_examples_with_retirement_agree_across_isolation() -> None:
    """The demo plugins at a small population, long enough for entities to retire (structural churn)."""
    dirs = [ROOT / "examples" / "plugins" / n for n in ("spawner", "movement", "boids", "player")]
    ticks = 660
    ref, _ = run(dirs, "none", ticks, population=60)
    got, host = run(dirs, "process", ticks, population=60)
    assert got == ref
    assert all(d > 0 for _, d in host.layout_counts.values())  # type: ignore[attr-defined]
