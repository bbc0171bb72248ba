"""Frame pacing on the manual clock: ticks at the tick rate, frames as often as they keep up, exact stops."""

from __future__ import annotations

import pytest

from gpi.runtime.clock import ManualClock
from gpi.runtime.loop import FixedStepLoop
from gpi.runtime.pacing import FramePacer


def make(max_fps: float = 60.0, min_fps: float = 6.0) -> tuple[ManualClock, FixedStepLoop, FramePacer, list[int]]:
    clock = ManualClock()
    ran: list[int] = []
    loop = FixedStepLoop(lambda t, dt: ran.append(t), rate=60.0, clock=clock, max_catch_up=12)
    return clock, loop, FramePacer(loop, clock, max_fps=max_fps, min_fps=min_fps, sleep=clock.advance), ran


def test_real_time_ticks_at_the_tick_rate_and_sleeps_between() -> None:
    clock, loop, pacer, ran = make()
    drawn = 0
    for _ in range(600):
        frame = pacer.advance()
        drawn += frame.render
        assert 0.0 <= frame.alpha <= 1.0
        pacer.wait()
    # one simulated second of sleeps and ticks: 60 ticks, about as many frames, never more than max_fps
    assert clock.now == pytest.approx(len(ran) / 60.0, abs=2 / 60)
    assert drawn <= clock.now * 60 + 2
    assert drawn >= clock.now * 30 - 2  # an idle machine draws at least every other tick


def test_slow_frames_widen_the_interval_and_fast_frames_narrow_it() -> None:
    clock, loop, pacer, _ = make()
    start = pacer.interval
    for _ in range(20):
        clock.advance(0.1)  # a renderer that takes 100 ms: six ticks per frame
        pacer.advance()
    assert pacer.interval == pytest.approx(pacer.slowest)  # 1 / min_fps
    for _ in range(400):
        clock.advance(1 / 60)  # one tick per frame again
        pacer.advance()
    assert pacer.interval == pytest.approx(pacer.fastest)
    assert pacer.fastest < start < pacer.slowest


def test_stops_exactly_at_a_stop_tick_even_after_a_stall() -> None:
    clock, loop, pacer, ran = make()
    stop = 30
    while loop.tick < stop:
        clock.advance(0.07)  # coarse frames: four ticks' worth of time each
        pacer.advance([stop])
        assert loop.tick <= stop
    assert loop.tick == stop and ran == list(range(stop))
    assert pacer.auto_paused and loop.paused
    pacer.finish()
    assert not loop.paused and not pacer.auto_paused


def test_screenshot_tick_forces_an_exact_frame() -> None:
    clock, loop, pacer, _ = make(max_fps=10.0)
    frames = []
    while loop.tick < 10:
        clock.advance(1 / 60)
        frames.append(pacer.advance([10], exact_at=[10]))
    last = frames[-1]
    assert loop.tick == 10 and last.render and last.alpha == 1.0
    assert not all(f.render for f in frames)  # at 10 fps most of those frames were not drawn


def test_a_user_pause_still_draws_at_max_fps() -> None:
    clock, loop, pacer, ran = make(max_fps=30.0)
    loop.pause()
    drawn = 0
    for _ in range(60):
        clock.advance(1 / 60)
        frame = pacer.advance()
        drawn += frame.render
        assert frame.alpha == 1.0
    assert ran == [] and 25 <= drawn <= 31
    loop.step(2)
    pacer.advance()
    assert ran == [0, 1]
