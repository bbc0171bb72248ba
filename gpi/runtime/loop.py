"""The fixed-timestep host loop.

The simulation advances in ticks of exactly ``dt = 1 / rate`` seconds
(default 60 Hz), whatever the frame rate, so a run is reproducible and a
replay re-simulates the same ticks. Each *frame* the loop reads its clock,
adds the elapsed real time (times ``time_scale``) to an *accumulator*, and
runs as many ticks as fit in it::

    accumulator += (now - last) * time_scale
    while accumulator >= dt and ran < max_catch_up:
        tick(); accumulator -= dt
    alpha = accumulator / dt          # 0 <= alpha < 1, for render interpolation

Rendering draws the state ``alpha`` of the way from the previous tick to the
current one, so motion stays smooth when the frame rate and the tick rate
differ: draw lists carry each moving vertex's displacement during the last
tick (``motion``, see :mod:`gpi.draw`) and the renderer draws
``pos - motion * (1 - alpha)`` (``Renderer.render(..., alpha=result.alpha)``).

Catch-up cap: after a long stall (a debugger, a slow frame) the loop would
try to run hundreds of ticks at once and fall further behind (the "spiral of
death"). At most ``max_catch_up`` ticks run per frame; time beyond that is
dropped (counted in :attr:`FixedStepLoop.dropped_seconds`) and the
accumulator keeps only its fractional part.

Controls: :meth:`~FixedStepLoop.pause` stops the accumulator (real time
passing while paused is ignored, so resuming does not burst); while paused
:meth:`~FixedStepLoop.step` queues single ticks that run on the next frame;
``time_scale`` slows down or speeds up simulated time (ticks keep their fixed
``dt``; only how many run per real second changes).

Headless: :meth:`~FixedStepLoop.run_ticks` runs N ticks back to back with no
clock at all, as fast as they go.

The clock is passed in (see :mod:`gpi.runtime.clock`), never read from a
global, so tests drive the loop with :class:`~gpi.runtime.clock.ManualClock`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gpi.errors import GpiError
from gpi.runtime.clock import Clock, monotonic_clock

__all__ = [
    "DEFAULT_MAX_CATCH_UP",
    "DEFAULT_TICK_RATE",
    "FixedStepLoop",
    "FrameResult",
    "LoopConfigError",
    "TickFn",
]

DEFAULT_TICK_RATE = 60.0
# Five ticks per frame lets a 60 Hz simulation keep up with a 12 fps
# renderer before it starts dropping time.
DEFAULT_MAX_CATCH_UP = 5
# Floating-point slack when comparing the accumulator with dt: elapsed times
# summed from a float clock drift by a few ulps, and a tick must not be lost
# because 3 * (1/60) came out as 0.04999999999.
_EPS = 1e-9

TickFn = Callable[[int, float], None]
"""Called once per tick with (tick index, dt seconds)."""


class LoopConfigError(GpiError, ValueError):
    """A loop was given an impossible setting (rate, catch-up cap, time scale)."""


@dataclass(frozen=True, slots=True)
class FrameResult:
    """What one call to :meth:`FixedStepLoop.advance` did."""

    ticks: int
    """Ticks run during this frame (including single steps)."""
    alpha: float
    """Interpolation factor in [0, 1) for rendering between the last two ticks."""
    elapsed: float
    """Real seconds since the previous frame, as read from the clock."""
    dropped: float
    """Simulated seconds thrown away this frame by the catch-up cap."""
    paused: bool
    """Whether the loop was paused during this frame."""


class FixedStepLoop:
    """Fixed-timestep accumulator loop with interpolation, catch-up cap and controls."""

    def __init__(
        self,
        on_tick: TickFn | None = None,
        *,
        rate: float = DEFAULT_TICK_RATE,
        clock: Clock = monotonic_clock,
        max_catch_up: int = DEFAULT_MAX_CATCH_UP,
        time_scale: float = 1.0,
    ) -> None:
        if not rate > 0:
            raise LoopConfigError(
                f"FixedStepLoop(rate={rate!r}): the tick rate must be a positive number of Hz"
            )
        if int(max_catch_up) < 1:
            raise LoopConfigError(
                f"FixedStepLoop(max_catch_up={max_catch_up!r}): at least one tick per frame "
                "must be allowed"
            )
        self._on_tick = on_tick
        self._rate = float(rate)
        self._dt = 1.0 / self._rate
        self._clock = clock
        self._max_catch_up = int(max_catch_up)
        self._time_scale = 1.0
        self.time_scale = time_scale
        self._accumulator = 0.0
        self._last: float | None = None
        self._tick = 0
        self._paused = False
        self._pending_steps = 0
        self.dropped_seconds = 0.0
        """Total simulated time thrown away by the catch-up cap."""
        self.frames = 0
        """Frames advanced so far."""

    # -- configuration -------------------------------------------------
    @property
    def rate(self) -> float:
        """Ticks per simulated second."""
        return self._rate

    @property
    def dt(self) -> float:
        """Seconds of simulated time per tick (``1 / rate``)."""
        return self._dt

    @property
    def max_catch_up(self) -> int:
        """Most ticks one frame may run."""
        return self._max_catch_up

    @property
    def time_scale(self) -> float:
        """Simulated seconds per real second (1.0 = real time)."""
        return self._time_scale

    @time_scale.setter
    def time_scale(self, value: float) -> None:
        value = float(value)
        if not (value >= 0.0) or value == float("inf"):
            raise LoopConfigError(
                f"time_scale={value!r}: use a finite number >= 0 (0 freezes time, 1 is real time)"
            )
        self._time_scale = value

    # -- state -----------------------------------------------------------
    @property
    def tick(self) -> int:
        """Number of ticks run so far (the index the next tick gets)."""
        return self._tick

    @property
    def sim_time(self) -> float:
        """Simulated seconds so far (``tick * dt``)."""
        return self._tick * self._dt

    @property
    def accumulator(self) -> float:
        """Real time (scaled) banked but not yet simulated, in seconds."""
        return self._accumulator

    @property
    def alpha(self) -> float:
        """Interpolation factor in [0, 1): how far between the last two ticks we are."""
        return min(max(self._accumulator / self._dt, 0.0), 1.0 - 1e-12)

    @property
    def paused(self) -> bool:
        """Whether the accumulator is stopped."""
        return self._paused

    @property
    def pending_steps(self) -> int:
        """Single steps queued while paused, run on the next frame."""
        return self._pending_steps

    # -- controls --------------------------------------------------------
    def pause(self) -> None:
        """Stop simulated time; real time passing while paused is ignored."""
        self._paused = True

    def resume(self) -> None:
        """Start simulated time again, from now (no burst of missed ticks)."""
        self._paused = False
        self._pending_steps = 0

    def toggle_pause(self) -> bool:
        """Pause if running, resume if paused; return the new paused state."""
        if self._paused:
            self.resume()
        else:
            self.pause()
        return self._paused

    def step(self, count: int = 1) -> None:
        """Queue ``count`` single ticks to run on the next frame (pauses the loop)."""
        if count < 0:
            raise LoopConfigError(f"step({count!r}): the number of ticks must be >= 0")
        self._paused = True
        self._pending_steps += int(count)

    def reset_clock(self) -> None:
        """Forget the last clock reading, so the next frame measures no elapsed time."""
        self._last = None

    # -- running -----------------------------------------------------------
    def _run_tick(self) -> None:
        if self._on_tick is not None:
            self._on_tick(self._tick, self._dt)
        self._tick += 1

    def advance(self) -> FrameResult:
        """Read the clock once and run the ticks that are due; call once per frame."""
        now = self._clock()
        elapsed = 0.0 if self._last is None else max(now - self._last, 0.0)
        self._last = now
        self.frames += 1
        ran = 0
        dropped = 0.0
        if self._paused:
            # Single steps ignore the cap: the user asked for exactly these.
            while self._pending_steps > 0:
                self._pending_steps -= 1
                self._run_tick()
                ran += 1
            return FrameResult(ran, self.alpha, elapsed, 0.0, True)

        self._accumulator += elapsed * self._time_scale
        while self._accumulator + _EPS >= self._dt and ran < self._max_catch_up:
            self._run_tick()
            self._accumulator -= self._dt
            ran += 1
        if self._accumulator < 0.0:
            self._accumulator = 0.0
        if self._accumulator + _EPS >= self._dt:
            whole = int((self._accumulator + _EPS) // self._dt)
            dropped = whole * self._dt
            self._accumulator = max(self._accumulator - dropped, 0.0)
            self.dropped_seconds += dropped
        return FrameResult(ran, self.alpha, elapsed, dropped, False)

    def run_ticks(self, count: int, on_tick: TickFn | None = None) -> int:
        """Headless: run ``count`` ticks back to back, ignoring clock, pause and scale."""
        if count < 0:
            raise LoopConfigError(f"run_ticks({count!r}): the number of ticks must be >= 0")
        fn = on_tick if on_tick is not None else self._on_tick
        for _ in range(int(count)):
            if fn is not None:
                fn(self._tick, self._dt)
            self._tick += 1
        return int(count)

    def run(
        self,
        *,
        frames: int | None = None,
        should_stop: Callable[[], bool] | None = None,
        on_frame: Callable[[FrameResult], None] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> int:
        """Run frames until ``should_stop()`` or ``frames`` is reached; return frames run.

        ``on_frame`` is called after each frame's ticks with the
        :class:`FrameResult` (render there, using ``result.alpha``). ``sleep``,
        when given, is called with the time left until the next tick is due,
        so a windowed run does not spin a core.
        """
        done = 0
        while frames is None or done < frames:
            if should_stop is not None and should_stop():
                break
            result = self.advance()
            if on_frame is not None:
                on_frame(result)
            done += 1
            if sleep is not None:
                sleep(self.time_until_next_tick())
        return done

    def time_until_next_tick(self) -> float:
        """Real seconds until the next tick is due (one dt when paused or frozen, to poll)."""
        if self._paused:
            return 0.0 if self._pending_steps else self._dt
        if self._time_scale == 0.0:
            return self._dt
        return max(self._dt - self._accumulator, 0.0) / self._time_scale

    def __repr__(self) -> str:
        state = "paused" if self._paused else "running"
        return (
            f"FixedStepLoop(rate={self._rate:g} Hz, tick={self._tick}, {state}, "
            f"time_scale={self._time_scale:g})"
        )
