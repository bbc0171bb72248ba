"""Frame pacing for real-time runs: when to tick, when to draw, how long to sleep.

A :class:`FramePacer` drives one :class:`~gpi.runtime.loop.FixedStepLoop`
frame by frame. Ticks come first: frames are drawn at most ``max_fps`` times
a second and less often (down to ``min_fps``) while ticks fall behind, so a
slow renderer (llvmpipe) costs frame rate, not tick rate. The draw interval
widens by a quarter whenever a frame had to run more than one tick (or
dropped time) and narrows by 3 % after each frame that ran exactly one.

Stops: the app names the ticks it must stop *exactly* at (the end of the run,
screenshot ticks). When the next stop is within one frame's catch-up
(``max_catch_up`` ticks) the pacer pauses the loop and single-steps it at
the tick rate, never past the stop, so the run ends (and the screenshot is
taken) exactly there; past the stop it resumes the loop.

The clock and the sleep are passed in: a test drives the pacer with
:class:`~gpi.runtime.clock.ManualClock` and ``sleep=clock.advance``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from gpi.runtime.clock import Clock
from gpi.runtime.loop import FixedStepLoop, FrameResult

__all__ = ["FramePacer", "PacedFrame"]

_MIN_SLEEP = 0.0005  # below this a sleep costs more than it waits
_MAX_SLEEP = 0.01  # wake at least this often to poll the window


@dataclass(frozen=True, slots=True)
class PacedFrame:
    """What one :meth:`FramePacer.advance` did and whether to draw."""

    result: FrameResult
    """The loop's own report (ticks run, alpha, dropped time)."""
    render: bool
    """Draw this frame."""
    alpha: float
    """Interpolation factor to draw at (1: the exact tick)."""


class FramePacer:
    """Paces a fixed-step loop in real time (see the module docstring)."""

    def __init__(self, loop: FixedStepLoop, clock: Clock, *, max_fps: float = 60.0, min_fps: float = 6.0,
                 sleep: Callable[[float], object] = time.sleep) -> None:
        self.loop = loop
        self.clock = clock
        self._sleep = sleep
        self.fastest = 1.0 / max(max_fps, 1.0)
        """Shortest interval between two drawn frames (seconds)."""
        self.slowest = 1.0 / max(min(min_fps, max_fps), 0.1)
        """Longest interval between two drawn frames while ticks fall behind (seconds)."""
        self.interval = min(2 * self.fastest, self.slowest)
        """The current interval between drawn frames."""
        self.auto_paused = False
        """True while the pacer single-steps the loop to a stop."""
        self._last_render = -1e30
        self._last_step = clock()
        self._bank = 0.0  # real time owed to single steps while auto-paused (scaled seconds)
        loop.reset_clock()

    def advance(self, stops: Iterable[int] = (), *, exact_at: Iterable[int] = ()) -> PacedFrame:
        """Run the ticks that are due, never past the nearest of ``stops``; say whether to draw.

        When a tick of ``exact_at`` (screenshot ticks) has been reached the
        frame is drawn whatever the interval, at ``alpha`` 1.
        """
        loop = self.loop
        stops = list(stops)
        ahead = [t for t in stops if t > loop.tick]
        precise = bool(ahead) and min(ahead) - loop.tick <= loop.max_catch_up
        if precise and not loop.paused:
            loop.pause()
            self.auto_paused = True
        elif not precise and self.auto_paused:
            self.auto_paused = False
            loop.resume()
        now = self.clock()
        if self.auto_paused:  # step at the tick rate, never past the stop
            self._bank += max(now - self._last_step, 0.0) * loop.time_scale
            steps = min(int((self._bank + 1e-9) / loop.dt), min(ahead) - loop.tick, loop.max_catch_up)
            if steps > 0 and loop.pending_steps == 0:
                loop.step(steps)
                self._bank -= steps * loop.dt
            self._bank = min(self._bank, loop.dt * loop.max_catch_up)
        self._last_step = now
        result = loop.advance()
        if not self.auto_paused:
            self._bank = loop.accumulator
        if result.ticks > 1 or result.dropped > 0:
            self.interval = min(self.interval * 1.25, self.slowest)
        elif result.ticks == 1:
            self.interval = max(self.interval * 0.97, self.fastest)
        exact = any(t <= loop.tick for t in exact_at)
        since = now - self._last_render
        render = exact or since >= self.interval or (loop.paused and not self.auto_paused
                                                      and since >= self.fastest)
        alpha = 1.0 if exact or loop.paused else result.alpha
        if render:
            self._last_render = now
        return PacedFrame(result, render, alpha)

    def wait(self) -> float:
        """Sleep until the next tick or frame is due (at most 10 ms); returns the time slept."""
        loop = self.loop
        if self.auto_paused:
            wait = max(loop.dt - self._bank, 0.0) / max(loop.time_scale, 1e-3)
        else:
            wait = loop.time_until_next_tick()
        wait = min(wait, self._last_render + self.interval - self.clock(), _MAX_SLEEP)
        if wait > _MIN_SLEEP:
            self._sleep(wait)
            return wait
        return 0.0

    def finish(self) -> None:
        """Hand the loop back as it was (resumed if the pacer paused it)."""
        if self.auto_paused:
            self.auto_paused = False
            self.loop.resume()
