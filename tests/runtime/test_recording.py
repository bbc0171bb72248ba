"""HostRecorder's quiet-tick fast path records exactly what the full path does.

Each test records the same deterministic run of a real :class:`PluginHost`
twice: once with :class:`HostRecorder` as it is (most ticks take the fast
path) and once with a subclass whose ``_quiet`` always says no (every tick
builds its fault and swap lists the long way). The replays must hold the same
records and checksum chain, including on the ticks where something happened:
a plugin reloaded between ticks, a child that dies and is restarted.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gpi.ecs import World
from gpi.plugins.host import PluginHost
from gpi.replays import InputState, Replay
from gpi.runtime.replay.recording import HostRecorder

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "plugins"
FIXTURES = ROOT / "tests" / "replays" / "fixtures"
DEMO = [EXAMPLES / n for n in ("spawner", "movement", "boids", "player")]


class FullPathRecorder(HostRecorder):
    """Never takes the fast path: the reference for what must be recorded."""

    def _quiet(self) -> bool:
        return False


def _inputs(t: int) -> InputState:
    keys = (["right"], [], ["up", "left"])[(t // 9) % 3]
    return InputState(keys=keys, mouse=(float(t // 4), -0.0 if t % 10 < 5 else 0.0))


def _run(
    cls: type[HostRecorder],
    path: Path,
    dirs: list[Path],
    ticks: int,
    *,
    isolation: str = "none",
    between: Callable[[int, PluginHost], None] | None = None,
    as_dict: bool = False,
) -> HostRecorder:
    with World(seed=5) as world, PluginHost(world, isolation=isolation, sandbox=False) as host:
        host.load(*dirs)
        world.insert_resource("population", 30)
        with cls(host, path, keyframe_interval=20, block_max_ticks=8) as rec:
            for t in range(ticks):
                if between is not None:
                    between(t, host)
                inp = _inputs(t)
                host.tick(inp.to_dict())
                rec.after_tick(inp.to_dict() if as_dict else inp)
        return rec


def _records(path: Path) -> tuple[list[Any], list[int], bool]:
    with Replay.open(path) as rp:
        recs = [(r.tick, dict(r.input), r.checksum, r.faults, r.swaps, r.keyframe is not None)
                for r in rp.iter_ticks()]
        return recs, [b.chain for b in rp.blocks], rp.complete


def test_fast_path_matches_full_path(tmp_path: Path) -> None:
    fast = _run(HostRecorder, tmp_path / "fast.gpir", DEMO, 60)
    full = _run(FullPathRecorder, tmp_path / "full.gpir", DEMO, 60)
    got, want = _records(tmp_path / "fast.gpir"), _records(tmp_path / "full.gpir")
    assert got == want and got[2]
    assert len(got[0]) == 60 and sum(r[5] for r in got[0]) == 2  # keyframes at ticks 20, 40
    assert fast.faults_recorded == full.faults_recorded == 0


def test_dict_inputs_record_like_input_states(tmp_path: Path) -> None:
    # the dict cache must not hide a change only `is`/sign/type tells (0.0 -> -0.0 here)
    _run(HostRecorder, tmp_path / "dicts.gpir", DEMO, 30, as_dict=True)
    _run(HostRecorder, tmp_path / "states.gpir", DEMO, 30)
    got, want = _records(tmp_path / "dicts.gpir"), _records(tmp_path / "states.gpir")
    assert got == want
    with Replay.open(tmp_path / "dicts.gpir") as rp:
        for t in (3, 4, 5, 12, 29):
            assert rp.input_state_at(t).to_dict() == _inputs(t).to_dict()
            assert str(rp.input_state_at(t).mouse[1]) == str(_inputs(t).mouse[1])  # -0.0 kept


def test_reload_between_quiet_ticks_is_a_swap(tmp_path: Path) -> None:
    plug = tmp_path / "movement"
    shutil.copytree(EXAMPLES / "movement", plug)

    def reload_at_9(t: int, host: PluginHost) -> None:
        if t == 9:
            (plug / "main.py").write_text((plug / "main.py").read_text() + f"\n# v{t}\n")
            assert host.reload("movement")

    main = (plug / "main.py").read_text()
    fast = _run(HostRecorder, tmp_path / "fast.gpir", [plug], 16, between=reload_at_9)
    (plug / "main.py").write_text(main)
    full = _run(FullPathRecorder, tmp_path / "full.gpir", [plug], 16, between=reload_at_9)
    got, want = _records(tmp_path / "fast.gpir"), _records(tmp_path / "full.gpir")
    assert got == want
    assert [r[0] for r in got[0] if r[4]] == [9]
    assert fast.swaps_recorded == full.swaps_recorded == 1


@pytest.mark.subprocess
def test_crash_and_restart_match_full_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GPI_TEST_FLAKY_TICK", "6")
    monkeypatch.setenv("GPI_TEST_FLAKY_MODE", "exit")
    dirs = [EXAMPLES / "movement", FIXTURES / "flaky"]
    fast = _run(HostRecorder, tmp_path / "fast.gpir", dirs, 30, isolation="process")
    full = _run(FullPathRecorder, tmp_path / "full.gpir", dirs, 30, isolation="process")
    got, want = _records(tmp_path / "fast.gpir"), _records(tmp_path / "full.gpir")
    # the run itself is deterministic; compare what was recorded about faults tick by tick
    assert [(r[0], r[3]) for r in got[0]] == [(r[0], r[3]) for r in want[0]]
    kinds = [f["kind"] for r in got[0] for f in r[3]]
    assert "crashed" in kinds and "restarted" in kinds
    assert fast.faults_recorded == full.faults_recorded > 0


def test_call_records_after_close_are_ignored(tmp_path: Path) -> None:
    with World(seed=1) as world, PluginHost(world, isolation="none") as host:
        host.load(*DEMO)
        rec = HostRecorder(host, tmp_path / "c.gpir")
        host.tick({})
        rec.after_tick()
        rec.close()
        rec.close()
        host.tick({})  # the hook is gone (or ignores the call): nothing is kept
        assert rec.closed and rec._recs == []
    with Replay.open(tmp_path / "c.gpir") as rp:
        assert rp.complete and rp.tick_count == 1


def test_unrecorded_ticks_keep_one_call_record_per_system(tmp_path: Path) -> None:
    with World(seed=1) as world, PluginHost(world, isolation="none") as host:
        host.load(*DEMO)
        world.insert_resource("population", 5)
        with HostRecorder(host, tmp_path / "u.gpir") as rec:
            systems = len(host.schedule.order())
            for _ in range(4100 // systems + 2):  # ticks the recorder is never told about
                host.tick({})
            assert len(rec._recs) <= 4096 + systems
            assert rec.tick_faults() == [] and rec._recs == []  # one ok call per system: no fault


def test_bad_input_is_a_record_error(tmp_path: Path) -> None:
    from gpi.replays import RecordError

    with World(seed=1) as world, PluginHost(world, isolation="none") as host:
        host.load(*DEMO)
        with HostRecorder(host, tmp_path / "b.gpir") as rec:
            host.tick({})
            with pytest.raises(RecordError, match="input must be"):
                rec.after_tick(42)  # type: ignore[arg-type]
