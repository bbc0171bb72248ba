"""Synthetic but consistent telemetry for the runtime tests.

Frames contain waves, waves contain calls that run in parallel, every
number derived from a seeded generator, so the tests can check that
telemetry adds up.
"""

from __future__ import annotations

import random

from gpi.runtime.telemetry import CallRecord, Telemetry

SYSTEMS = [
    ("boids", "steer", 0),
    ("boids", "integrate", 1),
    ("physics", "collide", 0),
    ("render", "sprites", 2),
]


def fill(telemetry: Telemetry, frames: int = 120, seed: int = 7) -> Telemetry:
    """Record ``frames`` frames of three waves each, with nested calls."""
    rng = random.Random(seed)
    t = 1_000_000_000
    tick = 0
    for _ in range(frames):
        frame_start = t
        t += rng.randrange(50_000, 200_000)  # input handling
        for wave in range(3):
            wave_start = t
            longest = 0
            for plugin, system, w in SYSTEMS:
                if w != wave:
                    continue
                offset = rng.randrange(5_000, 30_000)
                wall = rng.randrange(200_000, 3_000_000)
                telemetry.record_call(
                    CallRecord(
                        system=system,
                        plugin=plugin,
                        tick=tick,
                        wave=wave,
                        host_wall_ns=wall,
                        child_cpu_ns=int(wall * rng.uniform(0.5, 0.9)),
                        ipc_ns=int(wall * rng.uniform(0.05, 0.3)),
                        cmd_bytes=rng.randrange(0, 40_000),
                        start_ns=wave_start + offset,
                    )
                )
                longest = max(longest, offset + wall)
            dur = longest + rng.randrange(10_000, 100_000)  # apply commands
            telemetry.record_wave(tick, wave, wave_start, dur, stage="update")
            t = wave_start + dur
        t += rng.randrange(1_000_000, 6_000_000)  # render
        telemetry.record_frame(tick, frame_start, t - frame_start, ticks=1)
        tick += 1
        t += rng.randrange(0, 500_000)  # sleep between frames
    return telemetry
