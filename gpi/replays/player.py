"""Interactive playback: :class:`Player` steps a simulator through a replay.

The window's replay mode and the timeline scrubber drive a ``Player``: it
holds the current tick (``start_tick - 1`` is the state before the first
tick), steps forward one record at a time, steps back by re-simulating from
the nearest keyframe, and seeks anywhere. Seeking forward within reach of the
current state (no keyframe between) just steps on instead of reloading.

Every step compares the simulator's checksum with the one the record stores,
when it stores one; the first mismatch is kept in :attr:`Player.divergence`
(playback goes on: the overlay shows it and ``gpi replay verify`` explains it).
"""

from __future__ import annotations

from gpi.replays.errors import SeekError
from gpi.replays.inputs import EMPTY_INPUT, InputState
from gpi.replays.inputs import apply as apply_input
from gpi.replays.reader import Replay
from gpi.replays.records import TickRecord
from gpi.replays.verify import Simulator

__all__ = ["Player"]


class Player:
    """Steps ``simulator`` through ``replay``: step, step back, seek."""

    def __init__(self, replay: Replay, simulator: Simulator) -> None:
        self.replay = replay
        self.simulator = simulator
        self.input: InputState = EMPTY_INPUT
        self.record: TickRecord | None = None
        self.checksum: int | None = None
        self.divergence: tuple[int, int, int] | None = None  # (tick, recorded, simulated)
        self.tick = replay.start_tick - 1
        simulator.reset_to(replay.header.initial_snapshot)

    @property
    def first_tick(self) -> int:
        """The first tick of the replay."""
        return self.replay.start_tick

    @property
    def last_tick(self) -> int:
        """The last readable tick (``first_tick - 1`` for an empty replay)."""
        return self.replay.end_tick - 1

    @property
    def at_end(self) -> bool:
        """True when there is no next tick."""
        return self.tick >= self.last_tick

    def step(self) -> int | None:
        """Run the next tick; returns its checksum, or None at the end."""
        if self.at_end:
            return None
        rec = self.replay.record(self.tick + 1)
        self._run(rec)
        return self.checksum

    def step_back(self) -> None:
        """Go back one tick (re-simulates from the nearest keyframe)."""
        if self.tick >= self.first_tick:
            self.seek(self.tick - 1)

    def seek(self, tick: int) -> None:
        """Put the world in the state after ``tick`` (``first_tick - 1``: initial)."""
        if not self.first_tick - 1 <= tick <= self.last_tick:
            raise SeekError(
                f"{self.replay.path}: cannot seek to tick {tick}; readable ticks are "
                f"{self.first_tick}..{self.last_tick}"
            )
        kt, snap = self.replay.nearest_keyframe(tick)
        if not (kt <= self.tick <= tick):
            self.simulator.reset_to(snap)
            self.tick = kt
            self.input = self.replay.input_state_at(kt)
            self.record = self.replay.record(kt) if kt >= self.first_tick else None
            self.checksum = self.record.checksum if self.record is not None else None
        for rec in self.replay.iter_ticks(self.tick + 1, tick + 1):
            self._run(rec)

    def _run(self, rec: TickRecord) -> None:
        self.input = apply_input(self.input, rec.input)
        c = self.simulator.step(self.input, rec)
        if rec.checksum is not None and rec.checksum != c and self.divergence is None:
            self.divergence = (rec.tick, rec.checksum, c)
        self.tick = rec.tick
        self.record = rec
        self.checksum = c

    def __repr__(self) -> str:
        return f"<Player tick {self.tick} of {self.first_tick}..{self.last_tick}>"
