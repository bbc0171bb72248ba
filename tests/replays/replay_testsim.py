"""A tiny deterministic pure-Python simulator for testing the replay machinery.

It is not the ECS world: it exercises record/verify/seek/diff through the
``Simulator`` protocol with a state small enough to reason about. Variants:
``bad_tick`` adds a value from a process-wide counter at one tick, so every
run of that tick differs (nondeterminism); ``changed_from`` changes the rules
from a tick on, the same way in every run (edited plugin code).
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack
import xxhash

from gpi.replays import InputState, Recorder, ReplayHeader, TickRecord

_NOISE = itertools.count(1)


class ToySim:
    """Particles on a ring; arrow keys push them, the mouse x shifts them."""

    def __init__(self, n: int = 6, bad_tick: int | None = None, changed_from: int | None = None):
        self.n = n
        self.bad_tick = bad_tick
        self.changed_from = changed_from
        self.pos = [i * 3 for i in range(n)]
        self.vel = [1] * n
        self.steps = 0

    @classmethod
    def initial_snapshot(cls, n: int = 6) -> bytes:
        return cls(n).snapshot()

    def reset_to(self, snapshot: bytes) -> None:
        d = msgpack.unpackb(snapshot)
        self.pos, self.vel = list(d["pos"]), list(d["vel"])

    def step(self, input: InputState, record: TickRecord) -> int:
        self.steps += 1
        dv = (1 if input.held("right") else 0) - (1 if input.held("left") else 0)
        skipped = any(f.get("system") == "move" and f["kind"] == "skipped" for f in record.faults)
        for i in range(self.n):
            self.vel[i] += dv * (i + 1)
            if not skipped:
                self.pos[i] = (self.pos[i] + self.vel[i] + int(input.mouse[0])) % 10007
        if self.bad_tick is not None and record.tick == self.bad_tick:
            self.pos[0] += next(_NOISE)
        if self.changed_from is not None and record.tick >= self.changed_from:
            self.pos[1] += 1
        return self.checksum()

    def checksum(self) -> int:
        return xxhash.xxh64_intdigest(msgpack.packb([self.pos, self.vel]))

    def snapshot(self) -> bytes:
        return msgpack.packb({"pos": self.pos, "vel": self.vel})

    def world_diff(self, other: bytes) -> list[tuple[str, int, Any, Any, tuple[str, ...]]]:
        d = msgpack.unpackb(other)
        out = []
        for i in range(self.n):
            if self.pos[i] != d["pos"][i]:
                out.append(("Position", i, self.pos[i], d["pos"][i], ("move",)))
            if self.vel[i] != d["vel"][i]:
                out.append(("Velocity", i, self.vel[i], d["vel"][i], ("push",)))
        return out


def scripted_input(t: int) -> InputState:
    """A busy-ish input script: keys every few ticks, mouse moving now and then."""
    keys = set()
    if t % 17 < 4:
        keys.add("right")
    if t % 29 < 2:
        keys.add("left")
    return InputState(keys=keys, mouse=(t // 25 % 3, 0))


def make_simulator(header: ReplayHeader) -> ToySim:
    """The factory the CLI's --simulator option points at."""
    return ToySim(int(header.meta.get("n", 6)))


def make_bad_simulator(header: ReplayHeader) -> ToySim:
    return ToySim(int(header.meta.get("n", 6)), bad_tick=int(header.meta["bad_tick"]))


def record_run(
    path: Path,
    ticks: int,
    *,
    sim: ToySim | None = None,
    keyframe_interval: int = 50,
    checksum_interval: int = 1,
    inputs: Callable[[int], InputState] = scripted_input,
    faults: Callable[[int], list[dict[str, Any]]] = lambda t: [],
    meta: dict[str, Any] | None = None,
    **recorder_kw: Any,
) -> list[int]:
    """Record ``ticks`` ticks of ``sim`` into ``path``; returns every tick's checksum."""
    sim = sim or ToySim()
    header = ReplayHeader(seed=7, initial_snapshot=sim.snapshot(), meta=meta or {"n": sim.n})
    sums = []
    with Recorder(
        path,
        header,
        keyframe_interval=keyframe_interval,
        checksum_interval=checksum_interval,
        **recorder_kw,
    ) as rec:
        for t in range(ticks):
            state = inputs(t)
            fl = faults(t)
            c = sim.step(state, TickRecord(t, faults=tuple(fl)))
            sums.append(c)
            rec.record_tick(
                t, state, c, faults=fl, keyframe=sim.snapshot() if rec.keyframe_due(t) else None
            )
    return sums


def make_toy(header: ReplayHeader, **kwargs: Any) -> ToySim:
    """A picklable factory for parallel verify: ``functools.partial(make_toy, changed_from=...)``."""
    return ToySim(int(header.meta.get("n", 6)), **kwargs)


def make_failing(header: ReplayHeader) -> ToySim:
    """A factory whose simulator cannot be built."""
    raise RuntimeError("no toy world on this machine")


class FaultySim(ToySim):
    """A simulator that exits its process hard (``"die"``) or never finishes (``"hang"``) at tick ``at``."""

    def __init__(self, n: int, at: int, how: str) -> None:
        super().__init__(n)
        self.at, self.how = at, how

    def step(self, input: InputState, record: TickRecord) -> int:
        while record.tick == self.at:
            if self.how == "die":
                os._exit(3)
            time.sleep(0.05)
        return super().step(input, record)


def make_dying(header: ReplayHeader, die_at: int) -> ToySim:
    """A factory whose simulator kills its process at tick ``die_at``."""
    return FaultySim(int(header.meta.get("n", 6)), die_at, "die")


def make_hanging(header: ReplayHeader, hang_at: int) -> ToySim:
    """A factory whose simulator hangs at tick ``hang_at`` (a plugin stuck in a loop)."""
    return FaultySim(int(header.meta.get("n", 6)), hang_at, "hang")
