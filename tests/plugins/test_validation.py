"""Validation: bad command lists are rejected whole, with clear errors, the world untouched.

The ``rogue`` fixture's systems each send one kind of invalid list (undeclared
write, wrong shape, wrong dtype, a dead id next to a valid write, a malformed
list, an unknown operation). A world running the examples plus ``rogue`` must
have exactly the per-tick checksums of the same world without ``rogue``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gpi.ecs import World
from gpi.plugins.host import PluginHost

ROOT = Path(__file__).resolve().parents[2]
BASE = [ROOT / "examples" / "plugins" / n for n in ("movement", "spawner")]
ROGUE = Path(__file__).parent / "fixtures" / "rogue"
TICKS = 12

EXPECT = {
    "undeclared_write": ["'Position'", "Velocity"],
    "wrong_shape": ["Velocity", "shape"],
    "wrong_dtype": ["Velocity", "dtype"],
    "dead_ids": ["Velocity", "dead"],
    "malformed": ["malformed"],
    "unknown_kind": ["teleport"],
}


def run(dirs: list[Path], isolation: str) -> tuple[list[int], PluginHost]:
    sums = []
    with World(seed=5) as world:
        host = PluginHost(world, isolation=isolation, sandbox=False)
        try:
            host.load(*dirs)
            world.insert_resource("population", 100)
            for _ in range(TICKS):
                host.tick()
                sums.append(world.checksum())
        finally:
            host.close()
    return sums, host


@pytest.mark.subprocess
@pytest.mark.parametrize("isolation", ["none", "process"])
def test_rejected_lists_leave_the_world_untouched(isolation: str) -> None:
    ref, _ = run(BASE, isolation)
    got, host = run([*BASE, ROGUE], isolation)
    assert got == ref
    rejected = [f for f in host.faults if f["kind"] == "rejected"]
    by_system: dict[str, list[str]] = {}
    for f in rejected:
        assert f["plugin"] == "rogue"
        by_system.setdefault(f["system"], []).append(f["error"])
    assert set(by_system) == set(EXPECT)
    for system, words in EXPECT.items():
        errors = by_system[system]
        assert len(errors) >= TICKS - 1, system  # tick 0 may have no entities yet
        msg = errors[0].lower()
        assert "rogue" in msg and system in msg, msg
        for w in words:
            assert w.lower() in msg, (system, w, errors[0])
    records = [r for r in host.records if r["plugin"] == "rogue"]
    assert {r["status"] for r in records} <= {"ok", "rejected"}  # "ok": tick 0, nothing to send yet
    assert all(r["error"] for r in records if r["status"] == "rejected")
