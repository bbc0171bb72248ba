"""Change detection, relations and startup systems through the plugin host (examples/plugins/orbits).

Exact results (a body moves on ticks divisible by its period or its parent's, and counts each),
and determinism: 600 ticks give the same per-tick checksums in-process and in
children, parallel and serial; restoring a mid-run snapshot and continuing
gives the straight run's checksums (last-run ticks and the started set are
world state).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gpi.ecs import World
from gpi.plugins.errors import PluginSystemError
from gpi.plugins.host import PluginHost
from gpi.plugins.sdk import Plugin
from gpi.testing import make_world, run_system

ROOT = Path(__file__).resolve().parents[2]
ORBITS = ROOT / "examples" / "plugins" / "orbits"
MOVEMENT = ROOT / "examples" / "plugins" / "movement"
TICKS = 600

# These tests check results, not latency: a loaded machine must not get a healthy child killed.
TIMEOUT = 10.0

pytestmark = [pytest.mark.subprocess]


def run(isolation: str, *, ticks: int = TICKS, parallel: bool = True, wave: int | None = None,
        restore_at: int | None = None) -> tuple[list[int], World]:
    """Per-tick checksums; with ``restore_at``, a second host continues from a snapshot taken there."""
    out: list[int] = []
    world = World(seed=7)
    host = PluginHost(world, isolation=isolation, parallel=parallel, max_wave_size=wave, sandbox=False, timeout=TIMEOUT)
    try:
        host.load(ORBITS, MOVEMENT)
        for t in range(ticks):
            if restore_at is not None and t == restore_at:
                snap = world.snapshot()
                host.close()
                world.close()
                world = World(seed=7)
                host = PluginHost(world, isolation=isolation, parallel=parallel, max_wave_size=wave, sandbox=False, timeout=TIMEOUT)
                host.load(ORBITS, MOVEMENT)
                world.restore(snap)
                host.tick_count = t
            report = host.tick()
            assert not (report.errors or report.rejected or report.skipped), (t, host.faults[:3])
            out.append(world.checksum())
        moves = check_moves(world, ticks)
        assert moves > 0
    finally:
        host.close()
    return out, world


def check_moves(world: World, ticks: int) -> int:
    """A body moves on ticks divisible by its period or its parent's (it is carried along)."""
    period = {}
    for ch in world.query("Period"):
        period.update(zip(ch.entities.tolist(), ch["Period"].tolist()))
    n = 0
    t = np.arange(ticks)
    for ch in world.query("Moves", "Period", "ChildOf"):
        for eid, moves, p, parent in zip(ch.entities.tolist(), ch["Moves"].tolist(), ch["Period"].tolist(),
                                         ch["ChildOf"].tolist()):
            moved = t % p == 0
            if parent in period:
                moved |= t % period[parent] == 0
            assert moves == int(moved.sum()), (eid, moves, p)
            n += 1
    return n


def first_difference(a: list[int], b: list[int]) -> int | None:
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), None)


def test_startup_once_and_changed_counts_exactly() -> None:
    ref, world = run("none", ticks=200)
    world.close()
    assert len(set(ref)) > 150


@pytest.mark.slow
def test_none_process_parallel_serial_and_seek_agree() -> None:
    ref, w = run("none")
    w.close()
    for kw in ({"parallel": True}, {"parallel": False, "wave": 1}):
        got, w = run("process", **kw)  # type: ignore[arg-type]
        w.close()
        assert first_difference(ref, got) is None, kw
    sought, w = run("none", restore_at=TICKS // 2)
    w.close()
    assert first_difference(ref, sought) is None
    sought, w = run("process", restore_at=TICKS // 3)
    w.close()
    assert first_difference(ref, sought) is None


def test_reload_runs_startup_again() -> None:
    with World(seed=7) as world, PluginHost(world, isolation="none", sandbox=False, timeout=TIMEOUT) as host:
        host.load(ORBITS)
        host.run(3)
        assert world.entity_count == 61  # sun, 12 planets, 48 moons
        assert host.reload("orbits")
        host.run(2)
        assert world.entity_count == 61 + 1 + 12 + 24 * 4  # ran again: a sun, 12 more planets of the first sun, moons for its 24
        records: list[dict] = []
        host.on_call_record(records.append)
        host.run(2)
        assert not [r for r in records if r["stage"] == "startup"]


def test_undeclared_filters_fail_clearly() -> None:
    p = Plugin("t")
    p.component("Position", "float32", (2,))

    @p.system(reads=["Position"])
    def sneaky(ctx):
        list(ctx.query("Position", changed=["Position"]))

    @p.system(reads=["Position"], changed=["Position"])
    def fine(ctx):
        ctx.log(sum(len(c) for c in ctx.query("Position", changed=["Position"])))
        ctx.removed("Position")

    with make_world(p, {"Position": np.zeros((4, 2), np.float32)}) as world:
        with pytest.raises(PluginSystemError, match="changed="):
            run_system(p, "sneaky", world)
        with pytest.raises(PluginSystemError, match="removed="):
            run_system(p, "fine", world)


@pytest.mark.slow
def test_recorded_run_verifies_and_seeks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """gpi run --record, then verify (a fresh host re-simulates: startup, changed, relations) and seek."""
    from gpi.replays import Replay, verify
    from gpi.replays.inputs import apply as apply_input
    from gpi.replays.verify import seek
    from gpi.runtime.cli import main
    from gpi.runtime.replay.simulation import HostSimulator

    path = tmp_path / "orbits.gpir"
    code = main(["run", str(ORBITS), "--headless", "--ticks", "400", "--isolation", "none", "--seed", "5",
                 "--quiet", "--record", str(path)])
    assert code == 0, capsys.readouterr()
    with Replay.open(path) as rp:
        assert rp.complete and rp.tick_count == 400
        for iso in ("none", "process"):
            with HostSimulator(rp.header, isolation=iso) as sim:
                assert verify(rp, sim).ok, iso
        assert rp.nearest_keyframe(350)[0] == 300  # a real keyframe, not the initial state
        straight = {}
        with HostSimulator(rp.header, isolation="none") as sim:  # the straight re-simulation
            state = seek(rp, sim, -1)
            for rec in rp.iter_ticks(0, 400):
                state = apply_input(state, rec.input)
                straight[rec.tick] = sim.step(state, rec)
        with HostSimulator(rp.header, isolation="none") as sim:  # seek to a keyframe, then continue
            state = seek(rp, sim, 350)
            for rec in rp.iter_ticks(351, 400):
                state = apply_input(state, rec.input)
                assert sim.step(state, rec) == straight[rec.tick], rec.tick
