"""verify, seek and diff driven by a small deterministic simulator."""

from __future__ import annotations

from pathlib import Path

import pytest
from replay_testsim import ToySim, record_run, scripted_input

from gpi.replays import InputState, Replay, SeekError, diff, diff_simulated, seek, verify


@pytest.fixture(scope="module")
def exact(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[int]]:
    p = tmp_path_factory.mktemp("v") / "exact.gpir"
    return p, record_run(p, 400, keyframe_interval=50, checksum_interval=1, block_max_ticks=64)


@pytest.fixture(scope="module")
def sparse(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[int]]:
    p = tmp_path_factory.mktemp("v") / "sparse.gpir"
    return p, record_run(p, 400, keyframe_interval=100, checksum_interval=60, block_max_ticks=120)


@pytest.mark.parametrize("which", ["exact", "sparse"])
def test_deterministic_run_verifies(which: str, request: pytest.FixtureRequest) -> None:
    path, _ = request.getfixturevalue(which)
    seen: list[tuple[int, int]] = []
    with Replay.open(path) as rp:
        res = verify(rp, ToySim(), progress=lambda d, t: seen.append((d, t)))
    assert res.ok and res.ticks_checked == 400, res.message
    assert seen[-1] == (400, 400)


def test_faults_are_replayed(tmp_path: Path) -> None:
    p = tmp_path / "faults.gpir"

    def skip(t: int) -> list[dict[str, str]]:
        return [{"kind": "skipped", "plugin": "toy", "system": "move"}] if t in (10, 11) else []

    record_run(p, 60, faults=skip)
    with Replay.open(p) as rp:
        assert verify(rp, ToySim()).ok


@pytest.mark.parametrize("which", ["exact", "sparse"])
def test_nondeterminism_is_caught_at_the_right_tick(
    which: str, request: pytest.FixtureRequest
) -> None:
    path, _ = request.getfixturevalue(which)
    with Replay.open(path) as rp:
        res = verify(rp, ToySim(bad_tick=137))
    assert not res.ok
    assert res.first_divergent_tick == 137 and res.exact
    assert "nondeterministic" in res.message
    comps = {(d.component, d.entity) for d in res.details}
    assert ("Position", 0) in comps
    assert all(d.systems == ("move",) for d in res.details if d.component == "Position")


def test_exact_mode_pins_deterministic_change(exact: tuple[Path, list[int]]) -> None:
    path, sums = exact
    with Replay.open(path) as rp:
        res = verify(rp, ToySim(changed_from=222))
    assert not res.ok and res.exact and res.first_divergent_tick == 222
    assert res.expected == sums[222] and res.actual != sums[222]
    assert "nondeterministic" not in res.message
    # the details compare with the next recorded keyframe (tick 250)
    assert "250" in res.details_source
    assert {d.component for d in res.details} == {"Position"}
    assert {d.entity for d in res.details} == {1}


def test_sparse_mode_reports_the_window_for_a_deterministic_change(
    sparse: tuple[Path, list[int]],
) -> None:
    path, _ = sparse
    with Replay.open(path) as rp:
        res = verify(rp, ToySim(changed_from=222))
    assert not res.ok and not res.exact
    # checkpoints at 179 (every 60) and 200 (keyframe) matched; 239 did not
    assert res.window == (201, 239) and res.first_divergent_tick == 239
    assert "201..239" in res.message


def test_transient_divergence_breaks_the_chain(tmp_path: Path) -> None:
    # a divergence that heals before the next checkpoint is still caught by the chain
    p = tmp_path / "t.gpir"
    record_run(p, 120, keyframe_interval=0, checksum_interval=60, block_max_ticks=120)

    class Healing(ToySim):
        def step(self, input: InputState, record) -> int:  # type: ignore[no-untyped-def]
            c = super().step(input, record)
            return c ^ 1 if record.tick == 30 else c

    with Replay.open(p) as rp:
        res = verify(rp, Healing(), localize=False)
    assert not res.ok and res.kind == "chain" and res.window == (0, 119)


@pytest.mark.parametrize("target", [-1, 0, 49, 50, 173, 399])
def test_seek_equals_running_to_the_tick(target: int, exact: tuple[Path, list[int]]) -> None:
    path, sums = exact
    with Replay.open(path) as rp:
        sim = ToySim()
        state = seek(rp, sim, target)
        if target >= 0:
            assert sim.checksum() == sums[target]
            assert state == scripted_input(target)
            assert sim.steps == target - rp.nearest_keyframe(target)[0]
        else:
            assert sim.snapshot() == rp.header.initial_snapshot
        with pytest.raises(SeekError):
            seek(rp, sim, 400)


def test_diff_two_recordings(tmp_path: Path, exact: tuple[Path, list[int]]) -> None:
    a = exact[0]
    b = tmp_path / "b.gpir"
    record_run(
        b,
        400,
        sim=ToySim(changed_from=300),
        keyframe_interval=50,
        checksum_interval=1,
        block_max_ticks=64,
    )
    c = tmp_path / "c.gpir"
    record_run(c, 400, keyframe_interval=7, checksum_interval=1, block_max_ticks=10)
    d = tmp_path / "d.gpir"
    record_run(d, 350, inputs=lambda t: scripted_input(t) if t != 200 else InputState(keys={"x"}))
    with Replay.open(a) as ra, Replay.open(b) as rb, Replay.open(c) as rc, Replay.open(d) as rd:
        same = diff(ra, rc)
        assert same.same and same.ticks_compared == 400, same.message
        res = diff(ra, rb)
        assert not res.same and res.first_divergent_tick == 300 and res.kind == "checksum"
        res = diff(ra, rd)
        assert res.first_divergent_tick == 200 and res.kind == "input"


@pytest.fixture(scope="module")
def default_mode(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[int]]:
    p = tmp_path_factory.mktemp("v") / "default.gpir"
    return p, record_run(p, 400, keyframe_interval=100, checksum_interval=0, clock=lambda: 0.0)


def test_default_mode_chain_only(default_mode: tuple[Path, list[int]]) -> None:
    path, _ = default_mode
    with Replay.open(path) as rp:
        assert verify(rp, ToySim()).ok
        res = verify(rp, ToySim(bad_tick=137))
        assert res.first_divergent_tick == 137 and res.exact and res.kind == "chain"
        res = verify(rp, ToySim(changed_from=222))
        # blocks of 60 ticks, the keyframe at 200 opens one: the window is 200..239
        assert not res.exact and res.window == (200, 239) and res.kind == "chain"


def test_diff_simulated_is_exact_whatever_the_checkpoints(
    tmp_path: Path, default_mode: tuple[Path, list[int]]
) -> None:
    b = tmp_path / "b.gpir"
    record_run(b, 400, sim=ToySim(changed_from=222), keyframe_interval=100, checksum_interval=0)
    with Replay.open(default_mode[0]) as ra, Replay.open(b) as rb:
        coarse = diff(ra, rb)
        assert (
            not coarse.same
            and coarse.window is not None
            and coarse.window[0] <= 222 <= coarse.window[1]
        )
        res = diff_simulated(ra, ToySim(), rb, ToySim(changed_from=222))
        assert res.first_divergent_tick == 222 and res.kind == "world"
        assert {(d.component, d.entity) for d in res.details} == {("Position", 1)}
        assert diff_simulated(ra, ToySim(), ra, ToySim()).same
