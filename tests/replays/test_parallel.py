"""Parallel verify: keyframe segments re-simulated in worker processes give serial verify's answer."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from replay_testsim import ToySim, make_dying, make_failing, make_hanging, make_toy, record_run

from gpi.replays import (
    Replay,
    SimulatorUnavailableError,
    VerifyPool,
    VerifyWorkerError,
    verify,
    verify_parallel,
)
from gpi.replays.parallel import segments

pytestmark = pytest.mark.subprocess


@pytest.fixture(scope="module")
def exact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("pv") / "exact.gpir"
    record_run(p, 400, keyframe_interval=50, checksum_interval=1, block_max_ticks=64)
    return p


@pytest.fixture(scope="module")
def sparse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("pv") / "sparse.gpir"
    record_run(p, 400, keyframe_interval=100, checksum_interval=60, block_max_ticks=120)
    return p


def _same(a, b) -> None:  # type: ignore[no-untyped-def]
    assert (a.ok, a.ticks_checked, a.first_divergent_tick, a.exact, a.window, a.kind) == (
        b.ok, b.ticks_checked, b.first_divergent_tick, b.exact, b.window, b.kind)
    assert (a.expected, a.actual, a.details, a.details_source) == (
        b.expected, b.actual, b.details, b.details_source)


def test_segments_run_from_keyframe_to_keyframe(exact: Path) -> None:
    with Replay.open(exact) as rp:
        segs = segments(rp)
        keyframes = set(rp.keyframe_ticks)
        assert segs[0][0] == rp.start_tick and segs[-1][1] == rp.end_tick - 1
        for (_, last), (first, _) in zip(segs, segs[1:]):
            assert first == last + 1 and last in keyframes
        assert len(segs) == len([k for k in keyframes if k < rp.end_tick - 1]) + 1


@settings(max_examples=40, deadline=None)
@given(ticks=st.integers(1, 90), interval=st.integers(0, 40))
def test_segments_partition_every_readable_tick(tmp_path_factory: pytest.TempPathFactory,
                                                ticks: int, interval: int) -> None:
    p = tmp_path_factory.mktemp("seg") / "r.gpir"
    record_run(p, ticks, keyframe_interval=interval, block_max_ticks=16)
    with Replay.open(p) as rp:
        covered = [t for first, last in segments(rp) for t in range(first, last + 1)]
        assert covered == list(range(rp.start_tick, rp.end_tick))


@pytest.mark.parametrize("which", ["exact", "sparse"])
def test_parallel_verify_passes_a_deterministic_run(which: str, request: pytest.FixtureRequest) -> None:
    path = request.getfixturevalue(which)
    seen: list[tuple[int, int]] = []
    with Replay.open(path) as rp, VerifyPool(path, make_toy, 2) as pool:
        res = verify_parallel(rp, pool, ToySim, progress=lambda d, t: seen.append((d, t)))
        assert res.ok and res.ticks_checked == 400, res.message
        assert seen[-1] == (400, 400)
        again = verify_parallel(rp, pool, ToySim)  # the workers are reusable
        _same(again, verify(rp, ToySim()))


@pytest.mark.parametrize("which", ["exact", "sparse"])
@pytest.mark.parametrize("kwargs", [{"changed_from": 222}, {"bad_tick": 137}])
def test_parallel_verify_finds_what_serial_verify_finds(
    which: str, kwargs: dict[str, int], request: pytest.FixtureRequest
) -> None:
    path = request.getfixturevalue(which)
    with Replay.open(path) as rp, VerifyPool(path, functools.partial(make_toy, **kwargs), 2) as pool:
        par = verify_parallel(rp, pool, lambda: ToySim(**kwargs))
        ser = verify(rp, ToySim(**kwargs))
    assert not par.ok
    if "changed_from" in kwargs:
        _same(par, ser)
    else:  # nondeterminism: both name the tick; the drawn noise values differ per run
        assert par.first_divergent_tick == ser.first_divergent_tick == 137 and par.exact
        assert {d.component for d in par.details} == {d.component for d in ser.details}


def test_a_worker_that_cannot_build_its_simulator_is_a_clear_error(exact: Path) -> None:
    with pytest.raises(VerifyWorkerError, match="no toy world on this machine"):
        VerifyPool(exact, make_failing, 2)


def test_an_unavailable_simulator_keeps_its_error_type(exact: Path) -> None:
    with pytest.raises(SimulatorUnavailableError, match="has no function 'no_such_function'"):
        VerifyPool(exact, _unavailable_factory(), 1)


def _unavailable_factory():  # type: ignore[no-untyped-def]
    from gpi.runtime.cli.cmd_replay import load_simulator

    return functools.partial(load_simulator, "json:no_such_function")


def test_a_worker_dying_mid_run_is_reported_not_hung(exact: Path) -> None:
    with Replay.open(exact) as rp, VerifyPool(exact, functools.partial(make_dying, die_at=260), 2) as pool:
        with pytest.raises(VerifyWorkerError, match="died with exit code 3"):
            verify_parallel(rp, pool, ToySim)


def test_jobs_must_be_positive(exact: Path) -> None:
    with pytest.raises(ValueError, match="at least one worker"):
        VerifyPool(exact, make_toy, 0)


def test_a_stalled_worker_is_killed_and_named(exact: Path) -> None:
    factory = functools.partial(make_hanging, hang_at=120)
    with Replay.open(exact) as rp, VerifyPool(exact, factory, 2, tick_timeout=0.001, grace=2.0) as pool:
        with pytest.raises(VerifyWorkerError, match=r"no answer for ticks 101\.\.150 .* killed"):
            verify_parallel(rp, pool, ToySim)
        alive = []
        for pid in pool.pids:
            try:
                os.kill(pid, 0)
                alive.append(pid)
            except ProcessLookupError:
                pass
        assert len(alive) == 1  # the stalled one was killed and reaped, the other one lives
