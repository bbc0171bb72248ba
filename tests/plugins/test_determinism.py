"""Determinism: same seed and inputs give the same per-tick checksums in every mode.

Isolation ``none`` vs ``process``; one child (the all-in-one fixture) vs
several (the example plugins); waves in parallel vs one system per wave run
serially. Sizes are small so each 600-tick run takes about a second.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gpi.ecs import World
from gpi.plugins.host import PluginHost

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = [ROOT / "examples" / "plugins" / n for n in ("movement", "spawner", "boids", "player")]
ALLINONE = [Path(__file__).parent / "fixtures" / "allinone"]
TICKS = 600

pytestmark = [pytest.mark.subprocess, pytest.mark.slow]


def keys_at(tick: int) -> dict[str, list[str]]:
    """A fixed, varying input script."""
    return {"keys": [("left", "up", "right", "down")[(tick // 50) % 4]] if tick % 120 < 90 else []}


def checksums(dirs: list[Path], *, isolation: str, parallel: bool = True, wave: int | None = None,
              seed: int = 42, ticks: int = TICKS, sandbox: bool = False) -> list[int]:
    out = []
    with World(seed=seed) as world, PluginHost(world, isolation=isolation, parallel=parallel,
                                               max_wave_size=wave, sandbox=sandbox) as host:
        host.load(*dirs)
        world.insert_resource("population", 300)
        world.insert_resource("target", 150)
        for t in range(ticks):
            report = host.tick(keys_at(t))
            assert not (report.errors or report.rejected or report.skipped), (t, host.faults[:3])
            out.append(world.checksum())
        assert world.entity_count > 0
    return out


def first_difference(a: list[int], b: list[int]) -> int | None:
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), None)


def test_one_child_process_matches_in_process() -> None:
    ref = checksums(ALLINONE, isolation="none")
    got = checksums(ALLINONE, isolation="process")
    assert first_difference(ref, got) is None
    assert len(set(ref)) > TICKS // 2  # the world really changes every tick


def test_several_children_parallel_serial_and_in_process_agree() -> None:
    ref = checksums(EXAMPLES, isolation="none")
    parallel = checksums(EXAMPLES, isolation="process", parallel=True)
    serial = checksums(EXAMPLES, isolation="process", parallel=False, wave=1)
    assert first_difference(ref, parallel) is None
    assert first_difference(ref, serial) is None


def test_seed_changes_the_run() -> None:
    a = checksums(ALLINONE, isolation="none", ticks=30)
    b = checksums(ALLINONE, isolation="none", ticks=30, seed=43)
    assert a != b
    assert a == checksums(ALLINONE, isolation="none", ticks=30)


def test_sandboxed_children_give_the_same_run() -> None:
    from gpi.plugins.host import sandbox_available

    if not sandbox_available():
        pytest.skip("gpi.plugins.sandbox is not importable")
    ref = checksums(EXAMPLES, isolation="none", ticks=120)
    assert first_difference(ref, checksums(EXAMPLES, isolation="process", ticks=120, sandbox=True)) is None
