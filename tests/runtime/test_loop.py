"""Fixed-step loop arithmetic, driven by a manual clock."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpi.errors import GpiError
from gpi.runtime.clock import ManualClock
from gpi.runtime.loop import FixedStepLoop, LoopConfigError

DT = 1.0 / 60.0


def make(**kwargs):
    clock = ManualClock(100.0)
    ticks: list[tuple[int, float]] = []
    loop = FixedStepLoop(lambda i, dt: ticks.append((i, dt)), clock=clock, **kwargs)
    loop.advance()  # first frame only reads the clock
    return loop, clock, ticks


def test_first_frame_runs_nothing():
    clock = ManualClock()
    loop = FixedStepLoop(clock=clock)
    r = loop.advance()
    assert r.ticks == 0 and r.elapsed == 0.0 and loop.tick == 0
    assert loop.rate == 60.0 and loop.dt == pytest.approx(DT)


def test_exact_ticks_and_indices():
    loop, clock, ticks = make()
    for _ in range(10):
        clock.advance(DT)
        assert loop.advance().ticks == 1
    assert [i for i, _ in ticks] == list(range(10))
    assert all(dt == pytest.approx(DT) for _, dt in ticks)
    assert loop.sim_time == pytest.approx(10 * DT)


def test_accumulator_and_alpha():
    loop, clock, ticks = make()
    clock.advance(DT * 0.5)
    r = loop.advance()
    assert r.ticks == 0 and r.alpha == pytest.approx(0.5)
    clock.advance(DT * 0.75)
    r = loop.advance()
    assert r.ticks == 1 and r.alpha == pytest.approx(0.25)
    assert loop.accumulator == pytest.approx(0.25 * DT)
    clock.advance(DT * 2.0)
    r = loop.advance()
    assert r.ticks == 2 and r.alpha == pytest.approx(0.25)
    assert 0.0 <= r.alpha < 1.0


def test_catch_up_cap_drops_excess():
    loop, clock, ticks = make(max_catch_up=4)
    clock.advance(DT * 10.5)  # a long stall
    r = loop.advance()
    assert r.ticks == 4
    assert r.dropped == pytest.approx(6 * DT)
    assert r.alpha == pytest.approx(0.5)
    assert loop.dropped_seconds == pytest.approx(6 * DT)
    clock.advance(DT)
    assert loop.advance().ticks == 1  # no burst afterwards


def test_pause_ignores_time_and_steps_run_singly():
    loop, clock, ticks = make()
    loop.pause()
    clock.advance(1.0)
    r = loop.advance()
    assert r.ticks == 0 and r.paused
    loop.step()
    loop.step(2)
    assert loop.pending_steps == 3
    clock.advance(0.0)
    assert loop.advance().ticks == 3
    assert loop.advance().ticks == 0
    loop.resume()
    clock.advance(DT)
    r = loop.advance()
    assert r.ticks == 1 and not r.paused  # the paused second did not come back as a burst
    assert loop.toggle_pause() is True and loop.toggle_pause() is False


def test_step_pauses_a_running_loop():
    loop, clock, ticks = make()
    loop.step()
    clock.advance(DT * 3)
    assert loop.advance().ticks == 1
    assert loop.paused


def test_time_scale():
    loop, clock, ticks = make()
    loop.time_scale = 0.5
    for _ in range(4):
        clock.advance(DT)
        loop.advance()
    assert loop.tick == 2
    loop.time_scale = 2.0
    clock.advance(DT)
    assert loop.advance().ticks == 2
    loop.time_scale = 0.0
    clock.advance(1.0)
    assert loop.advance().ticks == 0
    assert loop.time_until_next_tick() == pytest.approx(DT)


def test_time_until_next_tick():
    loop, clock, ticks = make()
    clock.advance(DT * 0.25)
    loop.advance()
    assert loop.time_until_next_tick() == pytest.approx(0.75 * DT)
    loop.time_scale = 0.5
    assert loop.time_until_next_tick() == pytest.approx(1.5 * DT)


def test_headless_run_ticks_ignores_clock():
    clock = ManualClock()
    seen: list[int] = []
    loop = FixedStepLoop(clock=clock, rate=30)
    assert loop.run_ticks(100, lambda i, dt: seen.append(i)) == 100
    assert seen == list(range(100)) and loop.tick == 100
    assert loop.sim_time == pytest.approx(100 / 30)


def test_run_frames_with_on_frame_and_stop():
    clock = ManualClock()
    loop = FixedStepLoop(clock=clock)
    alphas: list[float] = []

    def on_frame(result):
        alphas.append(result.alpha)
        clock.advance(DT / 2)

    assert loop.run(frames=6, on_frame=on_frame) == 6
    assert loop.tick == 2
    n = loop.run(should_stop=lambda: loop.tick >= 5, on_frame=on_frame, sleep=lambda s: None)
    assert loop.tick == 5 and n == 5


@pytest.mark.parametrize(
    "kwargs", [{"rate": 0}, {"rate": -1}, {"max_catch_up": 0}, {"time_scale": -1.0},
               {"time_scale": float("nan")}, {"time_scale": float("inf")}]
)
def test_bad_settings(kwargs):
    with pytest.raises(LoopConfigError) as exc:
        FixedStepLoop(**kwargs)
    assert isinstance(exc.value, ValueError) and isinstance(exc.value, GpiError)


def test_bad_step_and_clock():
    loop = FixedStepLoop(clock=ManualClock())
    with pytest.raises(LoopConfigError):
        loop.step(-1)
    with pytest.raises(LoopConfigError):
        loop.run_ticks(-1)
    with pytest.raises(ValueError):
        ManualClock().advance(-1)
    assert "tick=0" in repr(loop)


@settings(max_examples=60, deadline=None)
@given(
    frames=st.lists(st.floats(min_value=0.0, max_value=0.2), min_size=1, max_size=40),
    cap=st.integers(min_value=1, max_value=8),
)
def test_model_ticks_plus_dropped_plus_accumulator_equals_time(frames, cap):
    """Conservation: simulated + dropped + banked time equals the time that passed."""
    clock = ManualClock()
    loop = FixedStepLoop(clock=clock, max_catch_up=cap)
    loop.advance()
    for dt in frames:
        clock.advance(dt)
        r = loop.advance()
        assert 0 <= r.ticks <= cap
        assert 0.0 <= r.alpha < 1.0
    total = sum(frames)
    accounted = loop.tick * loop.dt + loop.dropped_seconds + loop.accumulator
    assert accounted == pytest.approx(total, abs=1e-6)
